// Launchers for shaders/norms.wgsl: RMSNorm (Llama, Qwen2) and LayerNorm (GPT-2), forward
// and backward. One workgroup per row (rows beyond the dispatch limit are looped over), with a
// fixed-order reduction, so results are reproducible bit for bit. The weights are frozen: the
// backwards give dx only, and `accumulate` adds into dx (the residual stream's gradient).

import normsWgsl from '../../shaders/norms.wgsl?raw';
import type { GpuContext, Kernel } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { checkDims, checkTensor, gridStrideWorkgroups } from './checks';

function kernel(ctx: GpuContext, entryPoint: string): Kernel {
  return ctx.kernel({ name: entryPoint, code: normsWgsl, entryPoint });
}

/** Checks rows and dim (a norm over zero features is undefined) and returns the workgroup count (one per row). */
function rowGroups(ctx: GpuContext, name: string, rows: number, dim: number): number {
  checkDims(name, { rows, dim });
  if (dim === 0) throw new KernelError(name, 'dim=0: a norm needs at least one feature');
  return gridStrideWorkgroups(ctx, rows, 1);
}

function checkEps(name: string, eps: number): void {
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new KernelError(name, `eps=${eps} must be a finite number ≥ 0`);
}

/** Checks each [role, tensor, elements, dims] of one kernel. */
function checkAll(name: string, list: [string, Tensor, number, string][]): void {
  for (const [role, t, elements, dims] of list) checkTensor(name, t, role, elements, dims);
}

/** y = x/sqrt(mean(x²) + eps) ⊙ w; rstd = 1/sqrt(mean(x²) + eps).   x, y (rows×dim), weight (dim), rstd (rows) */
export function rmsnormForward(
  ctx: GpuContext,
  t: { x: Tensor; weight: Tensor; y: Tensor; rstd: Tensor },
  dims: { rows: number; dim: number; eps: number },
): void {
  const name = 'rmsnorm_forward';
  const { rows, dim, eps } = dims;
  const groups = rowGroups(ctx, name, rows, dim);
  checkEps(name, eps);
  const rd = `rows×dim = ${rows}×${dim}`;
  checkAll(name, [
    ['x', t.x, rows * dim, rd],
    ['weight', t.weight, dim, `dim = ${dim}`],
    ['y', t.y, rows * dim, rd],
    ['rstd', t.rstd, rows, `rows = ${rows}`],
  ]);
  ctx.dispatch(kernel(ctx, name), { normIn: t.x, weight: t.weight, normOut: t.y, rstdOut: t.rstd }, { rows, dim, eps }, [groups]);
}

/** dx (+)= r·(dy⊙w − x·r²·Σ(dy⊙w⊙x)/dim), r = rstd of the row.   dy, x, dx (rows×dim), weight (dim), rstd (rows) */
export function rmsnormBackward(
  ctx: GpuContext,
  t: { dy: Tensor; x: Tensor; weight: Tensor; rstd: Tensor; dx: Tensor },
  dims: { rows: number; dim: number; accumulate: boolean },
): void {
  const name = 'rmsnorm_backward';
  const { rows, dim } = dims;
  const groups = rowGroups(ctx, name, rows, dim);
  const rd = `rows×dim = ${rows}×${dim}`;
  checkAll(name, [
    ['dy', t.dy, rows * dim, rd],
    ['x', t.x, rows * dim, rd],
    ['weight', t.weight, dim, `dim = ${dim}`],
    ['rstd', t.rstd, rows, `rows = ${rows}`],
    ['dx', t.dx, rows * dim, rd],
  ]);
  ctx.dispatch(
    kernel(ctx, name),
    { dy: t.dy, normIn: t.x, weight: t.weight, rstdSaved: t.rstd, dx: t.dx },
    { rows, dim, accumulate: dims.accumulate ? 1 : 0 },
    [groups],
  );
}

/**
 * y = (x − mean)/sqrt(var + eps) ⊙ w + b (biased variance); mean and rstd = 1/sqrt(var + eps) are
 * kept for the backward.   x, y (rows×dim), weight, bias (dim), mean, rstd (rows)
 */
export function layernormForward(
  ctx: GpuContext,
  t: { x: Tensor; weight: Tensor; bias: Tensor; y: Tensor; mean: Tensor; rstd: Tensor },
  dims: { rows: number; dim: number; eps: number },
): void {
  const name = 'layernorm_forward';
  const { rows, dim, eps } = dims;
  const groups = rowGroups(ctx, name, rows, dim);
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
  ctx.dispatch(
    kernel(ctx, name),
    { normIn: t.x, weight: t.weight, bias: t.bias, normOut: t.y, meanOut: t.mean, rstdOut: t.rstd },
    { rows, dim, eps },
    [groups],
  );
}

/** dx (+)= r·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙w, x̂ = (x − mean)·r.   dy, x, dx (rows×dim), weight (dim), mean, rstd (rows) */
export function layernormBackward(
  ctx: GpuContext,
  t: { dy: Tensor; x: Tensor; weight: Tensor; mean: Tensor; rstd: Tensor; dx: Tensor },
  dims: { rows: number; dim: number; accumulate: boolean },
): void {
  const name = 'layernorm_backward';
  const { rows, dim } = dims;
  const groups = rowGroups(ctx, name, rows, dim);
  const rd = `rows×dim = ${rows}×${dim}`;
  checkAll(name, [
    ['dy', t.dy, rows * dim, rd],
    ['x', t.x, rows * dim, rd],
    ['weight', t.weight, dim, `dim = ${dim}`],
    ['mean', t.mean, rows, `rows = ${rows}`],
    ['rstd', t.rstd, rows, `rows = ${rows}`],
    ['dx', t.dx, rows * dim, rd],
  ]);
  ctx.dispatch(
    kernel(ctx, name),
    { dy: t.dy, normIn: t.x, weight: t.weight, meanSaved: t.mean, rstdSaved: t.rstd, dx: t.dx },
    { rows, dim, accumulate: dims.accumulate ? 1 : 0 },
    [groups],
  );
}
