// Every weight read from outside is finite before anything uses it. A NaN or ±Infinity in a
// checkpoint or an adapter (saved from a diverged run, or damaged) would not fail anywhere
// later: it turns every logit into NaN, greedy decoding then picks token 0 and scoring compares
// NaNs, so a broken model would generate "<unk>…" and score near chance with exit 0. The readers
// (checkpoint.ts, llama2c.ts, adapter.ts) call this on each tensor as they convert it to f32, so
// a FormatError names the file, the tensor and the first bad value.
//
// Cost: one pass over the f32 values, reading their bits (a value is NaN or ±Infinity exactly
// when its 8 exponent bits are all set): 0.27 s for the 134.5M values of SmolLM2-135M's shapes
// in Node on the development machine (2 ns a value), about what the one copy of them that
// reading makes costs anyway.

import { FormatError } from './errors';

const EXPONENT = 0x7f800000;

/**
 * Throws a FormatError when `data` (a tensor of `shape`, row-major) holds a NaN or ±Infinity:
 * `field` says which tensor (e.g. `tensor "lm_head.weight"`), the message where its first
 * non-finite value sits and how many of its values are not finite.
 */
export function checkFinite(data: Float32Array, shape: readonly number[], file: string, field: string): void {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let first = -1;
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i]! & EXPONENT) === EXPONENT) {
      first = i;
      break;
    }
  }
  if (first < 0) return;
  let count = 0;
  for (let i = first; i < bits.length; i++) if ((bits[i]! & EXPONENT) === EXPONENT) count++;
  const many = count === data.length ? `all ${count} of its values are` : `${count} of its ${data.length} values ${count === 1 ? 'is' : 'are'}`;
  throw new FormatError({
    file,
    field,
    found: `${data[first]} at ${position(first, shape)}; ${many} NaN or infinite`,
    expected: 'finite numbers (NaN and ±Infinity come from a training run that diverged, or from a damaged file)',
  });
}

/** Index i of a row-major tensor of `shape` as "[row, column] (index i)", or "index i" for a vector. */
function position(index: number, shape: readonly number[]): string {
  if (shape.length < 2) return `index ${index}`;
  const at: number[] = [];
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(rest % shape[d]!);
    rest = Math.floor(rest / shape[d]!);
  }
  return `[${at.join(', ')}] (index ${index})`;
}
