// Launchers for shaders/norms.wgsl: RMSNorm (Llama, Qwen2) and LayerNorm (GPT-2), forward
// and backward, with a fixed-order reduction, so results are reproducible bit for bit. The
// weights are frozen: the backwards give dx only, and `accumulate` adds into dx (the residual
// stream's gradient). Given a `residual`, a forward first adds it into x in place and
// normalises the sum: a block's residual add rides on the norm that follows it.
//
// Two variants of each kernel (see the WGSL): 'workgroup', one workgroup per row, its width
// fitted to dim (32 … 256 threads), and 'thread', one thread per row with no workgroup memory or
// barrier. Unless asked for one, a launcher takes 'thread' for dim ≤ THREAD_MAX_DIM: a row that
// narrow is too little work to spread over a workgroup, and on lavapipe, where a workgroup's
// cost grows with its width however few of its threads have work, it is 20–100× faster (896
// rows × 64, RMSNorm forward: 28 ms at 256 threads a row, 5 ms at 64, 0.3 ms a thread a row).
// Wider rows take 'workgroup', whose threads read a row together, coalesced, which a GPU needs
// when rows are few (one row a token in generation). On CPU drivers (lavapipe, SwiftShader)
// 'thread' is taken at every width: there it is faster everywhere (512 × 576, 14 → 1.1 ms).

import normsWgsl from '../../shaders/norms.wgsl?raw';
import type { Binding, GpuContext, Kernel } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { checkDims, checkTensor, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';

/** How a norm kernel maps rows to threads: a workgroup per row, or a thread per row. */
export type NormVariant = 'workgroup' | 'thread';
export const NORM_VARIANTS: readonly NormVariant[] = ['workgroup', 'thread'];

export interface NormOptions {
  /** Default: 'thread' for dim ≤ THREAD_MAX_DIM, else 'workgroup'. */
  variant?: NormVariant;
}

/** Widest row the automatic choice gives a thread of its own. */
const THREAD_MAX_DIM = 128;
/** Rows per workgroup of the thread-per-row kernels (the WGSL's override ROW_GROUP). */
const ROW_GROUP = 64;

/** Threads of the workgroup-per-row kernels (the WGSL's override GROUP): the power of two ≤ dim, within 32 … 256. */
export function normGroupWidth(dim: number): number {
  return Math.min(256, Math.max(32, 2 ** Math.floor(Math.log2(Math.max(dim, 1)))));
}

/** The thread-per-row kernel of `name`: the entry point `${name}_rows`. */
const rowKernel = kernelsByKey((name: string) => ({ name: `${name}_rows`, code: normsWgsl, entryPoint: `${name}_rows`, constants: { ROW_GROUP } }));

/** The workgroup-per-row kernel `${entry point}_${width}`: the entry point at GROUP = width. */
const workgroupKernel = kernelsByKey((key: string) => {
  const cut = key.lastIndexOf('_');
  return { name: key, code: normsWgsl, entryPoint: key.slice(0, cut), constants: { GROUP: Number(key.slice(cut + 1)) } };
});

/** Checks rows and dim: a norm over zero features is undefined. */
function checkRows(name: string, rows: number, dim: number): void {
  checkDims(name, { rows, dim });
  if (dim === 0) throw new KernelError(name, 'dim=0: a norm needs at least one feature');
}

/**
 * Records kernel `name` (in the variant asked for, or chosen from dim) over `rows` rows of
 * `dim`: the thread-per-row kernels are the entry points `${name}_rows`.
 */
function dispatchRows(
  ctx: GpuContext,
  name: string,
  variant: NormVariant | undefined,
  bindings: Record<string, Binding>,
  params: { rows: number; dim: number } & Record<string, number>,
): void {
  const { rows, dim } = params;
  const chosen = variant ?? (dim <= THREAD_MAX_DIM || ctx.adapter.isCpu ? 'thread' : 'workgroup');
  let kernel: Kernel;
  let groups: number;
  if (chosen === 'thread') {
    kernel = rowKernel(ctx, name);
    groups = gridStrideWorkgroups(ctx, rows, ROW_GROUP);
  } else if (chosen === 'workgroup') {
    kernel = workgroupKernel(ctx, `${name}_${normGroupWidth(dim)}`);
    groups = gridStrideWorkgroups(ctx, rows, 1);
  } else {
    throw new KernelError(name, `variant "${String(chosen)}" is not one of ${NORM_VARIANTS.join(', ')}`);
  }
  ctx.dispatch(kernel, bindings, params, [groups]);
}

/**
 * The bindings of a forward's input: x, written in place (x += residual) when there is a
 * residual (rows×dim, another tensor than x); an unread placeholder otherwise.
 */
function streamBindings(ctx: GpuContext, name: string, x: Tensor, residual: Tensor | undefined, rows: number, dim: number) {
  if (residual) {
    checkTensor(name, residual, 'residual', rows * dim, `rows×dim = ${rows}×${dim}`);
    if (residual.buffer === x.buffer) throw new KernelError(name, `residual "${residual.label}" shares a buffer with x "${x.label}": the sum is written into x, so they must be different tensors`);
  }
  return { bindings: { stream: x, residual: residual ?? ctx.empty }, hasResidual: residual ? 1 : 0 };
}

function checkEps(name: string, eps: number): void {
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new KernelError(name, `eps=${eps} must be a finite number ≥ 0`);
}

/** Checks each [role, tensor, elements, dims] of one kernel. */
function checkAll(name: string, list: [string, Tensor, number, string][]): void {
  for (const [role, t, elements, dims] of list) checkTensor(name, t, role, elements, dims);
}

/**
 * y = x/sqrt(mean(x²) + eps) ⊙ w; rstd = 1/sqrt(mean(x²) + eps); with `residual`, x += residual
 * first (in place) and the norm is of the sum.   x, residual, y (rows×dim), weight (dim), rstd (rows)
 */
export function rmsnormForward(
  ctx: GpuContext,
  t: { x: Tensor; residual?: Tensor; weight: Tensor; y: Tensor; rstd: Tensor },
  dims: { rows: number; dim: number; eps: number },
  options: NormOptions = {},
): void {
  const name = 'rmsnorm_forward';
  const { rows, dim, eps } = dims;
  checkRows(name, rows, dim);
  checkEps(name, eps);
  const rd = `rows×dim = ${rows}×${dim}`;
  checkAll(name, [
    ['x', t.x, rows * dim, rd],
    ['weight', t.weight, dim, `dim = ${dim}`],
    ['y', t.y, rows * dim, rd],
    ['rstd', t.rstd, rows, `rows = ${rows}`],
  ]);
  const input = streamBindings(ctx, name, t.x, t.residual, rows, dim);
  dispatchRows(ctx, name, options.variant, { ...input.bindings, weight: t.weight, normOut: t.y, rstdOut: t.rstd }, { rows, dim, eps, hasResidual: input.hasResidual });
}

/** dx (+)= r·(dy⊙w − x·r²·Σ(dy⊙w⊙x)/dim), r = rstd of the row.   dy, x, dx (rows×dim), weight (dim), rstd (rows) */
export function rmsnormBackward(
  ctx: GpuContext,
  t: { dy: Tensor; x: Tensor; weight: Tensor; rstd: Tensor; dx: Tensor },
  dims: { rows: number; dim: number; accumulate: boolean },
  options: NormOptions = {},
): void {
  const name = 'rmsnorm_backward';
  const { rows, dim } = dims;
  checkRows(name, rows, dim);
  const rd = `rows×dim = ${rows}×${dim}`;
  checkAll(name, [
    ['dy', t.dy, rows * dim, rd],
    ['x', t.x, rows * dim, rd],
    ['weight', t.weight, dim, `dim = ${dim}`],
    ['rstd', t.rstd, rows, `rows = ${rows}`],
    ['dx', t.dx, rows * dim, rd],
  ]);
  dispatchRows(
    ctx,
    name,
    options.variant,
    { dy: t.dy, normIn: t.x, weight: t.weight, rstdSaved: t.rstd, dx: t.dx },
    { rows, dim, accumulate: dims.accumulate ? 1 : 0 },
  );
}

/**
 * y = (x − mean)/sqrt(var + eps) ⊙ w + b (biased variance); mean and rstd = 1/sqrt(var + eps) are
 * kept for the backward; with `residual`, x += residual first (in place) and the norm is of the
 * sum.   x, residual, y (rows×dim), weight, bias (dim), mean, rstd (rows)
 */
export function layernormForward(
  ctx: GpuContext,
  t: { x: Tensor; residual?: Tensor; weight: Tensor; bias: Tensor; y: Tensor; mean: Tensor; rstd: Tensor },
  dims: { rows: number; dim: number; eps: number },
  options: NormOptions = {},
): void {
  const name = 'layernorm_forward';
  const { rows, dim, eps } = dims;
  checkRows(name, rows, dim);
  checkEps(name, eps);
  const rd = `rows×dim = ${rows}×${dim}`;
  checkAll(name, [
    ['x', t.x, rows * dim, rd],
    ['weight', t.weight, dim, `dim = ${dim}`],
    ['bias', t.bias, dim, `dim = ${dim}`],
    ['y', t.y, rows * dim, rd],
    ['mean', t.mean, rows, `rows = ${rows}`],
    ['rstd', t.rstd, rows, `rows = ${rows}`],
  ]);
  const input = streamBindings(ctx, name, t.x, t.residual, rows, dim);
  dispatchRows(
    ctx,
    name,
    options.variant,
    { ...input.bindings, weight: t.weight, bias: t.bias, normOut: t.y, meanOut: t.mean, rstdOut: t.rstd },
    { rows, dim, eps, hasResidual: input.hasResidual },
  );
}

/** dx (+)= r·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙w, x̂ = (x − mean)·r.   dy, x, dx (rows×dim), weight (dim), mean, rstd (rows) */
export function layernormBackward(
  ctx: GpuContext,
  t: { dy: Tensor; x: Tensor; weight: Tensor; mean: Tensor; rstd: Tensor; dx: Tensor },
  dims: { rows: number; dim: number; accumulate: boolean },
  options: NormOptions = {},
): void {
  const name = 'layernorm_backward';
  const { rows, dim } = dims;
  checkRows(name, rows, dim);
  const rd = `rows×dim = ${rows}×${dim}`;
  checkAll(name, [
    ['dy', t.dy, rows * dim, rd],
    ['x', t.x, rows * dim, rd],
    ['weight', t.weight, dim, `dim = ${dim}`],
    ['mean', t.mean, rows, `rows = ${rows}`],
    ['rstd', t.rstd, rows, `rows = ${rows}`],
    ['dx', t.dx, rows * dim, rd],
  ]);
  dispatchRows(
    ctx,
    name,
    options.variant,
    { dy: t.dy, normIn: t.x, weight: t.weight, meanSaved: t.mean, rstdSaved: t.rstd, dx: t.dx },
    { rows, dim, accumulate: dims.accumulate ? 1 : 0 },
  );
}
