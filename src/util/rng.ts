// The one seeded generator of the project: xoshiro128** 1.1 (Blackman & Vigna) on four 32-bit
// words, seeded by hashing the integer seed with a 32-bit finaliser. Everything is integer
// arithmetic (Math.imul, >>> 0) or IEEE-exact float operations (+, −, ×, ÷, sqrt), so a seed
// gives the same numbers in every engine: normal() uses its own logarithm because Math.log is
// only "implementation-approximated" by the ECMAScript spec and may differ in the last bit.
//
// Streams: fork(label) derives an independent generator from (this state, label) without
// advancing this one, so named streams ('down', 'upMinus', a layer name) never depend on the
// order in which other streams were drawn.

const GOLDEN_RATIO_U32 = 0x9e3779b9;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** A 32-bit finaliser (hash-prospector's lowbias32); a bijection on u32, so distinct in, distinct out. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Hashes a list of u32 words into a xoshiro128 state. */
function stateFromWords(words: readonly number[]): number[] {
  let h = 0;
  for (const w of words) h = mix32(((h ^ w) + GOLDEN_RATIO_U32) | 0);
  // Four distinct inputs to a bijection give four distinct words, so at most one is zero and the
  // state is never the all-zero state xoshiro cannot leave.
  return [1, 2, 3, 4].map((k) => mix32((h + Math.imul(k, GOLDEN_RATIO_U32)) | 0));
}

/** A safe integer as two u32 words (its 64-bit two's complement), so every safe integer is a distinct seed. */
function seedWords(seed: number): number[] {
  return [seed >>> 0, Math.floor(seed / TWO_POW_32) >>> 0];
}

/** Words identifying a fork label; the leading tag keeps the string '7' and the number 7 apart. */
function labelWords(label: string | number): number[] {
  if (typeof label === 'number') {
    if (!Number.isSafeInteger(label)) throw new RangeError(`Rng.fork: numeric label ${label} must be a safe integer`);
    return [1, ...seedWords(label)];
  }
  const words = [2, label.length];
  for (let i = 0; i < label.length; i++) words.push(label.charCodeAt(i));
  return words;
}

/**
 * Natural logarithm of x > 0 from IEEE-exact operations only: x = f·2^k with f ∈ [√½, √2),
 * ln f = 2·atanh(z), z = (f − 1)/(f + 1), |z| ≤ 0.1716, whose odd series reaches double
 * precision by the term z^29 (0.1716^28 < 1e-21).
 */
function exactLog(x: number): number {
  let f = x;
  let k = 0;
  while (f < Math.SQRT1_2) {
    f *= 2;
    k -= 1;
  }
  while (f >= Math.SQRT2) {
    f /= 2;
    k += 1;
  }
  const z = (f - 1) / (f + 1);
  const z2 = z * z;
  let series = 0;
  for (let n = 29; n >= 1; n -= 2) series = series * z2 + 1 / n; // Horner: Σ z^(n−1)/n
  return 2 * z * series + k * Math.LN2;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** seed: any safe integer (negative included). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Rng: seed ${seed} must be a safe integer`);
    [this.s0, this.s1, this.s2, this.s3] = stateFromWords(seedWords(seed));
  }

  /** Next 32 bits as an unsigned integer in [0, 2^32). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) on the 2^-53 grid (two draws: 27 + 26 bits). */
  nextFloat(): number {
    const high = this.nextU32() >>> 5;
    const low = this.nextU32() >>> 6;
    return (high * 67108864 + low) / TWO_POW_53;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi < lo) {
      throw new RangeError(`Rng.uniform: bounds [${lo}, ${hi}) must be finite with lo ≤ hi`);
    }
    return lo + (hi - lo) * this.nextFloat();
  }

  /**
   * Standard normal by Marsaglia's polar method. Each call returns one of the pair and drops
   * the other, so the state stays the four generator words.
   */
  normal(): number {
    for (;;) {
      const u = 2 * this.nextFloat() - 1;
      const v = 2 * this.nextFloat() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) return u * Math.sqrt((-2 * exactLog(s)) / s);
    }
  }

  /** An independent generator for the stream `label`; this generator is not advanced. */
  fork(label: string | number): Rng {
    return Rng.fromState(stateFromWords([this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0, ...labelWords(label)]));
  }

  /** The four state words (u32); fromState(getState()) continues the same sequence. */
  getState(): number[] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  static fromState(state: readonly number[]): Rng {
    const valid = state.length === 4 && state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32);
    if (!valid || state.every((w) => w === 0)) {
      throw new RangeError(`Rng.fromState: state [${state.join(', ')}] must be four u32 words, not all zero`);
    }
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state;
    return rng;
  }
}
