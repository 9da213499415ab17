// Adapter benchmark: one adapted linear layer, forward + backward, for LoRA r, LoRA 2r, DoRA r
// and D2-LoRA r, timed side by side (round-robin, median of rounds) so that the overhead
// ratios against LoRA r come from one run on one machine.

import { createAdaptedLinear, type AdaptedLinear } from '../adapters';
import type { AdapterConfig } from '../adapters/config';
import type { GpuContext } from '../gpu/context';
import { Rng } from '../util/rng';
import { defaultAdapterConfig } from '../run/spec';

export interface AdapterBenchShape {
  tokens: number;
  features: number;
  r: number;
}

export interface AdapterBenchRow extends AdapterBenchShape {
  method: string;
  ms: number;
  /** ms / ms(LoRA r) − 1, as a fraction. */
  overhead: number;
  timing: string;
}

export const ADAPTER_BENCH_SHAPES: readonly AdapterBenchShape[] = [
  { tokens: 2048, features: 576, r: 8 },
  { tokens: 2048, features: 2048, r: 16 },
  { tokens: 8192, features: 4096, r: 16 },
];

/** Shapes a CPU driver finishes in seconds (the full set takes it tens of minutes). */
export const ADAPTER_BENCH_SHAPES_CPU: readonly AdapterBenchShape[] = [
  { tokens: 256, features: 576, r: 8 },
  { tokens: 2048, features: 576, r: 8 },
];

function methods(r: number): [string, Partial<AdapterConfig>][] {
  return [
    [`LoRA r=${r}`, { method: 'lora', r, alpha: 2 * r }],
    [`LoRA r=${2 * r}`, { method: 'lora', r: 2 * r, alpha: 4 * r }],
    [`DoRA r=${r}`, { method: 'dora', r, alpha: 2 * r }],
    [`D2-LoRA r=${r}`, { method: 'd2lora', r, alpha: 2 * r }],
  ];
}

export async function benchAdapters(
  ctx: GpuContext,
  shapes: readonly AdapterBenchShape[],
  opts: { rounds?: number; onRow?: (row: AdapterBenchRow) => void } = {},
): Promise<AdapterBenchRow[]> {
  const rounds = opts.rounds ?? 7;
  const rows: AdapterBenchRow[] = [];
  for (const shape of shapes) {
    const { tokens, features: f } = shape;
    const rng = new Rng(shape.tokens + f);
    const w0 = new Float32Array(f * f).map(() => rng.uniform(-1, 1) / Math.sqrt(f));
    const weight = ctx.upload(w0, [f, f], 'W0');
    const x = ctx.upload(new Float32Array(tokens * f).map(() => rng.uniform(-1, 1)), [tokens, f], 'X');
    const dy = ctx.upload(new Float32Array(tokens * f).map(() => rng.uniform(-1, 1)), [tokens, f], 'G');
    const layers: [string, AdaptedLinear][] = methods(shape.r).map(([name, cfg]) => [
      name,
      createAdaptedLinear(ctx, defaultAdapterConfig(cfg), { weight, out: f, in: f, layout: 'out_in', name }, { w0Host: w0 }),
    ]);
    const step = (layer: AdaptedLinear) => () => {
      const y = layer.forward(x, tokens);
      const dx = layer.backward(dy);
      y.release();
      dx.release();
    };
    const times = new Map<string, number[]>(layers.map(([n]) => [n, []]));
    let timing = 'wall-clock';
    for (let round = -1; round < rounds; round++) {
      for (const [name, layer] of layers) {
        const t = await ctx.time(step(layer));
        timing = t.source;
        if (round >= 0) times.get(name)!.push(t.ms); // round −1 warms up
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const loraMs = median(times.get(layers[0]![0])!);
    for (const [name, layer] of layers) {
      const ms = median(times.get(name)!);
      const row: AdapterBenchRow = { ...shape, method: name, ms, overhead: ms / loraMs - 1, timing };
      rows.push(row);
      opts.onRow?.(row);
      layer.destroy();
    }
    for (const t of [weight, x, dy]) t.release();
    ctx.trimPool();
  }
  return rows;
}
