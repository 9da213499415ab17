// Launchers for shaders/matmul.wgsl: the general batched product and the three named
// products of a linear layer. Shapes are checked here, before anything is recorded.

import matmulWgsl from '../../shaders/matmul.wgsl?raw';
import type { GpuContext, Kernel } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { parseConstU32, withConstU32 } from '../gpu/wgsl-layout';
import { checkDims, checkTensor, isCount } from './checks';
import { kernelsByKey } from './kernel-cache';

export type MatmulVariant = 'naive' | 'regblock' | 'tiled' | 'tiled8' | 'tiledv' | 'tiled8v';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['naive', 'regblock', 'tiled', 'tiled8', 'tiledv', 'tiled8v'];

/** The vectorised rungs, each with the rung it equals bit for bit and runs where its operands are not vec4-readable. */
const SCALAR_TWIN: Partial<Record<MatmulVariant, MatmulVariant>> = { tiledv: 'tiled', tiled8v: 'tiled8' };

/** A vectorised rung's scalar twin; undefined for a scalar rung. */
export function scalarTwin(variant: MatmulVariant): MatmulVariant | undefined {
  return SCALAR_TWIN[variant];
}

/**
 * REG×REG outputs per thread of matmul_regblock and matmul_tiled: a WGSL const (it sizes each
 * thread's accumulator array, which WGSL allows only for constants), so it is read from there.
 */
const REG = parseConstU32(matmulWgsl, 'REG', 'matmul.wgsl');
/** Values in one of matmul_tiled_vec4's loads (a vec4), as the WGSL's const VEC says. */
const VEC = parseConstU32(matmulWgsl, 'VEC', 'matmul.wgsl');

/**
 * Each rung's geometry: `threads` is its workgroup edge (THREADS in the WGSL), `perThread` the
 * outputs a thread computes along each edge (the register block REG), `depth` the K slice the
 * tiled rungs stage in workgroup memory (TK). 'tiled8' is matmul_tiled with an 8×8 register block:
 * a 128×128 output tile per workgroup, twice the work per value staged of 'tiled''s 64×64, for
 * large products on GPUs (its K slices are 8 deep, so that both staged slices take 8 KB).
 * 'tiledv' and 'tiled8v' are those two with vectorised loads (matmul_tiled_vec4: vec4s from
 * memory and from workgroup memory), where the operands' layout allows it (vec4Readable), else
 * 'tiled' and 'tiled8' themselves: each agrees with its twin bit for bit.
 */
const GEOMETRY: Record<MatmulVariant, { entry: string; threads: number; perThread: number; depth?: number }> = {
  naive: { entry: 'matmul_naive', threads: 16, perThread: 1 },
  regblock: { entry: 'matmul_regblock', threads: 8, perThread: REG },
  tiled: { entry: 'matmul_tiled', threads: 16, perThread: REG, depth: 16 },
  tiled8: { entry: 'matmul_tiled', threads: 16, perThread: 8, depth: 8 },
  tiledv: { entry: 'matmul_tiled_vec4', threads: 16, perThread: REG, depth: 16 },
  tiled8v: { entry: 'matmul_tiled_vec4', threads: 16, perThread: 8, depth: 8 },
};
// The tiled rungs' threads stage the TK×TILE slice of each operand in equal shares (of vec4s
// for the vectorised ones, whose register blocks and K slices are whole vec4s).
for (const variant of ['tiled', 'tiled8', 'tiledv', 'tiled8v'] as const) {
  const { depth, threads, perThread } = GEOMETRY[variant];
  const values = SCALAR_TWIN[variant] ? VEC : 1;
  if ((depth! * tileOf(variant)) % (values * threads ** 2) !== 0) throw new Error(`${variant}: THREADS² must divide TK × TILE / ${values}`);
  if (perThread % values !== 0 || depth! % values !== 0) throw new Error(`${variant}: REG and TK must be multiples of ${values}`);
}

/** The module each rung compiles: matmul.wgsl, with its register block where the rung has another (made once: this runs per dispatch). */
const MODULES = Object.fromEntries(
  MATMUL_VARIANTS.map((v) => {
    const { perThread } = GEOMETRY[v];
    return [v, v === 'naive' || perThread === REG ? matmulWgsl : withConstU32(matmulWgsl, 'REG', perThread, 'matmul.wgsl')];
  }),
) as Record<MatmulVariant, string>;

/** Output edge one workgroup of `variant` covers. */
function tileOf(variant: MatmulVariant): number {
  return GEOMETRY[variant].threads * GEOMETRY[variant].perThread;
}

/** The override constants of a rung's WGSL entry point. */
function geometryConstants(variant: MatmulVariant): Record<string, number> {
  const { threads, depth } = GEOMETRY[variant];
  return depth === undefined ? { THREADS: threads } : { THREADS: threads, TK: depth };
}

export interface MatmulArgs {
  /** op(A) is M×K: A stored M×K, or K×M when transA. */
  a: Tensor;
  /** op(B) is K×N: B stored K×N, or N×K when transB. */
  b: Tensor;
  /** Output, M×N per batch. */
  c: Tensor;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** Number of independent products (default 1). */
  batch?: number;
  /** Elements between batches; 0 broadcasts the operand. Defaults: dense (M·K, K·N, M·N). */
  batchStrideA?: number;
  batchStrideB?: number;
  alpha?: number;
  /** C += … instead of C = … */
  accumulate?: boolean;
  /** Added to every row of C (length N). */
  bias?: Tensor;
  /** Multiplies column n of the product (length N), before bias and accumulate. */
  scale?: Tensor;
  /**
   * A second product summed into the first before the epilogue (batch 1 only):
   * C = alpha·(op(A)·op(B) + A2·op(B2))·diag(scale) (+ bias) (+ C), with A2 stored M×K2 and
   * op(B2) K2×N (B2 stored K2×N, or N×K2 when transB). One dispatch instead of two, and one
   * rounding of the sum instead of two.
   */
  plus?: MatmulSecond;
  /** Default: defaultRung's. */
  variant?: MatmulVariant;
}

/** The second product of MatmulArgs.plus. */
export interface MatmulSecond {
  a: Tensor;
  b: Tensor;
  K: number;
  transB?: boolean;
}

/** The kernel name as it appears in errors and benchmark tables. */
export function matmulKernelName(variant: MatmulVariant, transA: boolean, transB: boolean): string {
  return `matmul_${variant}_${transA ? 't' : 'n'}${transB ? 't' : 'n'}`;
}

/** The kernel of a rung and its transposes, keyed 4·(the rung's index) + 2·transA + transB. */
const kernelOf = kernelsByKey((key: number) => {
  const variant = MATMUL_VARIANTS[key >> 2]!;
  const [transA, transB] = [(key & 2) !== 0, (key & 1) !== 0];
  return {
    name: matmulKernelName(variant, transA, transB),
    code: MODULES[variant],
    entryPoint: GEOMETRY[variant].entry,
    constants: { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0, ...geometryConstants(variant) },
  };
});

function kernelFor(ctx: GpuContext, variant: MatmulVariant, transA: boolean, transB: boolean): Kernel {
  const index = MATMUL_VARIANTS.indexOf(variant);
  if (index < 0) throw new KernelError('matmul', `variant "${String(variant)}" is not one of ${MATMUL_VARIANTS.join(', ')}`);
  return kernelOf(ctx, 4 * index + (transA ? 2 : 0) + (transB ? 1 : 0));
}

/**
 * Compiles every matmul kernel of the given variants and runs each once, on a 4×4×4 product (one
 * every rung reads as itself, the vectorised ones as vec4s): a driver may compile a pipeline
 * only at its first use (Chromium does), so after this no product waits for a compilation.
 * Raises compile errors now.
 */
export async function prepareMatmul(ctx: GpuContext, variants: readonly MatmulVariant[] = MATMUL_VARIANTS): Promise<void> {
  const [a, b, c] = ['A', 'B', 'C'].map((name) => ctx.zeros([16], 'f32', `warm-up ${name}`)) as [Tensor, Tensor, Tensor];
  try {
    for (const variant of variants) {
      for (const transA of [false, true]) for (const transB of [false, true]) matmul(ctx, { a, b, c, M: 4, N: 4, K: 4, transA, transB, variant });
    }
    await ctx.sync();
  } finally {
    for (const t of [a, b, c]) t.release();
  }
}

/**
 * Whether matmul_tiled_vec4 ('tiledv', 'tiled8v') can read both operands as vec4s: each one's contiguous dimension
 * (K of A, M of Aᵀ; N of B, K of Bᵀ) and batch stride a multiple of 4, each tensor 16-byte
 * aligned in its buffer, and K > 0 (an empty operand is bound as 4 bytes, less than one vec4).
 */
export function vec4Readable(args: Pick<MatmulArgs, 'a' | 'b' | 'M' | 'N' | 'K' | 'transA' | 'transB' | 'batchStrideA' | 'batchStrideB'>): boolean {
  const { M, N, K } = args;
  const bytes = VEC * 4;
  return (
    K > 0 &&
    (args.transA ? M : K) % VEC === 0 &&
    (args.transB ? K : N) % VEC === 0 &&
    (args.batchStrideA ?? M * K) % VEC === 0 &&
    (args.batchStrideB ?? K * N) % VEC === 0 &&
    args.a.byteOffset % bytes === 0 &&
    args.b.byteOffset % bytes === 0
  );
}

/**
 * The rung a product runs unless asked for another. CPU drivers run the barrier-free rung fastest
 * at the small model's shapes (lavapipe: a stories260K training step 953 ms with it, 1065 ms
 * with tiled8v, though tiled8v is faster at 576² and up). GPUs get the vectorised rungs, 128×128
 * tiles where the product has at least one each way, else 64×64: the shape of the fastest
 * hand-written SGEMMs, and on lavapipe tiled8v leads every rung at every benchmark shape. The
 * GPU benchmark times every rung; its figures should settle this (every fma rung gives the
 * same bits, so the choice never changes a result).
 */
export function defaultRung(ctx: GpuContext, shape: { M: number; N: number }): MatmulVariant {
  if (ctx.adapter.isCpu) return 'regblock';
  const large = tileOf('tiled8v');
  return shape.M >= large && shape.N >= large ? 'tiled8v' : 'tiledv';
}

/** The rung that runs: the one asked for (defaultRung's by default), but a vectorised rung's scalar twin where its operands are not vec4-readable. */
export function matmulRung(ctx: GpuContext, args: MatmulArgs): MatmulVariant {
  const asked = args.variant ?? defaultRung(ctx, args);
  const twin = SCALAR_TWIN[asked];
  return twin !== undefined && !vec4Readable(args) ? twin : asked;
}

/** Records C = alpha·op(A)·op(B)·diag(scale) (+ bias) (+ C). */
export function matmul(ctx: GpuContext, args: MatmulArgs): void {
  // This runs for every product of every step: a message is built only for a check that fails.
  const { a, b, c, M, N, K } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const variant = matmulRung(ctx, args);
  const kernel = kernelFor(ctx, variant, transA, transB);
  const name = kernel.name;
  const batch = args.batch ?? 1;
  const strideA = args.batchStrideA ?? M * K;
  const strideB = args.batchStrideB ?? K * N;
  const strideC = M * N;
  if (!(isCount(M) && isCount(N) && isCount(K) && isCount(batch))) checkDims(name, { M, N, K, batch });
  // Element types are not checked (dtype null): every operand is f32.
  // The last of `batch` matrices ends at (batch − 1)·stride + matrix; with batch = 0 nothing is read.
  const needA = batch > 0 ? (batch - 1) * strideA + M * K : 0;
  const needB = batch > 0 ? (batch - 1) * strideB + K * N : 0;
  const needC = batch > 0 ? (batch - 1) * strideC + M * N : 0;
  if (a.size < needA) checkTensor(name, a, 'A', needA, `${transA ? `K×M = ${K}×${M}` : `M×K = ${M}×${K}`} over ${batch} batch(es)`, null);
  if (b.size < needB) checkTensor(name, b, 'B', needB, `${transB ? `N×K = ${N}×${K}` : `K×N = ${K}×${N}`} over ${batch} batch(es)`, null);
  if (c.size < needC) checkTensor(name, c, 'C', needC, `M×N = ${M}×${N} over ${batch} batch(es)`, null);
  if (args.bias && args.bias.size < N) checkTensor(name, args.bias, 'bias', N, `N = ${N}`, null);
  if (args.scale && args.scale.size < N) checkTensor(name, args.scale, 'scale', N, `N = ${N}`, null);
  const plus = args.plus;
  if (plus) {
    if (batch !== 1) throw new KernelError(name, `a second product (plus) needs batch 1, got ${batch}`);
    if (!isCount(plus.K)) checkDims(name, { K2: plus.K });
    if (plus.a.size < M * plus.K) checkTensor(name, plus.a, 'A2', M * plus.K, `M×K2 = ${M}×${plus.K}`, null);
    if (plus.b.size < plus.K * N) checkTensor(name, plus.b, 'B2', plus.K * N, plus.transB ? `N×K2 = ${N}×${plus.K}` : `K2×N = ${plus.K}×${N}`, null);
  }
  const tile = tileOf(variant);
  const bias = args.bias ?? ctx.empty;
  const scale = args.scale ?? ctx.empty;
  const a2 = plus?.a ?? ctx.empty;
  const b2 = plus?.b ?? ctx.empty;
  ctx.dispatch(
    kernel,
    SCALAR_TWIN[variant] ? { a4: a, b4: b, c, bias, scale, a2, b2 } : { a, b, c, bias, scale, a2, b2 },
    {
      M,
      N,
      K,
      batchStrideA: strideA,
      batchStrideB: strideB,
      batchStrideC: strideC,
      alpha: args.alpha ?? 1,
      accumulate: args.accumulate ? 1 : 0,
      hasBias: args.bias ? 1 : 0,
      hasScale: args.scale ? 1 : 0,
      K2: plus?.K ?? 0,
      transB2: plus?.transB ? 1 : 0,
    },
    [Math.ceil(N / tile), Math.ceil(M / tile), batch],
  );
}

// The three products of a linear layer y = x·Wᵀ (+ bias). W is (out×in); `layout` says how it
// is stored: 'out_in' (PyTorch) or 'in_out' (GPT-2's Conv1D) — read in place, never transposed.

export type WeightLayout = 'out_in' | 'in_out';

export interface LinearDims {
  rows: number;
  in: number;
  out: number;
  layout?: WeightLayout;
}

/** Y (N×out) = X (N×in) · Wᵀ (+ bias); `accumulate` adds to Y. */
export function linearForward(
  ctx: GpuContext,
  x: Tensor,
  w: Tensor,
  y: Tensor,
  dims: LinearDims,
  opts: Pick<MatmulArgs, 'bias' | 'accumulate' | 'alpha' | 'variant' | 'plus'> = {},
): void {
  const transB = (dims.layout ?? 'out_in') === 'out_in';
  matmul(ctx, { a: x, b: w, c: y, M: dims.rows, N: dims.out, K: dims.in, transB, ...opts });
}

/** dX (N×in) = G (N×out) · W. */
export function linearBackwardInput(
  ctx: GpuContext,
  g: Tensor,
  w: Tensor,
  dx: Tensor,
  dims: LinearDims,
  opts: Pick<MatmulArgs, 'accumulate' | 'alpha' | 'variant' | 'plus'> = {},
): void {
  const transB = (dims.layout ?? 'out_in') === 'in_out';
  matmul(ctx, { a: g, b: w, c: dx, M: dims.rows, N: dims.in, K: dims.out, transB, ...opts });
}

/** dW (out×in, 'out_in' layout) = Gᵀ (out×N) · X (N×in). */
export function linearBackwardWeight(
  ctx: GpuContext,
  g: Tensor,
  x: Tensor,
  dw: Tensor,
  dims: LinearDims,
  opts: Pick<MatmulArgs, 'accumulate' | 'alpha' | 'variant'> = {},
): void {
  matmul(ctx, { a: g, b: x, c: dw, M: dims.out, N: dims.in, K: dims.rows, transA: true, ...opts });
}
