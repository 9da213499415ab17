// "Try the engine": the training worker started on demand, the stories260K preset loaded
// through the mirror, and greedy text generated from BOS, streamed into the page token by
// token. The EngineClient lives in this module, outside the reactive state; all GPU work
// happens in the worker, so the page never blocks.

import { create } from 'zustand';
import type { AdapterSummary } from '../gpu/context';
import { createEngineWorker, EngineClient } from '../worker/client';

export type EngineStatus = 'idle' | 'loading' | 'generating' | 'done' | 'error';

/** The model the panel tries: the smallest preset (1 MB), llama2.c's TinyStories 260K. */
export const ENGINE_DEMO_MODEL = 'stories260K';
export const DEFAULT_ENGINE_STEPS = 48;
/** stories260K's context length. */
export const MAX_ENGINE_STEPS = 512;

export interface EngineTimings {
  /** Worker start and GPU device acquisition. */
  gpuMs: number | null;
  /** Download (or mirror read), parsing and validation of the model. */
  loadMs: number | null;
  /** From the generate request to the first token (includes compiling the kernels). */
  firstTokenMs: number | null;
  generateMs: number | null;
  /** Tokens produced (BOS and prompt excluded). */
  tokens: number;
}

export interface EngineState {
  status: EngineStatus;
  /** Tokens to generate (run.c's -n). */
  steps: number;
  /** The generated text so far. */
  output: string;
  /** Generated token ids so far (BOS and prompt excluded). */
  tokens: number[];
  error: string | null;
  adapter: AdapterSummary | null;
  model: { name: string; vocabSize: number; layers: number; width: number } | null;
  /** The file being read while loading. */
  download: { file: string; loaded: number; total: number | null } | null;
  timings: EngineTimings;
  setSteps(steps: number): void;
  /** Starts the worker and loads the model (first time), then generates `steps` tokens greedily from BOS. */
  tryEngine(): Promise<void>;
}

let client: EngineClient | null = null;
let ready = false;
let loaded = false;

const noTimings: EngineTimings = { gpuMs: null, loadMs: null, firstTokenMs: null, generateMs: null, tokens: 0 };

export const useEngine = create<EngineState>()((set, get) => ({
  status: 'idle',
  steps: DEFAULT_ENGINE_STEPS,
  output: '',
  tokens: [],
  error: null,
  adapter: null,
  model: null,
  download: null,
  timings: noTimings,

  setSteps(steps) {
    if (Number.isInteger(steps) && steps >= 1 && steps <= MAX_ENGINE_STEPS) set({ steps });
  },

  async tryEngine() {
    const { status, steps } = get();
    if (status === 'loading' || status === 'generating') return;
    set({ status: 'loading', output: '', tokens: [], error: null, download: null, timings: { ...get().timings, firstTokenMs: null, generateMs: null, tokens: 0 } });
    try {
      if (client === null) {
        client = new EngineClient(createEngineWorker());
        client.onError = (e) => set({ status: 'error', error: e.message });
      }
      const engine = client;
      if (!ready) {
        const t0 = performance.now();
        const r = await engine.init();
        ready = true;
        set((s) => ({ adapter: r.adapter, timings: { ...s.timings, gpuMs: performance.now() - t0 } }));
      }
      if (!loaded) {
        const t0 = performance.now();
        const m = await engine.load({ kind: 'preset', name: ENGINE_DEMO_MODEL }, (download) => set({ download }));
        loaded = true;
        set((s) => ({
          model: { name: m.name, vocabSize: m.vocabSize, layers: m.config.numLayers, width: m.config.hiddenSize },
          timings: { ...s.timings, loadMs: performance.now() - t0 },
        }));
      }
      set({ status: 'generating' });
      const t0 = performance.now();
      const g = await engine.generate({ prompt: '', steps, temperature: 0, seed: 0 }, (token, text) =>
        set((s) => ({
          output: s.output + text,
          tokens: [...s.tokens, token],
          timings: { ...s.timings, firstTokenMs: s.timings.firstTokenMs ?? performance.now() - t0 },
        })),
      );
      set((s) => ({
        status: 'done',
        // The streamed pieces add up to the decoded text; the final text settles any held-back bytes.
        output: g.text,
        tokens: g.tokens.slice(g.promptTokens.length),
        timings: { ...s.timings, generateMs: performance.now() - t0, tokens: g.tokens.length - g.promptTokens.length },
      }));
    } catch (e) {
      // A worker that cannot start or a lost device leaves nothing to reuse: start afresh next time.
      if (e instanceof Error && (e.name === 'WorkerError' || e.name === 'DeviceLostError')) {
        client?.terminate();
        client = null;
        ready = false;
        loaded = false;
      }
      set({ status: 'error', error: e instanceof Error ? e.message : String(e) });
    }
  },
}));
