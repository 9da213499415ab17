// `d2lora compare`: the core comparison (src/run/compare.ts) — LoRA r, LoRA 2r, DoRA r, D2-LoRA r
// and D2-LoRA's ablations, each at the learning rate a dev split chose for it, over seeds —
// printed as a table and written as compare.json, compare.md, compare.csv and each run's metrics.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireNodeContext } from '../gpu/node';
import { compareCsv, compareMarkdown, compareMethods, type CompareResult } from '../run/compare';
import { defaultLrGrid, DEFAULT_DEV_ITEMS, formatRate, VOLATILITY_DEFINITION } from '../run/compare-plan';
import { nodeRunEnvironment } from '../run/node-env';
import { UsageError, type FlagSpec, type FlagValues } from './args';
import { bar, downloadProgress, statusLine } from './progress';
import { runFromFlags, SPEC_FLAGS } from './spec-flags';
import { formatTable } from './table';

export const compareFlags: Record<string, FlagSpec> = {
  ...Object.fromEntries(Object.entries(SPEC_FLAGS).filter(([k]) => !['method', 'seed'].includes(k))),
  seeds: { type: 'string', help: 'comma-separated seeds', default: '0,1,2' },
  'lr-grid': {
    type: 'string',
    help: "comma-separated learning rates each method chooses from on a dev split, or 'none' for every method at --lr (default: --lr × 0.4, 1, 2.5)",
  },
  'lr-dev-items': { type: 'number', help: 'training items held out to choose the learning rate on', default: DEFAULT_DEV_ITEMS },
  ablations: { type: 'boolean', help: "D2-LoRA's ablation rows too: projection off, ρ = 0, τ = 0, τ = 1, detached norm (--ablations=false: the four methods only)", default: true },
  out: { type: 'string', help: 'output folder for compare.json, compare.md, compare.csv and per-run metrics', default: 'out/compare' },
};

export function compareTable(result: CompareResult): string {
  const pm = (x: { mean: number; std: number }, scale = 100, digits = 1) => `${(scale * x.mean).toFixed(digits)} ± ${(scale * x.std).toFixed(digits)}`;
  return formatTable(
    ['method', 'lr', 'per seed %', 'accuracy %', 'loss volatility', 'ms/step', 'vs LoRA r', 'merge gap pp', 'merged/unmerged', 'trainable'],
    result.rows.map((r) => [
      r.method,
      formatRate(r.lr),
      r.perSeed.map((a) => (100 * a).toFixed(1)).join(' / '),
      pm(r.accuracy),
      pm(r.volatility, 1, 4),
      r.msPerStep,
      `${r.overheadVsLora >= 0 ? '+' : ''}${(100 * r.overheadVsLora).toFixed(1)}%`,
      r.mergeGapPoints.toFixed(2),
      `${r.mergedThroughputRatio.toFixed(2)}×`,
      r.trainableParameters,
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

/** "D2-LoRA r=8, τ = 0" → "d2-lora-r8-tau-0": a file name of a row. */
function fileSlug(label: string): string {
  return label
    .replaceAll('τ', 'tau')
    .replaceAll('ρ', 'rho')
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-|-$/g, '')
    .replace(/-r-(\d)/, '-r$1');
}

function parseGrid(value: string): number[] {
  if (value.trim() === 'none') return [];
  const rates = value.split(',').map((s) => Number(s.trim()));
  if (rates.length < 2 || rates.some((r) => !(r > 0 && r <= 1))) {
    throw new UsageError(`--lr-grid must be two or more learning rates in (0, 1] separated by commas, or 'none'; got "${value}"`);
  }
  return rates;
}

export async function compareCommand(flags: FlagValues): Promise<number> {
  const seeds = parseSeeds(String(flags.seeds));
  const { spec, locations, warnings } = await runFromFlags(flags);
  const lrGrid = typeof flags['lr-grid'] === 'string' ? parseGrid(flags['lr-grid']) : defaultLrGrid(spec);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const out = String(flags.out);
  await mkdir(out, { recursive: true });
  const ctx = await acquireNodeContext();
  const status = statusLine();
  const downloads = downloadProgress();
  try {
    const result = await compareMethods(nodeRunEnvironment(ctx, locations), spec, {
      seeds,
      lrGrid,
      devItems: Number(flags['lr-dev-items'] ?? DEFAULT_DEV_ITEMS),
      ablations: flags.ablations !== false,
      onEvent: (run, e) => {
        if (e.type === 'stage' && e.stage === 'load-model') {
          const what = run.selection ? `choosing the rate: lr ${formatRate(run.lr)} on the dev split` : `seed ${run.seed} at lr ${formatRate(run.lr)}`;
          process.stderr.write(`\n[${run.index + 1}/${run.total}] ${run.method.label}, ${what}\n`);
        } else if (e.type === 'download') downloads(e);
        else if (e.type === 'progress') status(`  ${bar(e.step / e.totalSteps)} step ${e.step}/${e.totalSteps} ${e.tokensPerSecond.toFixed(0)} tok/s`, e.step === e.totalSteps);
      },
      onRun: async (run, m) => {
        process.stderr.write(`  accuracy ${(100 * m.before.accuracy).toFixed(1)}% → ${(100 * m.after.accuracy).toFixed(1)}%${run.selection ? ' (dev split)' : ''}\n`);
        if (!run.selection) {
          await writeFile(join(out, `${fileSlug(run.method.label)}-s${run.seed}.metrics.json`), JSON.stringify(m, null, 2) + '\n');
        }
      },
    });
    console.log(`\n${result.heading}\n\n${compareTable(result)}\n\nLoss volatility: ${VOLATILITY_DEFINITION}.`);
    await writeFile(join(out, 'compare.json'), JSON.stringify({ heading: result.heading, selection: result.selection, rows: result.rows }, null, 2) + '\n');
    await writeFile(join(out, 'compare.md'), compareMarkdown(result));
    await writeFile(join(out, 'compare.csv'), compareCsv(result));
    return 0;
  } finally {
    ctx.destroy();
  }
}
