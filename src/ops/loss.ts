// Launchers for shaders/loss.wgsl: cross-entropy (loss, and its gradient) over rows of logits,
// and the row argmax for greedy decoding. The caller gathers the rows that carry loss first.
//
//   logits, dlogits (rows × vocab); targets (u32, rows); weights, losses (rows); out (u32, rows)

import lossWgsl from '../../shaders/loss.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { checkDims, checkTensor, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';

/** Threads of a row's workgroup (the WGSL's override THREADS): a power of two, for the reduction trees. */
const THREADS = 256;

const kernel = kernelsByKey((entryPoint: string) => ({ name: entryPoint, code: lossWgsl, entryPoint, constants: { THREADS } }));

/** Checks rows (may be 0) and vocab (at least 1). */
function checkRowsVocab(name: string, rows: number, vocab: number): void {
  checkDims(name, { rows });
  checkDims(name, { vocab }, 1);
}

/** One workgroup per row, at most the device's per-dimension limit (the kernels loop over rows). */
function rowGroups(ctx: GpuContext, rows: number): number {
  return gridStrideWorkgroups(ctx, rows, 1);
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
  checkRowsVocab(name, rows, vocab);
  const rv = `rows×vocab = ${rows}×${vocab}`;
  checkTensor(name, t.logits, 'logits', rows * vocab, rv);
  checkTensor(name, t.targets, 'targets', rows, `rows = ${rows}`, 'u32');
  checkTensor(name, t.losses, 'losses', rows, `rows = ${rows}`);
  const bindings: Record<string, Tensor> = { logits: t.logits, targets: t.targets, losses: t.losses };
  if (computeGrad) {
    if (!t.weights || !t.dlogits) throw new KernelError(name, 'computeGrad needs the weights and dlogits tensors');
    checkTensor(name, t.weights, 'weights', rows, `rows = ${rows}`);
    checkTensor(name, t.dlogits, 'dlogits', rows * vocab, rv);
    bindings.weights = t.weights;
    bindings.dlogits = t.dlogits;
  }
  ctx.dispatch(kernel(ctx, name), bindings, { rows, vocab }, [rowGroups(ctx, rows)]);
}

/** Records out_i = argmax_c logits_ic (ties to the lowest index). */
export function argmaxRows(ctx: GpuContext, t: { logits: Tensor; out: Tensor }, dims: { rows: number; vocab: number }): void {
  const name = 'argmax_rows';
  const { rows, vocab } = dims;
  checkRowsVocab(name, rows, vocab);
  checkTensor(name, t.logits, 'logits', rows * vocab, `rows×vocab = ${rows}×${vocab}`);
  checkTensor(name, t.out, 'out', rows, `rows = ${rows}`, 'u32');
  ctx.dispatch(kernel(ctx, name), { logits: t.logits, argmaxOut: t.out }, { rows, vocab }, [rowGroups(ctx, rows)]);
}
