// `d2lora compare`: LoRA r, LoRA 2r, DoRA r and D2-LoRA r over several seeds on one task, as the
// paper's kind of table. Training-loss volatility is the standard deviation of the step-to-step
// changes of the training loss over the second half of training (the second epoch by default).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdapterConfig } from '../adapters/config';
import { acquireNodeContext } from '../gpu/node';
import { resolveSourceString } from '../io/load';
import { loadModelInNode } from '../io/node-source';
import { loadTaskInNode } from '../tasks/node';
import { runJob, type JobMetrics } from '../train/job';
import type { FlagSpec, FlagValues } from './args';
import { bar, downloadProgress, statusLine } from './progress';
import { formatTable } from './table';
import { jobConfigFromFlags, storyOptionsFromFlags, trainFlags } from './train';

export const compareFlags: Record<string, FlagSpec> = {
  ...Object.fromEntries(Object.entries(trainFlags).filter(([k]) => !['method', 'seed', 'out'].includes(k))),
  seeds: { type: 'string', help: 'comma-separated seeds', default: '0,1,2' },
  out: { type: 'string', help: 'output folder for compare.json, compare.md and per-run metrics', default: 'out/compare' },
};

/** Std of the step-to-step loss changes over the second half of the steps. */
export function lossVolatility(losses: readonly number[]): number {
  const tail = losses.slice(Math.floor(losses.length / 2));
  const diffs = tail.slice(1).map((v, i) => v - tail[i]!);
  if (diffs.length < 2) return NaN;
  const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  return Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (diffs.length - 1));
}

function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

export interface CompareRow {
  method: string;
  runs: number;
  accuracy: { mean: number; std: number };
  volatility: { mean: number; std: number };
  msPerStep: number;
  overheadVsLora: number;
  mergeGapPoints: number;
  mergedThroughputRatio: number;
}

export function compareTable(rows: readonly CompareRow[]): string {
  const pm = (x: { mean: number; std: number }, scale = 100, digits = 1) => `${(scale * x.mean).toFixed(digits)} ± ${(scale * x.std).toFixed(digits)}`;
  return formatTable(
    ['method', 'seeds', 'accuracy %', 'loss volatility', 'ms/step', 'vs LoRA r', 'merge gap pp', 'merged/unmerged'],
    rows.map((r) => [
      r.method,
      r.runs,
      pm(r.accuracy),
      pm(r.volatility, 1, 4),
      r.msPerStep,
      `${r.overheadVsLora >= 0 ? '+' : ''}${(100 * r.overheadVsLora).toFixed(1)}%`,
      r.mergeGapPoints.toFixed(2),
      `${r.mergedThroughputRatio.toFixed(2)}×`,
    ]),
  );
}

export async function compareCommand(flags: FlagValues): Promise<number> {
  const base = jobConfigFromFlags({ ...flags, method: 'lora', seed: 0 });
  const seeds = String(flags.seeds).split(',').map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isSafeInteger(s))) throw new Error(`compare: --seeds must be integers, got "${flags.seeds}"`);
  const r = base.adapter.r!;
  const alpha = base.adapter.alpha!;
  const methods: [string, Partial<AdapterConfig>][] = [
    [`LoRA r=${r}`, { method: 'lora', r, alpha }],
    // Rank 2r with α doubled keeps s = α/r: the parameter-matched baseline.
    [`LoRA r=${2 * r}`, { method: 'lora', r: 2 * r, alpha: 2 * alpha }],
    [`DoRA r=${r}`, { method: 'dora', r, alpha }],
    [`D2-LoRA r=${r}`, { method: 'd2lora', r, alpha, tau: base.adapter.tau! }],
  ];
  const model = await loadModelInNode(resolveSourceString(String(flags.model)), { onProgress: downloadProgress() });
  const task = await loadTaskInNode(String(flags.task), { onProgress: downloadProgress(), story: storyOptionsFromFlags(flags) });
  const ctx = await acquireNodeContext();
  const out = String(flags.out);
  await mkdir(out, { recursive: true });
  const status = statusLine();
  const runs = new Map<string, JobMetrics[]>();
  try {
    for (const [name, adapter] of methods) {
      for (const seed of seeds) {
        process.stderr.write(`\n${name}, seed ${seed}\n`);
        const result = await runJob(
          ctx,
          model,
          task,
          { ...base, adapter: { ...adapter, seed }, train: { ...base.train, seed }, exportArtifacts: false },
          {
            onProgress: (p) => status(`  ${bar(p.step / p.totalSteps)} step ${p.step}/${p.totalSteps} ${p.tokensPerSecond.toFixed(0)} tok/s`, p.step === p.totalSteps),
          },
        );
        const m = result.metrics;
        process.stderr.write(`  accuracy ${(100 * m.before.accuracy).toFixed(1)}% → ${(100 * m.after.accuracy).toFixed(1)}%\n`);
        runs.set(name, [...(runs.get(name) ?? []), m]);
        await writeFile(join(out, `${adapter.method}-r${adapter.r}-s${seed}.metrics.json`), JSON.stringify(m, null, 2) + '\n');
      }
    }
  } finally {
    ctx.destroy();
  }
  const loraMs = meanStd(runs.get(methods[0]![0])!.map((m) => m.timings.msPerStep)).mean;
  const rows: CompareRow[] = methods.map(([name]) => {
    const ms = runs.get(name)!;
    const msPerStep = meanStd(ms.map((m) => m.timings.msPerStep)).mean;
    return {
      method: name,
      runs: ms.length,
      accuracy: meanStd(ms.map((m) => m.after.accuracy)),
      volatility: meanStd(ms.map((m) => lossVolatility(m.steps.map((s) => s.loss)))),
      msPerStep,
      overheadVsLora: msPerStep / loraMs - 1,
      mergeGapPoints: meanStd(ms.map((m) => m.mergeGapPoints)).mean,
      mergedThroughputRatio: meanStd(ms.map((m) => m.mergedThroughputRatio)).mean,
    };
  });
  const table = compareTable(rows);
  const first = runs.get(methods[0]![0])![0]!;
  const heading = `${first.model.name} on ${first.task.name}: ${first.train.steps} steps per run, seeds ${seeds.join(', ')}, chance ${(100 * first.chance).toFixed(1)}%, untrained ${(100 * first.before.accuracy).toFixed(1)}%`;
  console.log(`\n${heading}\n\n${table}`);
  await writeFile(join(out, 'compare.json'), JSON.stringify({ heading, rows }, null, 2) + '\n');
  await writeFile(join(out, 'compare.md'), `# ${heading}\n\n\`\`\`\n${table}\n\`\`\`\n\nLoss volatility: standard deviation of the step-to-step changes of the training loss over the second half of training.\n`);
  return 0;
}
