// "Compare methods" on the page: LoRA r, LoRA 2r, DoRA r and D2-LoRA r (and, as an option,
// D2-LoRA's ablations) on the form's spec over a few seeds, each method at the learning rate a dev
// split chose for it from a grid, run one after another by the engine worker's comparison
// (src/run/compare.ts, what `d2lora compare` runs). The store holds the comparison's settings as
// the user types them, what they add up to (the seeds, the grid, the queue) or why they cannot
// run, the queue as the worker reports it (the run under way with its own progress, the runs
// done with their accuracies), and the table with its CSV and Markdown as `d2lora compare` writes
// them.

import { create } from 'zustand';
import { comparisonMethods, comparisonRunCount, defaultLrGrid, DEFAULT_DEV_ITEMS, formatRate } from '../run/compare-plan';
import type { RunMetrics } from '../run/run';
import type { EvalPhase, RunStage } from '../run/stages';
import type { RunSpec } from '../run/spec';
import { EngineCancelledError } from '../worker/client';
import type { WireCompareResult, WireCompareRun, WireFile, WireRunEvent } from '../worker/protocol';
import { offerDownload } from './download';
import { useForm } from './form';
import { engine, forgetIfBroken } from './worker';

export type CompareStatus = 'idle' | 'starting' | 'running' | 'done' | 'failed' | 'cancelled';

/** The comparison's settings as the form holds them (text, as typed). */
export interface CompareSettings {
  /** How many seeds, counted up from the setup's seed. */
  seedCount: string;
  /** 'grid': each method chooses its rate on a dev split; 'fixed': every method at the setup's lr. */
  lrMode: 'grid' | 'fixed';
  /** The grid's rates, separated by commas or spaces; empty: the default grid around the setup's lr. */
  rates: string;
  /** Training items held out to choose the rate on. */
  devItems: string;
  /** D2-LoRA's ablation rows too. */
  ablations: boolean;
}

export const DEFAULT_COMPARE_SETTINGS: CompareSettings = { seedCount: '3', lrMode: 'grid', rates: '', devItems: String(DEFAULT_DEV_ITEMS), ablations: false };

/** The most seeds a comparison takes from the page (each one is a run of every method). */
export const MAX_SEEDS = 10;

/** What the settings add up to for a spec: the worker's request and the queue it makes. */
export interface ComparePlan {
  seeds: number[];
  /** Empty: every method at the spec's lr. */
  lrGrid: number[];
  devItems: number;
  ablations: boolean;
  /** The rows, in the table's order. */
  methods: string[];
  /** The runs, selection runs included. */
  runs: number;
}

/** A run of the queue, as the worker names it. */
export type QueueRun = WireCompareRun;

/** The run under way: which it is, and how far it has got. */
export interface CurrentRun extends QueueRun {
  stage: RunStage | null;
  progress: { step: number; totalSteps: number; etaMs: number } | null;
  evalProgress: { phase: EvalPhase; done: number; total: number } | null;
  startedAt: number;
}

/** A run of the queue that finished, with its accuracies and how long it took. */
export interface FinishedRun extends QueueRun {
  before: number;
  after: number;
  ms: number;
}

export interface CompareState {
  settings: CompareSettings;
  status: CompareStatus;
  /** The spec compared and the plan it ran (null before the first comparison). */
  spec: RunSpec | null;
  plan: ComparePlan | null;
  /** The engine's id of the comparison (what Cancel stops). */
  callId: number | null;
  startedAt: number | null;
  current: CurrentRun | null;
  finished: FinishedRun[];
  result: WireCompareResult | null;
  error: string | null;
  set(settings: Partial<CompareSettings>): void;
  /** Compares the methods on `spec` with these settings (the picked files it needs). */
  start(spec: RunSpec, plan: ComparePlan, files: WireFile[]): Promise<void>;
  cancel(): Promise<void>;
  /** The table as `d2lora compare` writes it: compare.csv or compare.md. */
  download(format: 'csv' | 'markdown'): void;
}

const fresh = { callId: null, current: null, finished: [], result: null, error: null } satisfies Partial<CompareState>;

export const useCompare = create<CompareState>()((set, get) => ({
  settings: DEFAULT_COMPARE_SETTINGS,
  status: 'idle',
  spec: null,
  plan: null,
  startedAt: null,
  ...fresh,

  set(settings) {
    set((s) => ({ settings: { ...s.settings, ...settings } }));
  },

  async start(spec, plan, files) {
    if (comparing(get().status)) return;
    set({ status: 'starting', spec, plan, startedAt: Date.now(), ...fresh });
    try {
      const { client } = await engine();
      const call = client.compare(
        { spec, seeds: plan.seeds, lrGrid: plan.lrGrid, devItems: plan.devItems, ablations: plan.ablations, files },
        {
          onCompareEvent: (run, e) => set((s) => ({ current: currentAfter(s.current, run, e, Date.now()) })),
          onCompareRun: (run, metrics) => set((s) => ({ finished: [...s.finished, finishedRun(run, metrics, s.current)] })),
        },
      );
      set({ callId: call.id, status: 'running' });
      const result = await call;
      set({ status: 'done', result, current: null });
    } catch (e) {
      if (e instanceof EngineCancelledError) {
        set({ status: 'cancelled', current: null });
        return;
      }
      forgetIfBroken(e);
      set({ status: 'failed', error: e instanceof Error ? e.message : String(e) });
    }
  },

  async cancel() {
    const { callId, status } = get();
    if (callId === null || status !== 'running') return;
    await (await engine()).client.cancel(callId);
  },

  download(format) {
    const { result } = get();
    if (result === null) return;
    if (format === 'csv') offerDownload(new Blob([result.csv], { type: 'text/csv' }), COMPARE_FILES.csv);
    else offerDownload(new Blob([result.markdown], { type: 'text/markdown' }), COMPARE_FILES.markdown);
  },
}));

/** The names `d2lora compare` gives the table's files. */
export const COMPARE_FILES = { csv: 'compare.csv', markdown: 'compare.md' } as const;

export function comparing(status: CompareStatus): boolean {
  return status === 'starting' || status === 'running';
}

/** Compares the methods on the form's spec with the store's settings: what "Compare methods" does. Nothing happens while the form or the settings have a problem. */
export async function compareFromForm(trainItems: number | null): Promise<void> {
  const form = useForm.getState();
  if (form.spec === null) return;
  const planned = comparePlanOf(form.spec, useCompare.getState().settings, trainItems);
  if ('problem' in planned) return;
  const spec = form.spec;
  const files = await form.wireFiles();
  await useCompare.getState().start(spec, planned, files);
}

// ---------------------------------------------------------------------------------------------
// The plan

/** A setting that cannot run: which, and why (the sentence names it by its label). */
export interface SettingProblem {
  field: 'seedCount' | 'rates' | 'devItems';
  problem: string;
}

/** The settings read for `spec` (whose protocol draws `trainItems` training items, when known): the plan, or the first problem. */
export function comparePlanOf(spec: RunSpec, settings: CompareSettings, trainItems: number | null): ComparePlan | SettingProblem {
  const n = Number(settings.seedCount.trim());
  if (settings.seedCount.trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_SEEDS) {
    return { field: 'seedCount', problem: `Seeds: found "${settings.seedCount}"; expected a whole number from 1 to ${MAX_SEEDS}.` };
  }
  const seeds = Array.from({ length: n }, (_, i) => spec.seed + i);
  let lrGrid: number[] = [];
  let devItems = DEFAULT_DEV_ITEMS;
  if (settings.lrMode === 'grid') {
    const grid = settings.rates.trim() === '' ? defaultLrGrid(spec) : parseRates(settings.rates);
    if (typeof grid === 'string') return { field: 'rates', problem: grid };
    lrGrid = grid;
    const d = Number(settings.devItems.trim());
    if (settings.devItems.trim() === '' || !Number.isInteger(d) || d < 1) return { field: 'devItems', problem: `Dev items: found "${settings.devItems}"; expected a whole number ≥ 1.` };
    if (trainItems !== null && 2 * d > trainItems) {
      return { field: 'devItems', problem: `Dev items: ${d} of the ${trainItems} training items would be held out to choose the rate; give at most ${Math.floor(trainItems / 2)}, or choose "The setup's lr for all".` };
    }
    devItems = d;
  }
  const methods = comparisonMethods(spec, settings.ablations).map((m) => m.label);
  return { seeds, lrGrid, devItems, ablations: settings.ablations, methods, runs: comparisonRunCount(methods.length, lrGrid.length, seeds.length) };
}

/** "2e-3, 5e-3 1.25e-2" → the rates; a problem in words when they are not two or more distinct rates in (0, 1]. */
export function parseRates(text: string): number[] | string {
  const parts = text.split(/[\s,]+/).filter((p) => p !== '');
  const rates = parts.map(Number);
  const bad = parts.find((_, i) => !(rates[i]! > 0 && rates[i]! <= 1));
  if (bad !== undefined) return `Rates: found "${bad}"; expected learning rates in (0, 1], such as 2e-3.`;
  if (new Set(rates).size < 2) return `Rates: found ${parts.length === 0 ? 'none' : `only ${formatRate(rates[0]!)}`}; a grid needs two or more different rates (or choose "The setup's lr for all").`;
  return rates;
}

/**
 * Why "Compare methods" must wait (null: it can start): Start's own reason (the GPU, the setup,
 * the model or task not ready, a run this GPU cannot fit), worded for this button; a run under way
 * in Train (the worker runs one thing at a time); a problem in the settings.
 */
export function compareBlockOf(startBlock: string | null, trainStatus: string, status: CompareStatus, planned: ComparePlan | SettingProblem | null): string | null {
  if (comparing(status)) return 'A comparison is under way: cancel it or let it finish.';
  if (startBlock !== null) return startBlock.replace(/^Start\b/, 'Compare methods');
  if (trainStatus === 'starting' || trainStatus === 'running' || trainStatus === 'paused') return 'A run is under way in Train: let it finish, or cancel it, before comparing methods.';
  if (planned !== null && 'problem' in planned) return planned.problem;
  return null;
}

// ---------------------------------------------------------------------------------------------
// The queue

/** The run under way after one of its events (a new run when the event is of another run). */
export function currentAfter(current: CurrentRun | null, run: QueueRun, e: WireRunEvent, now: number): CurrentRun {
  const same = current !== null && current.index === run.index;
  const c: CurrentRun = same ? current : { ...run, stage: null, progress: null, evalProgress: null, startedAt: now };
  switch (e.type) {
    case 'stage':
      return { ...c, stage: e.stage, evalProgress: null };
    case 'progress':
      return { ...c, progress: { step: e.step, totalSteps: e.totalSteps, etaMs: e.etaMs } };
    case 'eval-progress':
      return { ...c, evalProgress: { phase: e.phase, done: e.done, total: e.total } };
    default:
      return c;
  }
}

function finishedRun(run: QueueRun, metrics: RunMetrics, current: CurrentRun | null): FinishedRun {
  const ms = current !== null && current.index === run.index ? Date.now() - current.startedAt : metrics.timings.totalMs;
  return { ...run, before: metrics.before.accuracy, after: metrics.after.accuracy, ms };
}

/** How far the run under way is, 0–1 (its training steps, or the items an evaluation has scored); null when its stage cannot say. */
export function runFraction(c: CurrentRun): number | null {
  if (c.stage === 'train' && c.progress !== null) return c.progress.step / c.progress.totalSteps;
  if (c.evalProgress !== null && c.evalProgress.total > 0) return c.evalProgress.done / c.evalProgress.total;
  return null;
}

/** The queue's time left, roughly: every run not yet done at the mean time of those done so far (selection runs and final runs alike). */
export function queueEtaMs(finished: readonly FinishedRun[], current: CurrentRun | null, total: number, now: number): number | null {
  if (finished.length === 0) return null;
  const mean = finished.reduce((a, r) => a + r.ms, 0) / finished.length;
  const notStarted = Math.max(0, total - finished.length - (current !== null ? 1 : 0));
  return notStarted * mean + (current === null ? 0 : Math.max(0, mean - (now - current.startedAt)));
}
