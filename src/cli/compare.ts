// `d2lora compare`: the core comparison (src/run/compare.ts) — LoRA r, LoRA 2r, DoRA r and
// D2-LoRA r over seeds on one task — printed as a table and written as compare.json, compare.md
// and each run's metrics.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireNodeContext } from '../gpu/node';
import { compareMethods, VOLATILITY_DEFINITION, type CompareRow } from '../run/compare';
import { nodeRunEnvironment } from '../run/node-env';
import { UsageError, type FlagSpec, type FlagValues } from './args';
import { bar, downloadProgress, statusLine } from './progress';
import { runFromFlags, SPEC_FLAGS } from './spec-flags';
import { formatTable } from './table';

export const compareFlags: Record<string, FlagSpec> = {
  ...Object.fromEntries(Object.entries(SPEC_FLAGS).filter(([k]) => !['method', 'seed'].includes(k))),
  seeds: { type: 'string', help: 'comma-separated seeds', default: '0,1,2' },
  out: { type: 'string', help: 'output folder for compare.json, compare.md and per-run metrics', default: 'out/compare' },
};

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

export function parseSeeds(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const seeds = parts.map(Number);
  if (parts.some((p) => p === '') || seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) {
    throw new UsageError(`--seeds must be non-negative integers separated by commas, got "${value}"`);
  }
  return seeds;
}

export async function compareCommand(flags: FlagValues): Promise<number> {
  const seeds = parseSeeds(String(flags.seeds));
  const { spec, locations, warnings } = await runFromFlags(flags);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const out = String(flags.out);
  await mkdir(out, { recursive: true });
  const ctx = await acquireNodeContext();
  const status = statusLine();
  const downloads = downloadProgress();
  try {
    const result = await compareMethods(nodeRunEnvironment(ctx, locations), spec, {
      seeds,
      onEvent: (method, seed, e) => {
        if (e.type === 'stage' && e.stage === 'load-model') process.stderr.write(`\n${method}, seed ${seed}\n`);
        else if (e.type === 'download') downloads(e);
        else if (e.type === 'progress') status(`  ${bar(e.step / e.totalSteps)} step ${e.step}/${e.totalSteps} ${e.tokensPerSecond.toFixed(0)} tok/s`, e.step === e.totalSteps);
      },
      onRun: async (method, seed, m) => {
        process.stderr.write(`  accuracy ${(100 * m.before.accuracy).toFixed(1)}% → ${(100 * m.after.accuracy).toFixed(1)}%\n`);
        await writeFile(join(out, `${method.spec.adapter.method}-r${method.spec.adapter.r}-s${seed}.metrics.json`), JSON.stringify(m, null, 2) + '\n');
      },
    });
    const table = compareTable(result.rows);
    console.log(`\n${result.heading}\n\n${table}`);
    await writeFile(join(out, 'compare.json'), JSON.stringify({ heading: result.heading, rows: result.rows }, null, 2) + '\n');
    await writeFile(join(out, 'compare.md'), `# ${result.heading}\n\n\`\`\`\n${table}\n\`\`\`\n\nLoss volatility: ${VOLATILITY_DEFINITION}.\n`);
    return 0;
  } finally {
    ctx.destroy();
  }
}
