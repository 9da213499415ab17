// The kernel self-test the page runs on the user's GPU: every matmul rung on a few awkward
// shapes (a 1×1×1 product, primes that leave every tile ragged, each transpose the linear layer
// uses, one the vec4 rung reads as vec4s), checked against the f64 CPU reference within the f32 rounding bound of matmulTolerance.
// Kept small on purpose: it has to finish in about a second on SwiftShader, the browser's CPU
// adapter. The kernel tier runs the same function on Dawn (tests/kernels/selftest.test.ts).
// It lives above the runtime (src/gpu/ imports neither the kernels nor the references) because
// it needs both: the launchers of src/ops/ and the oracle of src/ref/.

import type { GpuContext } from '../gpu/context';
import { matmul, MATMUL_VARIANTS, matmulKernelName, prepareMatmul, type MatmulVariant } from '../ops/matmul';
import { matmulRef, matmulTolerance, type MatmulRefResult } from '../ref/matmul';
import { Rng } from '../util/rng';

export interface SelfTestShape {
  /** What the shape exercises, for the results table. */
  label: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

export const SELF_TEST_SHAPES: readonly SelfTestShape[] = [
  { label: 'smallest product', M: 1, N: 1, K: 1, transA: false, transB: false },
  { label: 'primes, Bᵀ (forward)', M: 67, N: 131, K: 37, transA: false, transB: true },
  { label: 'Aᵀ (weight gradient)', M: 130, N: 70, K: 200, transA: true, transB: false },
  { label: 'Aᵀ·Bᵀ, ragged tiles', M: 65, N: 33, K: 129, transA: true, transB: true },
  // The others leave the vec4 rung on its fallback (matmul_tiled); this one it reads as vec4s.
  { label: 'multiples of 4, ragged tiles, Bᵀ', M: 68, N: 132, K: 36, transA: false, transB: true },
];

/** Cases per run: every variant on every shape. */
export const SELF_TEST_CASE_COUNT = MATMUL_VARIANTS.length * SELF_TEST_SHAPES.length;

export interface SelfTestCase extends SelfTestShape {
  /** The kernel's name as errors and benchmarks print it, e.g. matmul_tiled_nt. */
  name: string;
  variant: MatmulVariant;
  /** Max over output elements of |gpu − ref| / tolerance; the case passes when ≤ 1. */
  maxErrOverTol: number;
  passed: boolean;
  /** Wall clock of upload, dispatch and read-back. */
  ms: number;
}

export interface SelfTestReport {
  passed: boolean;
  cases: SelfTestCase[];
  /** Compiling the kernels, before the first case. */
  compileMs: number;
  totalMs: number;
}

/**
 * Runs every case and reports each as it finishes. Compile errors, device loss and validation
 * errors are raised (they say which kernel); a wrong result is a failed case, not an error.
 */
export async function runMatmulSelfTest(
  ctx: GpuContext,
  onProgress?: (c: SelfTestCase, done: number, total: number) => void,
): Promise<SelfTestReport> {
  const start = performance.now();
  await prepareMatmul(ctx, MATMUL_VARIANTS);
  const compileMs = performance.now() - start;
  const cases: SelfTestCase[] = [];
  for (const variant of MATMUL_VARIANTS) {
    for (const [i, shape] of SELF_TEST_SHAPES.entries()) {
      const c = await runCase(ctx, variant, shape, new Rng(i));
      cases.push(c);
      onProgress?.(c, cases.length, SELF_TEST_CASE_COUNT);
    }
  }
  return { passed: cases.every((c) => c.passed), cases, compileMs, totalMs: performance.now() - start };
}

async function runCase(ctx: GpuContext, variant: MatmulVariant, shape: SelfTestShape, rng: Rng): Promise<SelfTestCase> {
  const { M, N, K, transA, transB } = shape;
  const a = randomUniform(M * K, rng.fork('A'));
  const b = randomUniform(K * N, rng.fork('B'));
  const t0 = performance.now();
  const ta = ctx.upload(a, transA ? [K, M] : [M, K], 'A');
  const tb = ctx.upload(b, transB ? [N, K] : [K, N], 'B');
  const tc = ctx.tensor([M, N], 'f32', 'C');
  try {
    matmul(ctx, { a: ta, b: tb, c: tc, M, N, K, transA, transB, variant });
    const got = await ctx.read(tc);
    const ms = performance.now() - t0;
    const ratio = maxErrorOverTolerance(got, matmulRef({ a, b, M, N, K, transA, transB }), K);
    return { ...shape, name: matmulKernelName(variant, transA, transB), variant, maxErrOverTol: ratio, passed: ratio <= 1, ms };
  } finally {
    for (const t of [ta, tb, tc]) t.release();
  }
}

function randomUniform(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-1, 1);
  return out;
}

/** Max over elements of |got − ref| / matmulTolerance; Infinity for a non-finite or missing value. */
export function maxErrorOverTolerance(got: Float32Array, ref: MatmulRefResult, K: number): number {
  if (got.length !== ref.c.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const v = got[i]!;
    if (!Number.isFinite(v)) return Infinity;
    worst = Math.max(worst, Math.abs(v - ref.c[i]!) / matmulTolerance(K, ref.absDot[i]!, ref.c[i]!));
  }
  return worst;
}
