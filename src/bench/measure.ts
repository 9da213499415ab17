// Timing loop shared by every benchmark: one warm-up, then repeated timed runs until a time
// budget or a repetition cap is reached; the median is reported. Never asserts on time.

import type { GpuContext } from '../gpu/context';

export interface Measurement {
  /** Median milliseconds per call. */
  ms: number;
  reps: number;
  source: 'timestamp-query' | 'wall-clock';
}

export async function measure(
  ctx: GpuContext,
  record: () => void,
  opts: { budgetMs?: number; maxReps?: number } = {},
): Promise<Measurement> {
  const budget = opts.budgetMs ?? 400;
  const maxReps = opts.maxReps ?? 15;
  await ctx.time(record); // warm-up: pipelines, pools, caches
  const times: number[] = [];
  let source: Measurement['source'] = 'wall-clock';
  const start = performance.now();
  while (times.length < maxReps && (times.length < 3 || performance.now() - start < budget)) {
    const t = await ctx.time(record);
    times.push(t.ms);
    source = t.source;
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, reps: times.length, source };
}
