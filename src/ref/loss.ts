// f64 CPU reference of shaders/loss.wgsl: cross-entropy over rows of logits and the greedy
// argmax. The oracle of the kernel tests.
//
//   logits (rows × vocab), targets (rows), weights (rows)
//   losses_i  = logsumexp(logits_i) − logits_i[target_i]        (per-token NLL, unweighted)
//   dlogits_i = weights_i · (softmax(logits_i) − onehot(target_i))
// With weights = 1/rows, dlogits is the gradient of the mean loss; −losses are log-probs.

export interface CrossEntropyRef {
  /** (rows) */
  losses: Float64Array;
  /** (rows × vocab) */
  dlogits: Float64Array;
}

/** Row i's log Σ_c exp(logits_ic), shifted by the row max for stability. */
function rowLogSumExp(logits: ArrayLike<number>, base: number, vocab: number): number {
  let max = -Infinity;
  for (let c = 0; c < vocab; c++) max = Math.max(max, logits[base + c]!);
  let sum = 0;
  for (let c = 0; c < vocab; c++) sum += Math.exp(logits[base + c]! - max);
  return max + Math.log(sum);
}

export function crossEntropyRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  weights: ArrayLike<number>,
  dims: { rows: number; vocab: number },
): CrossEntropyRef {
  const { rows, vocab } = dims;
  const losses = new Float64Array(rows);
  const dlogits = new Float64Array(rows * vocab);
  for (let i = 0; i < rows; i++) {
    const base = i * vocab;
    const target = targets[i]!;
    if (!(target < vocab)) throw new RangeError(`crossEntropyRef: target ${target} of row ${i} is not below vocab ${vocab}`);
    const lse = rowLogSumExp(logits, base, vocab);
    losses[i] = lse - logits[base + target]!;
    // ∂(w_i·loss_i)/∂logits_ic = w_i·(softmax_ic − [c = target_i])
    for (let c = 0; c < vocab; c++) {
      dlogits[base + c] = weights[i]! * (Math.exp(logits[base + c]! - lse) - (c === target ? 1 : 0));
    }
  }
  return { losses, dlogits };
}

/** Index of each row's largest logit; ties go to the lowest index. */
export function argmaxRowsRef(logits: ArrayLike<number>, dims: { rows: number; vocab: number }): Uint32Array {
  const out = new Uint32Array(dims.rows);
  for (let i = 0; i < dims.rows; i++) {
    const base = i * dims.vocab;
    let best = 0;
    for (let c = 1; c < dims.vocab; c++) if (logits[base + c]! > logits[base + best]!) best = c;
    out[i] = best;
  }
  return out;
}
