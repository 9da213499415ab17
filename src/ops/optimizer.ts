// Launchers for shaders/optimizer.wgsl: the gradients' sums of squares by block, the global clip
// factor, and the AdamW step that reads that factor from the GPU — a whole optimizer step is
// recorded with no read-back, in two dispatches per tensor and one more.
//
//   for each adapter tensor s:  sumOfSquaresPartials(grad_s → partials[first_s …])
//   clipFactor(partials → factor = [clip factor, total norm])
//   for each adapter tensor s:  adamwStep(param_s, grad_s, m_s, v_s, factor)

import optimizerWgsl from '../../shaders/optimizer.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { checkDims, checkTensor, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';

/** Threads per workgroup of every optimizer kernel: a power of two, for the reduction trees. */
const THREADS = 256;
/** Elements each thread of sum_squares_partial squares. */
const PER_THREAD = 16;
/** Elements per partial sum of sum_squares_partial (BLOCK in the WGSL). */
const SUM_OF_SQUARES_BLOCK = THREADS * PER_THREAD;

const kernel = kernelsByKey((entryPoint: string) => ({ name: entryPoint, code: optimizerWgsl, entryPoint, constants: { THREADS, PER_THREAD } }));

/** Partial sums sumOfSquaresPartials writes for n elements (one per block; none for n = 0). */
export function sumOfSquaresBlocks(n: number): number {
  return Math.ceil(n / SUM_OF_SQUARES_BLOCK);
}

/**
 * Records partials[first + b] = Σ x² over block b of x's first n elements, for the
 * sumOfSquaresBlocks(n) blocks: each tensor of a model writes its own range of one buffer, and
 * clipFactor sums them all.
 */
export function sumOfSquaresPartials(ctx: GpuContext, t: { x: Tensor; partials: Tensor }, dims: { n: number; first: number }): void {
  const name = 'sum_squares_partial';
  const { n, first } = dims;
  checkDims(name, { n, first });
  const blocks = sumOfSquaresBlocks(n);
  if (blocks > ctx.limits.maxComputeWorkgroupsPerDimension) {
    throw new KernelError(name, `n=${n} needs ${blocks} blocks, over this device's maxComputeWorkgroupsPerDimension; split the tensor`);
  }
  checkTensor(name, t.x, 'x', n, `n = ${n}`);
  checkTensor(name, t.partials, 'partials', first + blocks, `first = ${first} and n = ${n} in blocks of ${SUM_OF_SQUARES_BLOCK}`);
  ctx.dispatch(kernel(ctx, name), { x: t.x, partials: t.partials }, { n, first }, [blocks]);
}

/**
 * Records factor = [min(1, maxNorm/(total + 1e-6)), total] with total = sqrt(Σ partials[0..count)),
 * the partial sums of squares written by sumOfSquaresPartials. maxNorm ≤ 0 turns clipping off
 * (factor 1).
 */
export function clipFactor(ctx: GpuContext, t: { partials: Tensor; factor: Tensor }, dims: { count: number; maxNorm: number }): void {
  const name = 'clip_factor';
  checkDims(name, { count: dims.count });
  if (!Number.isFinite(dims.maxNorm)) throw new KernelError(name, `maxNorm=${dims.maxNorm} must be finite`);
  checkTensor(name, t.partials, 'partials', dims.count, `count = ${dims.count}`);
  checkTensor(name, t.factor, 'factor', 2, '[clip factor, total norm]');
  ctx.dispatch(kernel(ctx, name), { partialSums: t.partials, factorOut: t.factor }, { count: dims.count, maxNorm: dims.maxNorm }, [1]);
}

/** AdamW's hyperparameters (torch.optim.AdamW's names); the CPU reference takes the same. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamWStepDims extends AdamWHyper {
  /** Elements of param (and grad, m, v). */
  n: number;
  /** 1-based step number t, for the bias corrections 1 − βᵗ. */
  step: number;
}

/** Records one AdamW step (torch.optim.AdamW semantics) on factor[0]·grad; param, m, v in place. */
export function adamwStep(
  ctx: GpuContext,
  t: { param: Tensor; grad: Tensor; m: Tensor; v: Tensor; factor: Tensor },
  dims: AdamWStepDims,
): void {
  const name = 'adamw_step';
  const { n, lr, beta1, beta2, eps, weightDecay, step } = dims;
  checkDims(name, { n });
  if (!Number.isInteger(step) || step < 1) throw new KernelError(name, `step=${step} must be an integer ≥ 1`);
  for (const [what, value, ok, expected] of [
    ['lr', lr, lr >= 0, '≥ 0'],
    ['beta1', beta1, beta1 >= 0 && beta1 < 1, 'in [0, 1)'],
    ['beta2', beta2, beta2 >= 0 && beta2 < 1, 'in [0, 1)'],
    ['eps', eps, eps > 0, '> 0'],
    ['weightDecay', weightDecay, weightDecay >= 0, '≥ 0'],
  ] as const) {
    if (!Number.isFinite(value) || !ok) throw new KernelError(name, `${what}=${value} must be finite and ${expected}`);
  }
  for (const [role, x] of [['param', t.param], ['grad', t.grad], ['m', t.m], ['v', t.v]] as const) checkTensor(name, x, role, n, `n = ${n}`);
  checkTensor(name, t.factor, 'factor', 1, 'the clip factor');
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  ctx.dispatch(
    kernel(ctx, name),
    { param: t.param, grad: t.grad, expAvg: t.m, expAvgSq: t.v, factorIn: t.factor },
    {
      n,
      decay: 1 - lr * weightDecay,
      beta1,
      oneMinusBeta1: 1 - beta1,
      beta2,
      oneMinusBeta2: 1 - beta2,
      eps,
      stepSize: lr / bc1,
      bc2Sqrt: Math.sqrt(bc2),
    },
    [gridStrideWorkgroups(ctx, n, THREADS)],
  );
}
