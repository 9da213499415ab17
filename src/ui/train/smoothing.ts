// The training loss's smoothing, as TensorBoard and Weights & Biases draw it (and Unsloth's
// notebooks plot it): an exponential moving average started from zero and divided by the weight
// it has gathered so far, so the first points are not pulled towards 0.

/** The slider's range and default: W&B's. 0 is the raw curve; 0.99 averages over ~100 steps. */
export const SMOOTHING_MAX = 0.99;
export const DEFAULT_SMOOTHING = 0.6;

/**
 * smoothed[i] = a_i / (1 − w^n) with a_i = w·a_(i−1) + (1 − w)·v_i, n the finite values so far.
 * A non-finite value (a diverged step) is a gap (null) and leaves the average as it was.
 */
export function smoothEma(values: readonly number[], weight: number): (number | null)[] {
  if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing: the weight must be in [0, 1), got ${weight}`);
  let average = 0;
  let gathered = 1;
  return values.map((v) => {
    if (!Number.isFinite(v)) return null;
    average = weight * average + (1 - weight) * v;
    gathered *= weight;
    return average / (1 - gathered);
  });
}
