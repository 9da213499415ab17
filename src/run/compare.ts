// The method comparison: LoRA r, LoRA 2r (α doubled, so s = α/r stays: the parameter-matched
// baseline), DoRA r and D2-LoRA r on one spec's model, task and settings, each over several
// seeds, with the statistics the paper reports. The model and the task are loaded once.
//
// Training-loss volatility: the standard deviation of the step-to-step changes of the training
// loss over the second half of training.

import type { TaskData } from '../tasks/types';
import { Run, type RunEnvironment, type RunEvent, type RunMetrics } from './run';
import { runSpecWith, type RunSpec } from './spec';

export const VOLATILITY_DEFINITION = 'standard deviation of the step-to-step changes of the training loss over the second half of training';

export interface CompareMethod {
  /** "LoRA r=8" … */
  label: string;
  spec: RunSpec;
}

export interface MeanStd {
  mean: number;
  std: number;
}

export interface CompareRow {
  method: string;
  runs: number;
  accuracy: MeanStd;
  volatility: MeanStd;
  msPerStep: number;
  /** ms/step ÷ LoRA r's − 1. */
  overheadVsLora: number;
  mergeGapPoints: number;
  mergedThroughputRatio: number;
}

export interface CompareResult {
  heading: string;
  rows: CompareRow[];
  /** Every run's metrics, by method label, in seed order. */
  runs: Map<string, RunMetrics[]>;
  seeds: number[];
}

/** The methods compared: "lora2r" is LoRA with r and α doubled (s = α/r unchanged), D2-LoRA's parameter count. */
export const COMPARED_METHODS = ['lora', 'lora2r', 'dora', 'd2lora'] as const;
export type ComparedMethod = (typeof COMPARED_METHODS)[number];

/** The adapter settings of a compared method at rank r and α (every other setting as given). */
export function comparedAdapter<A extends { method: string; r: number; alpha: number }>(adapter: A, method: ComparedMethod): A & { method: RunSpec['adapter']['method'] } {
  if (method === 'lora2r') return { ...adapter, method: 'lora', r: 2 * adapter.r, alpha: 2 * adapter.alpha };
  return { ...adapter, method };
}

/** The four methods at the spec's rank, α and τ, every other setting as the spec has it. */
export function comparisonMethods(spec: RunSpec): CompareMethod[] {
  const { r } = spec.adapter;
  const label: Record<ComparedMethod, string> = { lora: `LoRA r=${r}`, lora2r: `LoRA r=${2 * r}`, dora: `DoRA r=${r}`, d2lora: `D2-LoRA r=${r}` };
  return COMPARED_METHODS.map((m) => ({ label: label[m], spec: runSpecWith({ ...spec, adapter: comparedAdapter(spec.adapter, m) }) }));
}

/** Std of the step-to-step loss changes over the second half of the steps. */
export function lossVolatility(losses: readonly number[]): number {
  const tail = losses.slice(Math.floor(losses.length / 2));
  const diffs = tail.slice(1).map((v, i) => v - tail[i]!);
  if (diffs.length < 2) return NaN;
  return meanStd(diffs).std;
}

/** Mean and sample standard deviation (0 for one value). */
export function meanStd(xs: readonly number[]): MeanStd {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

export interface CompareOptions {
  seeds: readonly number[];
  /** Every event of every run, with its method and seed. */
  onEvent?: (method: string, seed: number, event: RunEvent) => void;
  /** Called with each finished run's metrics. */
  onRun?: (method: CompareMethod, seed: number, metrics: RunMetrics) => void;
}

/** Runs every method over every seed, one after another, and tabulates them. */
export async function compareMethods(env: RunEnvironment, spec: RunSpec, opts: CompareOptions): Promise<CompareResult> {
  if (opts.seeds.length === 0) throw new Error('compare: no seeds to run');
  const loaded = onceLoaded(env);
  const methods = comparisonMethods(spec);
  const runs = new Map<string, RunMetrics[]>();
  for (const method of methods) {
    for (const seed of opts.seeds) {
      const run = new Run(loaded, { ...method.spec, seed }, { exportArtifacts: false });
      const off = opts.onEvent ? run.events.on((e) => opts.onEvent!(method.label, seed, e)) : null;
      try {
        const { metrics } = await run.start();
        runs.set(method.label, [...(runs.get(method.label) ?? []), metrics]);
        opts.onRun?.(method, seed, metrics);
      } finally {
        off?.();
      }
    }
  }
  const loraMs = meanStd(runs.get(methods[0]!.label)!.map((m) => m.timings.msPerStep)).mean;
  const rows: CompareRow[] = methods.map(({ label }) => {
    const ms = runs.get(label)!;
    const msPerStep = meanStd(ms.map((m) => m.timings.msPerStep)).mean;
    return {
      method: label,
      runs: ms.length,
      accuracy: meanStd(ms.map((m) => m.after.accuracy)),
      volatility: meanStd(ms.map((m) => lossVolatility(m.steps.map((s) => s.loss)))),
      msPerStep,
      overheadVsLora: msPerStep / loraMs - 1,
      mergeGapPoints: meanStd(ms.map((m) => m.mergeGapPoints)).mean,
      mergedThroughputRatio: meanStd(ms.map((m) => m.mergedThroughputRatio)).mean,
    };
  });
  const first = runs.get(methods[0]!.label)![0]!;
  const heading =
    `${first.model.name} on ${first.task.name}: ${first.train.steps} steps per run, seeds ${opts.seeds.join(', ')}, ` +
    `chance ${(100 * first.chance).toFixed(1)}%, untrained ${(100 * first.before.accuracy).toFixed(1)}%`;
  return { heading, rows, runs, seeds: [...opts.seeds] };
}

/** The environment with the model and the task loaded once for all runs. */
function onceLoaded(env: RunEnvironment): RunEnvironment {
  let model: ReturnType<RunEnvironment['loadModel']> | null = null;
  let task: Promise<TaskData> | null = null;
  return {
    ctx: env.ctx,
    loadModel: (spec, hooks) => (model ??= env.loadModel(spec, hooks)),
    loadTask: (spec, hooks) => (task ??= env.loadTask(spec, hooks)),
  };
}

