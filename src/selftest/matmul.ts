// The kernel self-test the page runs on the user's GPU: every matmul kernel (each rung, each
// transpose the linear layer uses) on a few awkward shapes, checked against the f64 CPU reference
// within the f32 rounding bound of matmulTolerance. The scalar rungs take a 1×1×1 product and
// primes that leave every tile ragged; the vectorised ones, which run their scalar twins on such
// shapes, take ragged shapes they read as vec4s. Kept small on purpose (each kernel runs one
// case): on a software adapter compiling the kernels is most of its time, which prepareMatmul
// spends up front (the end-to-end tests' Chromium on lavapipe: 2.0 s in all with Mesa's shader
// cache warm, 0.6 s of it compiling; 37.8 s cold, 37.6 s of it compiling). The kernel tier runs
// the same function on Dawn (tests/kernels/selftest.test.ts).
// It lives above the runtime (src/gpu/ imports neither the kernels nor the references) because
// it needs both: the launchers of src/ops/ and the oracle of src/ref/.

import type { GpuContext } from '../gpu/context';
import { matmul, MATMUL_VARIANTS, matmulKernelName, matmulRung, prepareMatmul, scalarTwin, type MatmulVariant } from '../ops/matmul';
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

/** The scalar rungs' shapes: one per transpose, none of them vec4-readable. */
export const SELF_TEST_SHAPES: readonly SelfTestShape[] = [
  { label: 'smallest product', M: 1, N: 1, K: 1, transA: false, transB: false },
  { label: 'primes, Bᵀ (forward)', M: 67, N: 131, K: 37, transA: false, transB: true },
  { label: 'Aᵀ (weight gradient)', M: 130, N: 70, K: 200, transA: true, transB: false },
  { label: 'Aᵀ·Bᵀ, ragged tiles', M: 65, N: 33, K: 129, transA: true, transB: true },
];

/** The vectorised rungs' shapes: one per transpose, each vec4-readable and ragged. */
export const SELF_TEST_VEC4_SHAPES: readonly SelfTestShape[] = [
  { label: 'vec4s, ragged tiles', M: 68, N: 36, K: 20, transA: false, transB: false },
  { label: 'vec4s, Bᵀ, past one 128-tile', M: 36, N: 132, K: 28, transA: false, transB: true },
  { label: 'vec4s, Aᵀ, past one 128-tile', M: 132, N: 20, K: 36, transA: true, transB: false },
  { label: 'vec4s, Aᵀ·Bᵀ, deep', M: 20, N: 68, K: 132, transA: true, transB: true },
];

/** Each rung's shapes. */
export function selfTestShapes(variant: MatmulVariant): readonly SelfTestShape[] {
  return scalarTwin(variant) === undefined ? SELF_TEST_SHAPES : SELF_TEST_VEC4_SHAPES;
}

/** Cases per run: every rung on its shapes. */
export const SELF_TEST_CASE_COUNT = MATMUL_VARIANTS.reduce((n, v) => n + selfTestShapes(v).length, 0);

export interface SelfTestCase extends SelfTestShape {
  /** The name of the kernel that ran, as errors and benchmarks print it, e.g. matmul_tiled_nt. */
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
    for (const [i, shape] of selfTestShapes(variant).entries()) {
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
    const args = { a: ta, b: tb, c: tc, M, N, K, transA, transB, variant };
    const ran = matmulRung(ctx, args); // the rung itself: its shapes are chosen so
    matmul(ctx, args);
    const got = await ctx.read(tc);
    const ms = performance.now() - t0;
    const ratio = maxErrorOverTolerance(got, matmulRef({ a, b, M, N, K, transA, transB }), K);
    return { ...shape, name: matmulKernelName(ran, transA, transB), variant, maxErrOverTol: ratio, passed: ratio <= 1, ms };
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
