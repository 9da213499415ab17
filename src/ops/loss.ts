// Launchers for shaders/loss.wgsl: cross-entropy (loss, and its gradient) over rows of logits,
// and the row argmax for greedy decoding. The caller gathers the rows that carry loss first.
//
//   logits, dlogits (rows × vocab); targets (u32, rows); weights, losses (rows); out (u32, rows)

import lossWgsl from '../../shaders/loss.wgsl?raw';
import type { GpuContext, Kernel } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';

function kernel(ctx: GpuContext, entryPoint: string): Kernel {
  return ctx.kernel({ name: entryPoint, code: lossWgsl, entryPoint });
}

function checkDims(name: string, rows: number, vocab: number): void {
  if (!Number.isInteger(rows) || rows < 0) throw new KernelError(name, `rows=${rows} must be a non-negative integer`);
  if (!Number.isInteger(vocab) || vocab < 1) throw new KernelError(name, `vocab=${vocab} must be a positive integer`);
}

function expectTensor(name: string, t: Tensor, role: string, size: number, dtype: 'f32' | 'u32' = 'f32'): void {
  if (t.dtype !== dtype) throw new KernelError(name, `${role} "${t.label}" is ${t.dtype}, expected ${dtype}`);
  if (t.size < size) {
    throw new KernelError(name, `shape mismatch: ${role} "${t.label}" has ${t.size} values (shape [${t.shape.join(', ')}]), needs ${size}`);
  }
}

/** One workgroup per row, at most the device's per-dimension limit (the kernels loop over rows). */
function rowGroups(ctx: GpuContext, rows: number): number {
  return Math.min(rows, ctx.limits.maxComputeWorkgroupsPerDimension);
}

/**
 * Records losses_i = logsumexp(logits_i) − logits_i[target_i] and, with computeGrad,
 * dlogits_i = weights_i·(softmax(logits_i) − onehot(target_i)) (weights = 1/rows: the gradient of
 * the mean loss). −losses are the log-probabilities of the targets (multiple-choice scoring).
 * weights and dlogits are needed only with computeGrad. A target ≥ vocab yields a NaN loss.
 */
export function crossEntropy(
  ctx: GpuContext,
  t: { logits: Tensor; targets: Tensor; weights?: Tensor; losses: Tensor; dlogits?: Tensor },
  dims: { rows: number; vocab: number; computeGrad: boolean },
): void {
  const { rows, vocab, computeGrad } = dims;
  const name = computeGrad ? 'cross_entropy_loss_grad' : 'cross_entropy_loss';
  checkDims(name, rows, vocab);
  expectTensor(name, t.logits, 'logits', rows * vocab);
  expectTensor(name, t.targets, 'targets', rows, 'u32');
  expectTensor(name, t.losses, 'losses', rows);
  const bindings: Record<string, Tensor> = { logits: t.logits, targets: t.targets, losses: t.losses };
  if (computeGrad) {
    if (!t.weights || !t.dlogits) throw new KernelError(name, 'computeGrad needs the weights and dlogits tensors');
    expectTensor(name, t.weights, 'weights', rows);
    expectTensor(name, t.dlogits, 'dlogits', rows * vocab);
    bindings.weights = t.weights;
    bindings.dlogits = t.dlogits;
  }
  ctx.dispatch(kernel(ctx, name), bindings, { rows, vocab }, [rowGroups(ctx, rows)]);
}

/** Records out_i = argmax_c logits_ic (ties to the lowest index). */
export function argmaxRows(ctx: GpuContext, t: { logits: Tensor; out: Tensor }, dims: { rows: number; vocab: number }): void {
  const name = 'argmax_rows';
  const { rows, vocab } = dims;
  checkDims(name, rows, vocab);
  expectTensor(name, t.logits, 'logits', rows * vocab);
  expectTensor(name, t.out, 'out', rows, 'u32');
  ctx.dispatch(kernel(ctx, name), { logits: t.logits, argmaxOut: t.out }, { rows, vocab }, [rowGroups(ctx, rows)]);
}
