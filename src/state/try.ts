// "Try it": what the model does before and after fine-tuning. An evaluation item of the run
// (paused or finished) is scored by the worker under the base weights and with the adapters live,
// each choice's log-likelihood turned into a probability; a prompt is continued by the base model
// and by the fine-tuned one (the adapters live, or the merged weights of a finished run), one
// after the other so that each one's tokens/s is its own, streamed token by token from the worker's
// KV-cached generation. Before any run the base model of the form's spec writes alone.
// A finished run's merged model also writes on onnxruntime-web (its ONNX export, in the worker):
// the last continuation of each runtime on the same prompt and settings is kept side by side.

import { create } from 'zustand';
import type { ScoredItem } from '../run/inspect';
import type { ModelSpec } from '../run/spec';
import type { EngineCall } from '../worker/client';
import type { GenerationRuntime, GenerationSource, RuntimeUsed } from '../worker/protocol';
import { useForm } from './form';
import { useRun } from './run';
import { engine, forgetIfBroken } from './worker';

/**
 * Each choice's probability among the item's choices: a softmax over their log-likelihoods,
 * computed from the largest so that no exponential overflows. A choice at −∞ gets 0; if every
 * one is −∞ or any is NaN there is no distribution and every entry is NaN.
 */
export function choiceProbabilities(logLikelihoods: readonly number[]): number[] {
  const top = Math.max(...logLikelihoods);
  if (!Number.isFinite(top) || logLikelihoods.some(Number.isNaN)) return logLikelihoods.map(() => NaN);
  const weights = logLikelihoods.map((ll) => Math.exp(ll - top));
  const total = weights.reduce((a, w) => a + w, 0);
  return weights.map((w) => w / total);
}

export type ScoreStatus = 'idle' | 'scoring' | 'done' | 'error';

/** A scored item with each choice's probability before and after fine-tuning. */
export interface ItemOdds extends ScoredItem {
  before: number[];
  after: number[];
}

export type GenerationStatus = 'idle' | 'loading' | 'generating' | 'done' | 'error' | 'cancelled';
export type FineTunedWeights = 'adapters' | 'merged';

/** One model's continuation of the prompt. */
export interface Continuation {
  status: GenerationStatus;
  /** The prompt it continues, as typed. */
  prompt: string;
  /** The text so far (the prompt's included, as the worker decodes it). */
  text: string;
  /** Token ids so far; once done, the generated ones only (BOS and the prompt excluded). */
  tokens: number[];
  /** Generated tokens per second in the worker (prefill included), once done. */
  tokensPerSecond: number | null;
  /** Tokens generated, once done. */
  generated: number;
  /** From the request to the first token (loading the model and compiling the kernels included). */
  firstTokenMs: number | null;
  /** What ran it, once done. */
  runtime: RuntimeUsed | null;
  error: string | null;
}

export interface GenerationSettings {
  prompt: string;
  /** Positions to run, the prompt's included (run.c's -n). */
  steps: number;
  /** 0 = greedy. */
  temperature: number;
  /** Nucleus cut-off in (0, 1]. */
  topP: number;
  seed: number;
  /** Which fine-tuned model writes: the adapters live (paused or finished), or the merged weights (finished). */
  weights: FineTunedWeights;
  /** What runs the merged weights: our engine, or onnxruntime-web on the run's ONNX export. */
  runtime: GenerationRuntime;
}

export const DEFAULT_GENERATION: GenerationSettings = { prompt: '', steps: 256, temperature: 0, topP: 0.9, seed: 0, weights: 'merged', runtime: 'engine' };

/** A runtime's last finished continuation of the merged model. */
export interface RuntimeResult {
  runtime: RuntimeUsed;
  /** The prompt and settings it continued (results of other settings are dropped). */
  key: string;
  text: string;
  tokens: number[];
  tokensPerSecond: number | null;
  firstTokenMs: number | null;
}
/** Positions offered before a model says its context (the worker caps a request at the model's context anyway). */
export const MAX_STEPS_UNKNOWN_CONTEXT = 4096;

export interface TryState {
  /** The evaluation item scored (0-based). */
  index: number;
  score: { status: ScoreStatus; odds: ItemOdds | null; error: string | null };
  settings: GenerationSettings;
  base: Continuation;
  /** The fine-tuned model's continuation; null when the last generation had no run to write with. */
  tuned: Continuation | null;
  /** The merged model's last continuation on each runtime, all of the same prompt and settings. */
  runtimes: Partial<Record<GenerationRuntime, RuntimeResult>>;
  /** Whether a generation is under way (either model). */
  generating: boolean;
  /** Scores evaluation item `index` of the run (paused or finished). */
  scoreItem(index: number): Promise<void>;
  setSettings(change: Partial<GenerationSettings>): void;
  /** Continues the prompt with the base model, then the fine-tuned one when a run can write. */
  generate(): Promise<void>;
  /** Stops the generation under way between two tokens. */
  stop(): Promise<void>;
}

const idleContinuation: Continuation = { status: 'idle', prompt: '', text: '', tokens: [], tokensPerSecond: null, generated: 0, firstTokenMs: null, runtime: null, error: null };
const idleScore: TryState['score'] = { status: 'idle', odds: null, error: null };

/** The generation request under way, for stop(). */
let inFlight: EngineCall<unknown> | null = null;
/** Bumped by each scoreItem: an answer for an earlier item is dropped. */
let scoreTicket = 0;

/** The run that can write or score now: paused or finished; null otherwise. */
export function tryableRun(): { runId: number; finished: boolean } | null {
  const { runId, status } = useRun.getState();
  if (runId === null || (status !== 'paused' && status !== 'done')) return null;
  return { runId, finished: status === 'done' };
}

/** The base model that writes: the run's (its model is loaded in the worker already), else the form's. */
export function baseModelSpec(): ModelSpec | null {
  const run = useRun.getState();
  if (run.runId !== null) return run.spec.model;
  return useForm.getState().spec?.model ?? null;
}

export const useTry = create<TryState>()((set, get) => ({
  index: 0,
  score: idleScore,
  settings: DEFAULT_GENERATION,
  base: idleContinuation,
  tuned: null,
  runtimes: {},
  generating: false,

  async scoreItem(index) {
    const run = tryableRun();
    const ticket = ++scoreTicket;
    set({ index });
    if (run === null) return;
    set({ score: { status: 'scoring', odds: get().score.odds, error: null } });
    try {
      const { client } = await engine();
      const { type: _, id: __, ...scored } = await client.score(run.runId, index);
      if (ticket !== scoreTicket) return;
      const odds: ItemOdds = {
        ...scored,
        before: choiceProbabilities(scored.choices.map((c) => c.before)),
        after: choiceProbabilities(scored.choices.map((c) => c.after)),
      };
      set({ score: { status: 'done', odds, error: null } });
    } catch (e) {
      forgetIfBroken(e);
      if (ticket === scoreTicket) set({ score: { status: 'error', odds: null, error: messageOf(e) } });
    }
  },

  setSettings(change) {
    set((s) => ({ settings: { ...s.settings, ...change } }));
  },

  async generate() {
    if (get().generating) return;
    const model = baseModelSpec();
    if (model === null) return;
    const run = tryableRun();
    const { settings } = get();
    // A paused run has no merged weights yet: its adapters write, on our engine.
    const weights: FineTunedWeights = run?.finished ? settings.weights : 'adapters';
    const runtime = tunedRuntime(settings, run?.finished ?? false);
    set({ generating: true, base: { ...idleContinuation, status: 'loading' }, tuned: run === null ? null : { ...idleContinuation } });
    try {
      const baseDone = await continueWith({ kind: 'base', model }, settings, 'engine', (c) => set({ base: c }));
      if (run === null || !baseDone) return;
      let tuned = idleContinuation;
      const tunedDone = await continueWith({ kind: 'run', run: run.runId, weights }, settings, runtime, (c) => set({ tuned: (tuned = c) }));
      if (tunedDone && weights === 'merged' && tuned.runtime !== null) {
        const key = settingsKey(settings);
        const result: RuntimeResult = { runtime: tuned.runtime, key, text: tuned.text, tokens: tuned.tokens, tokensPerSecond: tuned.tokensPerSecond, firstTokenMs: tuned.firstTokenMs };
        set((s) => ({ runtimes: { ...Object.fromEntries(Object.entries(s.runtimes).filter(([, r]) => r.key === key)), [runtime]: result } }));
      }
    } finally {
      set({ generating: false });
    }
  },

  async stop() {
    const call = inFlight;
    if (call === null) return;
    await (await engine()).client.cancel(call.id);
  },
}));

/** What writes the fine-tuned continuation: the setting, for a finished run's merged weights; our engine otherwise. */
export function tunedRuntime(settings: GenerationSettings, finished: boolean): GenerationRuntime {
  return finished && settings.weights === 'merged' ? settings.runtime : 'engine';
}

/** The prompt and settings a continuation depends on. */
function settingsKey(s: GenerationSettings): string {
  return JSON.stringify([s.prompt, s.steps, s.temperature, s.topP, s.seed]);
}

/** Streams one model's continuation into `show`; resolves whether it finished (not stopped or failed). */
async function continueWith(from: GenerationSource, s: GenerationSettings, runtime: GenerationRuntime, show: (c: Continuation) => void): Promise<boolean> {
  let c: Continuation = { ...idleContinuation, status: 'loading', prompt: s.prompt };
  show(c);
  const t0 = performance.now();
  try {
    const { client } = await engine();
    const call = client.generate({ from, prompt: s.prompt, steps: s.steps, temperature: s.temperature, topP: s.topP, seed: s.seed, runtime }, (token, text) => {
      c = { ...c, status: 'generating', text: c.text + text, tokens: [...c.tokens, token], firstTokenMs: c.firstTokenMs ?? performance.now() - t0 };
      show(c);
    });
    inFlight = call;
    const g = await call;
    // The streamed pieces add up to the decoded text; the final text settles any held-back bytes.
    show({
      ...c,
      status: 'done',
      text: g.text,
      tokens: g.tokens.slice(g.promptTokens),
      generated: g.generatedTokens,
      tokensPerSecond: g.ms > 0 ? g.generatedTokens / (g.ms / 1000) : null,
      runtime: g.runtime,
    });
    return true;
  } catch (e) {
    forgetIfBroken(e);
    const cancelled = e instanceof Error && e.name === 'CancelledError';
    show({ ...c, status: cancelled ? 'cancelled' : 'error', error: cancelled ? null : messageOf(e) });
    return false;
  } finally {
    inFlight = null;
  }
}

// A new run (or none) makes the last one's scores and continuations stale.
useRun.subscribe((s, prev) => {
  if (s.runId === prev.runId) return;
  scoreTicket++;
  useTry.setState({ score: idleScore, tuned: null, runtimes: {} });
});

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
