// Matmul benchmark: GFLOP/s of each rung of the ladder on square problems and on the shapes a
// 135M-parameter model (SmolLM2-135M: hidden 576, MLP 1536) trains with at 2048 tokens.

import type { GpuContext } from '../gpu/context';
import { matmul, MATMUL_VARIANTS, prepareMatmul, type MatmulVariant } from '../ops/matmul';
import { measure } from './measure';

export interface MatmulCase {
  name: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

export interface MatmulBenchRow extends MatmulCase {
  variant: MatmulVariant;
  ms: number;
  gflops: number;
  reps: number;
  timing: string;
}

/** A linear layer's three products at `tokens` rows, W stored out×in. */
function linearCases(label: string, tokens: number, inF: number, outF: number): MatmulCase[] {
  return [
    { name: `${label} Y=X·Wᵀ`, M: tokens, N: outF, K: inF, transA: false, transB: true },
    { name: `${label} dX=G·W`, M: tokens, N: inF, K: outF, transA: false, transB: false },
    { name: `${label} dW=Gᵀ·X`, M: outF, N: inF, K: tokens, transA: true, transB: false },
  ];
}

/** The products to time: `quick` a smoke run; `large` adds 4096³ (minutes per variant on a CPU driver). */
export function matmulCases(quick: boolean, large = false): MatmulCase[] {
  const square = (n: number): MatmulCase => ({ name: `${n}³`, M: n, N: n, K: n, transA: false, transB: false });
  if (quick) return [square(512), ...linearCases('N=2048 576→576', 2048, 576, 576).slice(0, 1)];
  return [
    square(512),
    square(2048),
    ...(large ? [square(4096)] : []),
    ...linearCases('N=2048 576→576', 2048, 576, 576),
    ...linearCases('N=2048 576→1536', 2048, 576, 1536),
  ];
}

export async function benchMatmul(
  ctx: GpuContext,
  cases: readonly MatmulCase[],
  variants: readonly MatmulVariant[] = MATMUL_VARIANTS,
  onRow?: (row: MatmulBenchRow) => void,
): Promise<MatmulBenchRow[]> {
  await prepareMatmul(ctx, variants);
  const rows: MatmulBenchRow[] = [];
  for (const c of cases) {
    const a = ctx.tensor([c.M * c.K], 'f32', 'A');
    const b = ctx.tensor([c.K * c.N], 'f32', 'B');
    const out = ctx.tensor([c.M * c.N], 'f32', 'C');
    for (const variant of variants) {
      const m = await measure(ctx, () => matmul(ctx, { a, b, c: out, M: c.M, N: c.N, K: c.K, transA: c.transA, transB: c.transB, variant }));
      const row: MatmulBenchRow = { ...c, variant, ms: m.ms, gflops: (2 * c.M * c.N * c.K) / (m.ms * 1e6), reps: m.reps, timing: m.source };
      rows.push(row);
      onRow?.(row);
    }
    for (const t of [a, b, out]) t.release();
  }
  return rows;
}
