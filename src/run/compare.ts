// The method comparison, as the paper's table: LoRA r, LoRA 2r (α doubled, so s = α/r stays: the
// parameter-matched baseline), DoRA r and D2-LoRA r, and D2-LoRA's ablations (projection off,
// ρ = 0, τ = 0, τ = 1, detached norm), on one spec's model, task and settings. Which methods, the
// default grid and the notes beside the table are in compare-plan.ts (the page reads them there).
//
// A fair race: one shared learning rate favours whichever method it happens to suit, so each
// method first picks its own from a small grid, on a dev split held out from the spec's training
// items (never the test split): a selection run per rate trains on the rest of those items and is
// scored on the dev items. Then each method runs every seed at its chosen rate, on the spec's task
// as it is, and the table gives the per-seed accuracies, their mean ± std, the chosen rate, the
// training-loss volatility, time per step and the overhead against LoRA r, the merge gap, the
// merged/unmerged throughput and the trainable parameters. The model and task load once.
//
// Training-loss volatility: the standard deviation of the step-to-step changes of the training
// loss over the second half of training.

import { permutation } from '../util/sample';
import { Rng } from '../util/rng';
import { prepareTask } from '../tasks/protocol';
import type { MultipleChoiceTask, TaskData } from '../tasks/types';
import { Run, RunCancelledError, type RunEnvironment, type RunEvent, type RunMetrics } from './run';
import { comparisonMethods, comparisonRunCount, DEFAULT_DEV_ITEMS, formatRate, PAPER_FIGURES, VOLATILITY_DEFINITION, type CompareMethod } from './compare-plan';
import { runSpecWith, type RunSpec } from './spec';

export interface MeanStd {
  mean: number;
  std: number;
}

export interface CompareRow {
  method: string;
  ablation: boolean;
  /** The learning rate the dev split chose (the spec's when no grid was run). */
  lr: number;
  /** Dev-split accuracy of each rate of the grid, in grid order (empty without a grid). */
  devAccuracy: { lr: number; accuracy: number }[];
  seeds: number[];
  /** Test accuracy per seed, in seed order. */
  perSeed: number[];
  accuracy: MeanStd;
  before: MeanStd;
  volatility: MeanStd;
  msPerStep: number;
  /** ms/step ÷ LoRA r's − 1. */
  overheadVsLora: number;
  mergeGapPoints: number;
  mergedThroughputRatio: number;
  trainableParameters: number;
}

export interface CompareResult {
  heading: string;
  rows: CompareRow[];
  /** Every final run's metrics, by method label, in seed order. */
  runs: Map<string, RunMetrics[]>;
  seeds: number[];
  /** How the rates were chosen: the grid, the dev split's size. */
  selection: { grid: number[]; devItems: number } | null;
}

export interface CompareOptions {
  seeds: readonly number[];
  /** Learning rates each method chooses from on the dev split; empty: every method at the spec's rate. */
  lrGrid?: readonly number[];
  /** Items held out of the spec's training items to choose the rate on. */
  devItems?: number;
  /** D2-LoRA's ablation rows too (default true). */
  ablations?: boolean;
  /** Every event of every run, with its method, the rate and seed, and whether it is a selection run. */
  onEvent?: (run: CompareRunId, event: RunEvent) => void;
  /** Called with each finished run's metrics. */
  onRun?: (run: CompareRunId, metrics: RunMetrics) => void | Promise<void>;
  /** Stops the comparison: the run under way is cancelled between its steps (the promise rejects with RunCancelledError). */
  signal?: AbortSignal;
}

/** Which run of a comparison an event or metrics belong to. */
export interface CompareRunId {
  method: CompareMethod;
  seed: number;
  lr: number;
  /** A run on the dev split that chooses the rate, not a row's result. */
  selection: boolean;
  /** Its place among all the runs of the comparison, and how many there are. */
  index: number;
  total: number;
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

/** Runs every method (each at its own rate when a grid is given) over every seed, one after another, and tabulates them. */
export async function compareMethods(env: RunEnvironment, spec: RunSpec, opts: CompareOptions): Promise<CompareResult> {
  if (opts.seeds.length === 0) throw new Error('compare: no seeds to run');
  const grid = [...(opts.lrGrid ?? [])];
  for (const lr of grid) if (!(lr > 0 && lr <= 1)) throw new RangeError(`compare: the learning-rate grid holds ${lr}; expected rates in (0, 1]`);
  const devItems = opts.devItems ?? DEFAULT_DEV_ITEMS;
  const loaded = onceLoaded(env);
  const methods = comparisonMethods(spec, opts.ablations ?? true);
  const total = comparisonRunCount(methods.length, grid.length, opts.seeds.length);
  let index = 0;
  const runOne = async (method: CompareMethod, runSpec: RunSpec, environment: RunEnvironment, id: Omit<CompareRunId, 'index' | 'total' | 'method'>) => {
    const runId: CompareRunId = { ...id, method, index: index++, total };
    if (opts.signal?.aborted) throw new RunCancelledError('the comparison was cancelled');
    const run = new Run(environment, runSpec, { exportArtifacts: false });
    const off = opts.onEvent ? run.events.on((e) => opts.onEvent!(runId, e)) : null;
    const cancel = () => run.cancel();
    opts.signal?.addEventListener('abort', cancel, { once: true });
    try {
      const { metrics } = await run.start();
      await opts.onRun?.(runId, metrics);
      return metrics;
    } finally {
      off?.();
      opts.signal?.removeEventListener('abort', cancel);
    }
  };

  // The dev split: drawn from the training items the spec's protocol gives its first seed.
  const selectionEnv = grid.length > 1 ? await devSplitEnvironment(loaded, spec, opts.seeds[0]!, devItems) : null;
  const runs = new Map<string, RunMetrics[]>();
  const rows: Omit<CompareRow, 'overheadVsLora'>[] = [];
  for (const method of methods) {
    const devAccuracy: { lr: number; accuracy: number }[] = [];
    if (selectionEnv !== null) {
      for (const lr of grid) {
        const selection = runSpecWith({ ...method.spec, seed: opts.seeds[0]!, training: { ...method.spec.training, lr, minLr: Math.min(method.spec.training.minLr, lr) }, limits: { ...method.spec.limits, maxEval: devItems } });
        const m = await runOne(method, selection, selectionEnv, { seed: opts.seeds[0]!, lr, selection: true });
        devAccuracy.push({ lr, accuracy: m.after.accuracy });
      }
    }
    // The best dev accuracy; a tie goes to the lower rate (the safer one).
    const lr = devAccuracy.length > 0 ? [...devAccuracy].sort((a, b) => b.accuracy - a.accuracy || a.lr - b.lr)[0]!.lr : method.spec.training.lr;
    const ms: RunMetrics[] = [];
    for (const seed of opts.seeds) {
      const final = runSpecWith({ ...method.spec, seed, training: { ...method.spec.training, lr, minLr: Math.min(method.spec.training.minLr, lr) } });
      ms.push(await runOne(method, final, loaded, { seed, lr, selection: false }));
    }
    runs.set(method.label, ms);
    rows.push({
      method: method.label,
      ablation: method.ablation,
      lr,
      devAccuracy,
      seeds: [...opts.seeds],
      perSeed: ms.map((m) => m.after.accuracy),
      accuracy: meanStd(ms.map((m) => m.after.accuracy)),
      before: meanStd(ms.map((m) => m.before.accuracy)),
      volatility: meanStd(ms.map((m) => lossVolatility(m.steps.map((s) => s.loss)))),
      msPerStep: meanStd(ms.map((m) => m.timings.msPerStep)).mean,
      mergeGapPoints: meanStd(ms.map((m) => m.mergeGapPoints)).mean,
      mergedThroughputRatio: meanStd(ms.map((m) => m.mergedThroughputRatio)).mean,
      trainableParameters: ms[0]!.adapter.trainableParameters,
    });
  }
  const loraMs = rows[0]!.msPerStep;
  const first = runs.get(methods[0]!.label)![0]!;
  const heading =
    `${first.model.name} on ${first.task.name}: ${first.train.steps} steps per run, seeds ${opts.seeds.join(', ')}, ` +
    `chance ${(100 * first.chance).toFixed(1)}%, untrained ${(100 * first.before.accuracy).toFixed(1)}%` +
    (grid.length > 1 ? `; each method's learning rate chosen from ${grid.map(formatRate).join(', ')} on ${devItems} dev items held out of the training items` : `; every method at lr ${formatRate(spec.training.lr)}`);
  return {
    heading,
    rows: rows.map((r) => ({ ...r, overheadVsLora: r.msPerStep / loraMs - 1 })),
    runs,
    seeds: [...opts.seeds],
    selection: grid.length > 1 ? { grid, devItems } : null,
  };
}

/** The table as CSV: one line a row, the per-seed accuracies in columns of their own. */
export function compareCsv(result: CompareResult): string {
  const seedCols = result.seeds.map((s) => `accuracy seed ${s} %`);
  const head = ['method', 'ablation', 'lr', ...seedCols, 'accuracy mean %', 'accuracy std %', 'untrained %', 'loss volatility mean', 'loss volatility std', 'ms per step', 'overhead vs LoRA r %', 'merge gap points', 'merged/unmerged throughput', 'trainable parameters'];
  const lines = result.rows.map((r) =>
    [
      csvCell(r.method),
      r.ablation ? 'yes' : 'no',
      r.lr,
      ...r.perSeed.map((a) => (100 * a).toFixed(2)),
      (100 * r.accuracy.mean).toFixed(2),
      (100 * r.accuracy.std).toFixed(2),
      (100 * r.before.mean).toFixed(2),
      r.volatility.mean.toPrecision(4),
      r.volatility.std.toPrecision(4),
      r.msPerStep.toFixed(1),
      (100 * r.overheadVsLora).toFixed(1),
      r.mergeGapPoints.toFixed(2),
      r.mergedThroughputRatio.toFixed(3),
      r.trainableParameters,
    ].join(','),
  );
  return `${[head.map(csvCell).join(','), ...lines].join('\n')}\n`;
}

/** The table as Markdown, with its heading, the volatility's definition and the paper's figures beside it. */
export function compareMarkdown(result: CompareResult): string {
  const pm = (x: MeanStd, scale = 100, digits = 1) => `${(scale * x.mean).toFixed(digits)} ± ${(scale * x.std).toFixed(digits)}`;
  const lines = [
    `# ${result.heading}`,
    '',
    '| method | lr | accuracy per seed % | accuracy % | loss volatility | ms/step | vs LoRA r | merge gap (points) | merged/unmerged | trainable |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...result.rows.map(
      (r) =>
        `| ${r.ablation ? `_${r.method}_` : `**${r.method}**`} | ${formatRate(r.lr)} | ${r.perSeed.map((a) => (100 * a).toFixed(1)).join(' / ')} | ${pm(r.accuracy)} | ${pm(r.volatility, 1, 4)} | ${r.msPerStep.toFixed(0)} | ${r.overheadVsLora >= 0 ? '+' : ''}${(100 * r.overheadVsLora).toFixed(1)}% | ${r.mergeGapPoints.toFixed(2)} | ${r.mergedThroughputRatio.toFixed(2)}× | ${r.trainableParameters.toLocaleString('en-US')} |`,
    ),
    '',
    `Loss volatility: ${VOLATILITY_DEFINITION}.`,
  ];
  if (result.selection !== null) {
    lines.push('', `Dev-split accuracy of each rate (${result.selection.devItems} items held out of the training items, seed ${result.seeds[0]}):`, '');
    for (const r of result.rows) lines.push(`- ${r.method}: ${r.devAccuracy.map((d) => `${formatRate(d.lr)} → ${(100 * d.accuracy).toFixed(1)}%`).join(', ')}`);
  }
  lines.push('', 'What the D2-LoRA paper reports (arXiv 2602.14728), to compare with honestly:', '', ...PAPER_FIGURES.map((f) => `- ${f}`), '');
  return lines.join('\n');
}

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The environment with the model and the task loaded once for all runs. */
function onceLoaded(env: RunEnvironment): RunEnvironment {
  let model: ReturnType<RunEnvironment['loadModel']> | null = null;
  let task: Promise<TaskData> | null = null;
  return {
    ...env,
    loadModel: (spec, hooks) => (model ??= env.loadModel(spec, hooks)),
    loadTask: (spec, hooks) => (task ??= env.loadTask(spec, hooks)),
  };
}

/**
 * The environment of the selection runs: the task is the spec's training items (as its protocol
 * draws them for `seed`), `devItems` of them held out as the evaluation split, the rest to train
 * on. The test split takes no part.
 */
async function devSplitEnvironment(env: RunEnvironment, spec: RunSpec, seed: number, devItems: number): Promise<RunEnvironment> {
  const task = await env.loadTask(spec.task, { onProgress: () => undefined, signal: new AbortController().signal });
  if (task.kind !== 'multiple-choice') throw new Error(`compare: task ${task.name} is ${task.kind}; the comparison trains multiple-choice tasks`);
  const prepared = prepareTask(task, { seed, maxTrain: spec.limits.maxTrain, maxEval: spec.limits.maxEval });
  if (prepared.kind !== 'multiple-choice') throw new Error(`compare: task ${task.name} is not multiple-choice`);
  if (prepared.train.length < 2 * devItems) {
    throw new Error(`compare: choosing the learning rate holds out ${devItems} of the ${prepared.train.length} training items; give fewer dev items or more training items`);
  }
  const order = permutation(prepared.train.length, new Rng(seed).fork('lr-dev-split'));
  const dev = new Set(order.slice(0, devItems));
  const selection: MultipleChoiceTask = {
    name: `${task.name} (dev split)`,
    kind: 'multiple-choice',
    template: prepared.template,
    train: prepared.train.filter((_, i) => !dev.has(i)),
    test: prepared.train.filter((_, i) => dev.has(i)),
    source: `${devItems} of the training items of ${task.name}, held out to choose the learning rate`,
  };
  return { ...env, loadTask: async () => selection };
}
