// Generation throughput: greedy decoding from BOS with the KV cache (KvCache: the prompt in one
// pass, then one position per token) against recomputing the whole sequence for every token
// (GpuModel.nextTokenLogits), side by side at each length, as positions per second.
//
// Positions are run to the length asked for even past a BOS or EOS (generate() would stop
// there: stories260K's greedy story from BOS ends after 345 tokens), so every row times the
// same work. Both paths must choose the same tokens; the row says whether they did. The cached
// path, a few seconds at most, runs before and twice after the recompute run of each length and
// reports its median, so that a change of load on a shared machine reaches both figures.

import type { GpuContext } from '../gpu/context';
import type { ModelConfig, WeightMap } from '../model/config';
import { argmax } from '../model/generate';
import { GpuModel } from '../model/gpu-model';
import { KvCache } from '../model/kv-cache';

export interface GenerationBenchRow {
  model: string;
  /** Positions run, BOS included (generate's `steps`). */
  positions: number;
  cachedMs: number;
  recomputeMs: number;
  cachedTokensPerSecond: number;
  recomputeTokensPerSecond: number;
  /** cached / recompute tokens per second. */
  ratio: number;
  /** Whether both paths chose the same greedy tokens. */
  tokensAgree: boolean;
}

export const GENERATION_BENCH_POSITIONS: readonly number[] = [64, 256, 512];

/** Greedy tokens for positions 0 … n−1 from `first`, each next token from `logitsAfter`. */
export async function greedy(first: number, n: number, logitsAfter: (tokens: readonly number[]) => Promise<Float32Array>): Promise<{ tokens: number[]; ms: number }> {
  const t0 = performance.now();
  const tokens = [first];
  for (let pos = 0; pos < n; pos++) tokens.push(argmax(await logitsAfter(tokens)));
  return { tokens, ms: performance.now() - t0 };
}

/** Greedy decoding of n positions through the engine's KV cache. */
export async function cachedRun(model: GpuModel, bos: number, n: number) {
  const cache = new KvCache(model, n);
  try {
    return await greedy(bos, n, (tokens) => (tokens.length === 1 ? cache.prefill(tokens) : cache.step(tokens[tokens.length - 1]!)));
  } finally {
    cache.destroy();
  }
}

function recomputeRun(model: GpuModel, bos: number, n: number) {
  return greedy(bos, n, (tokens) => model.nextTokenLogits(tokens));
}

export async function benchGeneration(
  ctx: GpuContext,
  model: { name: string; config: ModelConfig; weights: WeightMap },
  opts: { positions?: readonly number[]; onRow?: (row: GenerationBenchRow) => void } = {},
): Promise<GenerationBenchRow[]> {
  const c = model.config;
  const bos = c.bosTokenId ?? 0;
  const gpuModel = new GpuModel(ctx, c, model.weights);
  const rows: GenerationBenchRow[] = [];
  try {
    // Warm-up: pipelines for every prompt length the runs use (1 row and many), buffer pool.
    await cachedRun(gpuModel, bos, 8);
    await recomputeRun(gpuModel, bos, 8);
    for (const requested of opts.positions ?? GENERATION_BENCH_POSITIONS) {
      const n = Math.min(requested, c.maxPositions);
      const first = await cachedRun(gpuModel, bos, n);
      const recompute = await recomputeRun(gpuModel, bos, n);
      const runs = [first, await cachedRun(gpuModel, bos, n), await cachedRun(gpuModel, bos, n)].sort((a, b) => a.ms - b.ms);
      const cached = runs[1]!;
      const row: GenerationBenchRow = {
        model: model.name,
        positions: n,
        cachedMs: cached.ms,
        recomputeMs: recompute.ms,
        cachedTokensPerSecond: n / (cached.ms / 1000),
        recomputeTokensPerSecond: n / (recompute.ms / 1000),
        ratio: recompute.ms / cached.ms,
        tokensAgree: cached.tokens.every((t, i) => t === recompute.tokens[i]),
      };
      rows.push(row);
      opts.onRow?.(row);
    }
  } finally {
    gpuModel.destroy();
  }
  return rows;
}
