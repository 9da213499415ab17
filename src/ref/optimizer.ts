// f64 CPU reference of shaders/optimizer.wgsl: global gradient-norm clipping and AdamW with
// decoupled weight decay, as torch.optim.AdamW does it (Loshchilov & Hutter, "Decoupled Weight
// Decay Regularization", Algorithm 2). The oracle of the kernel tests.

import type { AdamWHyper } from '../ops/optimizer';

/** One tensor's optimizer state; updated in place. */
export interface AdamWRefState {
  param: Float64Array;
  /** First moment m. */
  m: Float64Array;
  /** Second moment v. */
  v: Float64Array;
}

/** Σ x². */
export function sumOfSquaresRef(x: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!;
  return sum;
}

/**
 * From the per-tensor sums of squares: total = sqrt(Σ sums), factor = min(1, maxNorm/(total +
 * 1e-6)) when maxNorm > 0, else 1 (clipping off) — torch.nn.utils.clip_grad_norm_'s factor.
 */
export function clipFactorRef(sums: ArrayLike<number>, maxNorm: number): { factor: number; totalNorm: number } {
  let sum = 0;
  for (let i = 0; i < sums.length; i++) sum += sums[i]!;
  const totalNorm = Math.sqrt(sum);
  // A non-finite norm gives factor 0: the step is skipped (see adamwStepRef).
  if (!Number.isFinite(totalNorm)) return { factor: 0, totalNorm };
  return { factor: maxNorm > 0 ? Math.min(1, maxNorm / (totalNorm + 1e-6)) : 1, totalNorm };
}

/**
 * Step t (≥ 1) of AdamW on g = factor·grad:
 *   p ← p − lr·wd·p
 *   m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
 *   p ← p − lr · (m / (1 − β1ᵗ)) / (sqrt(v / (1 − β2ᵗ)) + eps)
 */
export function adamwStepRef(state: AdamWRefState, grad: ArrayLike<number>, factor: number, hp: AdamWHyper, step: number): void {
  const { param, m, v } = state;
  if (factor === 0) return; // clip factor 0 marks a non-finite gradient: the step is skipped
  const bc1 = 1 - hp.beta1 ** step;
  const bc2 = 1 - hp.beta2 ** step;
  for (let i = 0; i < param.length; i++) {
    const g = factor * grad[i]!;
    param[i] -= hp.lr * hp.weightDecay * param[i]!;
    m[i] = hp.beta1 * m[i]! + (1 - hp.beta1) * g;
    v[i] = hp.beta2 * v[i]! + (1 - hp.beta2) * g * g;
    param[i] -= (hp.lr * (m[i]! / bc1)) / (Math.sqrt(v[i]! / bc2) + hp.eps);
  }
}
