// "Try the engine": greedy text from the embedded stories260K, generated in the engine worker
// and streamed into the page token by token. All GPU work happens in the worker, so the page
// never blocks.

import { create } from 'zustand';
import { DEFAULT_RUN_SPEC } from '../run/spec';
import { engine, forgetIfBroken } from './worker';

export type EngineStatus = 'idle' | 'loading' | 'generating' | 'done' | 'error';

/** The model the panel tries: the run's default model, the embedded stories260K. */
export const ENGINE_DEMO_MODEL = DEFAULT_RUN_SPEC.model;
export const DEFAULT_ENGINE_STEPS = 256;
/** stories260K's context length. */
export const MAX_ENGINE_STEPS = 512;

export interface EngineTimings {
  /** From the request to the first token (loading the model and compiling the kernels included). */
  firstTokenMs: number | null;
  generateMs: number | null;
  /** Tokens produced (BOS and prompt excluded). */
  tokens: number;
}

export interface EngineState {
  status: EngineStatus;
  /** Positions to run (run.c's -n). */
  steps: number;
  /** The generated text so far. */
  output: string;
  /** Generated token ids so far (BOS and prompt excluded). */
  tokens: number[];
  error: string | null;
  timings: EngineTimings;
  setSteps(steps: number): void;
  /** Generates `steps` positions greedily from BOS. */
  tryEngine(): Promise<void>;
}

const noTimings: EngineTimings = { firstTokenMs: null, generateMs: null, tokens: 0 };

export const useEngine = create<EngineState>()((set, get) => ({
  status: 'idle',
  steps: DEFAULT_ENGINE_STEPS,
  output: '',
  tokens: [],
  error: null,
  timings: noTimings,

  setSteps(steps) {
    if (Number.isInteger(steps) && steps >= 1 && steps <= MAX_ENGINE_STEPS) set({ steps });
  },

  async tryEngine() {
    const { status, steps } = get();
    if (status === 'loading' || status === 'generating') return;
    set({ status: 'loading', output: '', tokens: [], error: null, timings: noTimings });
    try {
      const { client } = await engine();
      const t0 = performance.now();
      const g = await client.generate({ from: { kind: 'base', model: ENGINE_DEMO_MODEL }, prompt: '', steps, temperature: 0, seed: 0 }, (token, text) =>
        set((s) => ({
          status: 'generating',
          output: s.output + text,
          tokens: [...s.tokens, token],
          timings: { ...s.timings, firstTokenMs: s.timings.firstTokenMs ?? performance.now() - t0 },
        })),
      );
      set((s) => ({
        status: 'done',
        // The streamed pieces add up to the decoded text; the final text settles any held-back bytes.
        output: g.text,
        tokens: g.tokens.slice(g.promptTokens),
        timings: { ...s.timings, generateMs: g.ms, tokens: g.generatedTokens },
      }));
    } catch (e) {
      forgetIfBroken(e);
      set({ status: 'error', error: e instanceof Error ? e.message : String(e) });
    }
  },
}));
