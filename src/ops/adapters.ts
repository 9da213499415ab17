// Launchers for shaders/adapters.wgsl. Each checks its operands' sizes (not their element
// types: checkTensor gets dtype null; every operand is f32), then records one dispatch.
// Shapes: U, Uσ, A, B are (out×R); D is (R×in); σ is (R); Mg is (R×R); c, m, n, g are (out);
// P/Q, L/Y, G, Gs, Gl are (N×out). Uσ = U·diag(σ) is formed by the kernels as they read U.

import adaptersWgsl from '../../shaders/adapters.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { checkTensor, ELEMENTWISE_GROUP, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';
import type { WeightLayout } from './matmul';

/** Output rows per workgroup of the kernels with a thread per output row. */
const OUT_GROUP = 64;
/** Rows summed by one workgroup of combine_backward_dot, ROW_LANES threads down each column. */
const ROWS_PER_BLOCK = 256;
const ROW_LANES = 4;
/** Workgroup edge of merge_weight (MERGE_EDGE × MERGE_EDGE threads). */
const MERGE_EDGE = 16;

/** The override constants of adapters.wgsl, the same for each of its entry points. */
const CONSTANTS = { GROUP: ELEMENTWISE_GROUP, OUT_GROUP, ROWS_PER_BLOCK, ROW_LANES, MERGE_EDGE };

const kernel = kernelsByKey((entryPoint: string) => ({ name: entryPoint, code: adaptersWgsl, entryPoint, constants: CONSTANTS }));

/** c_j = ‖W0_j‖ for W0 (out×in) stored in `layout`. */
export function rowNorms(ctx: GpuContext, w0: Tensor, out: Tensor, dims: { out: number; in: number; layout: WeightLayout }): void {
  const name = 'row_norms';
  checkTensor(name, w0, 'W0', dims.out * dims.in, `out×in = ${dims.out}×${dims.in}`, null);
  checkTensor(name, out, 'c', dims.out, `out = ${dims.out}`, null);
  ctx.dispatch(kernel(ctx, name), { w0, normsOut: out }, { rows: dims.out, cols: dims.in, inOut: dims.layout === 'in_out' ? 1 : 0 }, [
    Math.ceil(dims.out / OUT_GROUP),
  ]);
}

/** n_j = sqrt(c_j² + 2·Uσ_j·A_j + Uσ_j·Mg·Uσ_jᵀ + ε), g_j = mag_j/n_j. */
export function columnNormPass(
  ctx: GpuContext,
  t: { c: Tensor; mag: Tensor; u: Tensor; sigma: Tensor; w0dT: Tensor; gram: Tensor; n: Tensor; g: Tensor },
  dims: { out: number; rank: number; eps: number },
): void {
  const name = 'column_norm_pass';
  const { out, rank } = dims;
  const o = `out = ${out}`;
  const or = `out×rank = ${out}×${rank}`;
  checkTensor(name, t.c, 'c', out, o, null);
  checkTensor(name, t.mag, 'mag', out, o, null);
  checkTensor(name, t.u, 'U', out * rank, or, null);
  checkTensor(name, t.sigma, 'σ', rank, `rank = ${rank}`, null);
  checkTensor(name, t.w0dT, 'W0·Dᵀ', out * rank, or, null);
  checkTensor(name, t.gram, 'D·Dᵀ', rank * rank, `rank×rank = ${rank}×${rank}`, null);
  checkTensor(name, t.n, 'n', out, o, null);
  checkTensor(name, t.g, 'g', out, o, null);
  ctx.dispatch(
    kernel(ctx, name),
    { cNorm: t.c, mag: t.mag, uFactor: t.u, sigma: t.sigma, w0dT: t.w0dT, gram: t.gram, nOut: t.n, gOut: t.g },
    { outF: out, rank, eps: dims.eps },
    [Math.ceil(out / OUT_GROUP)],
  );
}

/** Y = Q⊙g + ρ·L (+ bias, unscaled), L = Hs·Uᵀ formed from Hs (rows×R) and U (out×R) when ρ ≠ 0. */
export function combineForward(
  ctx: GpuContext,
  t: { q: Tensor; hs: Tensor; u: Tensor; g: Tensor; bias?: Tensor | undefined; y: Tensor },
  dims: { rows: number; out: number; rank: number; rho: number },
): void {
  const name = 'combine_forward';
  const { rows, out, rank } = dims;
  const total = rows * out;
  const ro = `rows×out = ${rows}×${out}`;
  checkTensor(name, t.q, 'Q', total, ro, null);
  checkTensor(name, t.hs, 'Hs', rows * rank, `rows×rank = ${rows}×${rank}`, null);
  checkTensor(name, t.u, 'U', out * rank, `out×rank = ${out}×${rank}`, null);
  checkTensor(name, t.y, 'Y', total, ro, null);
  checkTensor(name, t.g, 'g', out, `out = ${out}`, null);
  if (t.bias) checkTensor(name, t.bias, 'bias', out, `out = ${out}`, null);
  ctx.dispatch(
    kernel(ctx, name),
    { qSaved: t.q, hsIn: t.hs, uFactor: t.u, yBuf: t.y, gScale: t.g, combineBias: t.bias ?? ctx.empty },
    { rows, outF: out, rho: dims.rho, hasBias: t.bias ? 1 : 0, rank },
    [gridStrideWorkgroups(ctx, total)],
  );
}

/** What the backward needs of dg_j = Σ_n G[n,j]·Q[n,j], the gradient of the norm scale g. */
export interface NormScaleGrad {
  q: Tensor;
  c: Tensor;
  n: Tensor;
  /**
   *   'd2lora-a':  coeff = a,   a_j = −dg_j·c_j/n_j³
   *   'dora-dm':   coeff = dm,  dm_j += dg_j/n_j
   */
  coeff: Tensor;
  mode: 'd2lora-a' | 'dora-dm';
}

/**
 * Gs = G⊙g, Gl = G⊙(g + ρ); with `dot`, also dg and its coefficient (NormScaleGrad), the
 * partial sums of dg in the same pass over G (two dispatches in all, one without `dot`).
 */
export function combineBackward(
  ctx: GpuContext,
  t: { dy: Tensor; g: Tensor; gs: Tensor; gl: Tensor },
  dims: { rows: number; out: number; rho: number },
  dot?: NormScaleGrad,
): void {
  const { rows, out, rho } = dims;
  const name = dot ? 'combine_backward_dot' : 'combine_backward';
  const total = rows * out;
  const ro = `rows×out = ${rows}×${out}`;
  for (const [role, x] of [['G', t.dy], ['Gs', t.gs], ['Gl', t.gl]] as const) checkTensor(name, x, role, total, ro, null);
  checkTensor(name, t.g, 'g', out, `out = ${out}`, null);
  const bindings = { gradOut: t.dy, gScale: t.g, gradS: t.gs, gradL: t.gl };
  if (!dot) {
    ctx.dispatch(kernel(ctx, name), bindings, { rows, outF: out, rho, hasBias: 0, rank: 0 }, [gridStrideWorkgroups(ctx, total)]);
    return;
  }
  checkTensor(name, dot.q, 'Q', total, ro, null);
  for (const [role, x] of [['c', dot.c], ['n', dot.n], ['coeff', dot.coeff]] as const) {
    checkTensor('column_dot_finish', x, role, out, `out = ${out}`, null);
  }
  const blocks = Math.max(1, Math.ceil(rows / ROWS_PER_BLOCK));
  const partials = ctx.tensor([blocks, out], 'f32', 'column-dot partials');
  const params = { rows, outF: out, blocks, mode: dot.mode === 'd2lora-a' ? 0 : 1, rho };
  ctx.dispatch(kernel(ctx, name), { ...bindings, qSaved: dot.q, partials }, params, [Math.ceil(out / OUT_GROUP), blocks]);
  ctx.dispatch(kernel(ctx, 'column_dot_finish'), { partials, nSaved: dot.n, cNorm: dot.c, coeff: dot.coeff }, params, [Math.ceil(out / OUT_GROUP)]);
  partials.release();
}

/**
 * The norm's share of D2-LoRA's backward, given a (combineBackward's 'd2lora-a'):
 *   dU[j,k] += a_j·σ_k·(A[j,k] + (Uσ·Mg)[j,k]),  B = diag(a)·Uσ,  uSigma = Uσ
 * (B and Uσ are written into the given out×R tensors, for dD += Bᵀ·W0 + (Bᵀ·Uσ)·D).
 */
export function normGradTerms(
  ctx: GpuContext,
  t: { a: Tensor; u: Tensor; sigma: Tensor; w0dT: Tensor; gram: Tensor; dU: Tensor; b: Tensor; uSigma: Tensor },
  dims: { out: number; rank: number },
): void {
  const name = 'norm_grad_terms';
  const { out, rank } = dims;
  const or = `out×rank = ${out}×${rank}`;
  checkTensor(name, t.a, 'a', out, `out = ${out}`, null);
  checkTensor(name, t.sigma, 'σ', rank, `rank = ${rank}`, null);
  checkTensor(name, t.gram, 'D·Dᵀ', rank * rank, `rank×rank = ${rank}×${rank}`, null);
  for (const [role, x] of [['U', t.u], ['W0·Dᵀ', t.w0dT], ['dU', t.dU], ['B', t.b], ['Uσ', t.uSigma]] as const) checkTensor(name, x, role, out * rank, or, null);
  ctx.dispatch(
    kernel(ctx, name),
    { aCoeff: t.a, uFactor: t.u, sigma: t.sigma, w0dT: t.w0dT, gram: t.gram, dU: t.dU, bOut: t.b, uSigmaOut: t.uSigma },
    { outF: out, rank },
    [gridStrideWorkgroups(ctx, out * rank)],
  );
}

/** Ŵ = diag(g)·(W0 + Uσ·D) + ρ·Uσ·D, written in W0's layout into `merged`. */
export function mergeWeight(
  ctx: GpuContext,
  t: { w0: Tensor; u: Tensor; sigma: Tensor; d: Tensor; g: Tensor; merged: Tensor },
  dims: { out: number; in: number; rank: number; layout: WeightLayout; rho: number },
): void {
  const name = 'merge_weight';
  const { out, rank } = dims;
  const oi = `out×in = ${out}×${dims.in}`;
  checkTensor(name, t.w0, 'W0', out * dims.in, oi, null);
  checkTensor(name, t.u, 'U', out * rank, `out×rank = ${out}×${rank}`, null);
  checkTensor(name, t.sigma, 'σ', rank, `rank = ${rank}`, null);
  checkTensor(name, t.d, 'D', rank * dims.in, `rank×in = ${rank}×${dims.in}`, null);
  checkTensor(name, t.g, 'g', out, `out = ${out}`, null);
  checkTensor(name, t.merged, 'Ŵ', out * dims.in, oi, null);
  const inOut = dims.layout === 'in_out';
  const [fast, slow] = inOut ? [out, dims.in] : [dims.in, out];
  ctx.dispatch(
    kernel(ctx, name),
    { w0: t.w0, uFactor: t.u, sigma: t.sigma, dFactor: t.d, gScale: t.g, merged: t.merged },
    { outF: out, inF: dims.in, rank, inOut: inOut ? 1 : 0, rho: dims.rho },
    [Math.ceil(fast / MERGE_EDGE), Math.ceil(slow / MERGE_EDGE)],
  );
}
