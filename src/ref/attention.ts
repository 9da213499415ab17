// f64 CPU reference of shaders/attention.wgsl: causal, grouped-query self-attention over a
// right-padded batch, forward and backward. The oracle of the kernel tests; it materialises each
// query row's probabilities (T values), which the kernels never do.
//
//   q, out are (batch·seq) × (numHeads·headDim); k, v are (batch·seq) × (numKvHeads·headDim);
//   lse is batch × numHeads × seq; lengths (batch) gives each sequence's real length L_b.
//   Query head h reads kv head g = h / (numHeads / numKvHeads).
//
//   s_ij = scale · q_i·k_j                     for j ≤ i < L (causal, real positions only)
//   lse_i = log Σ_j exp(s_ij),  P_ij = exp(s_ij − lse_i)
//   out_i = Σ_j P_ij v_j
// Padded query rows (i ≥ L) have out = 0 and lse = 0; padded keys (j ≥ L) are never attended.
//
// Inference against a KV cache (attentionDecodeRef): rows new query rows of one sequence at
// positions offset … offset + rows − 1, against cached keys and values 0 … offset + r.

import type { AttentionDecodeDims, AttentionDims } from '../ops/attention';

export interface AttentionRefForward {
  /** (batch·seq) × (numHeads·headDim). */
  out: Float64Array;
  /** batch × numHeads × seq. */
  lse: Float64Array;
}

export interface AttentionRefGradients {
  /** Like q. */
  dq: Float64Array;
  /** Like k. */
  dk: Float64Array;
  /** Like v. */
  dv: Float64Array;
}

/** Element offsets of one head's row in q/out and k/v, and of an lse entry. */
function indexers(dims: AttentionDims) {
  const { seq, numHeads: H, numKvHeads: Hkv, headDim: D } = dims;
  return {
    q: (b: number, t: number, h: number) => ((b * seq + t) * H + h) * D,
    kv: (b: number, t: number, g: number) => ((b * seq + t) * Hkv + g) * D,
    lse: (b: number, h: number, t: number) => (b * H + h) * seq + t,
    kvHead: (h: number) => Math.floor(h / (H / Hkv)),
  };
}

function realLength(lengths: ArrayLike<number>, b: number, seq: number): number {
  return Math.min(lengths[b]!, seq);
}

/** Row i's probabilities P_i0 … P_ii (length i + 1) and its log-sum-exp. */
function probabilities(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  qOff: number,
  keyOffset: (j: number) => number,
  i: number,
  D: number,
  scale: number,
): { p: Float64Array; lse: number } {
  const p = new Float64Array(i + 1);
  let max = -Infinity;
  for (let j = 0; j <= i; j++) {
    const kOff = keyOffset(j);
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qOff + d]! * k[kOff + d]!;
    p[j] = scale * dot;
    max = Math.max(max, p[j]!);
  }
  let sum = 0;
  for (let j = 0; j <= i; j++) sum += Math.exp(p[j]! - max);
  const lse = max + Math.log(sum);
  for (let j = 0; j <= i; j++) p[j] = Math.exp(p[j]! - lse);
  return { p, lse };
}

export function attentionForwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  lengths: ArrayLike<number>,
  dims: AttentionDims,
): AttentionRefForward {
  const { batch, seq, numHeads: H, headDim: D, scale } = dims;
  const at = indexers(dims);
  const out = new Float64Array(batch * seq * H * D);
  const lse = new Float64Array(batch * H * seq);
  for (let b = 0; b < batch; b++) {
    const L = realLength(lengths, b, seq);
    for (let h = 0; h < H; h++) {
      const g = at.kvHead(h);
      for (let i = 0; i < L; i++) {
        const qOff = at.q(b, i, h);
        const row = probabilities(q, k, qOff, (j) => at.kv(b, j, g), i, D, scale);
        lse[at.lse(b, h, i)] = row.lse;
        // out_i = Σ_j P_ij v_j
        for (let j = 0; j <= i; j++) {
          const vOff = at.kv(b, j, g);
          for (let d = 0; d < D; d++) out[qOff + d] += row.p[j]! * v[vOff + d]!;
        }
      }
    }
  }
  return { out, lse };
}

/**
 * Gradients of Σ dOut ⊙ out. Rows of dOut at padded query positions are ignored (their
 * outputs are constant zeros), whatever they hold.
 *
 *   dv_j += P_ij dOut_i                     (out_i = Σ_j P_ij v_j)
 *   dP_ij = dOut_i·v_j,  D_i = Σ_j P_ij dP_ij = dOut_i·out_i
 *   dS_ij = P_ij (dP_ij − D_i)              (softmax backward)
 *   dq_i += scale · dS_ij k_j,  dk_j += scale · dS_ij q_i    (s_ij = scale · q_i·k_j)
 */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  lengths: ArrayLike<number>,
  dOut: ArrayLike<number>,
  dims: AttentionDims,
): AttentionRefGradients {
  const { batch, seq, numHeads: H, headDim: D, scale } = dims;
  const at = indexers(dims);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < batch; b++) {
    const L = realLength(lengths, b, seq);
    for (let h = 0; h < H; h++) {
      const g = at.kvHead(h);
      for (let i = 0; i < L; i++) {
        const qOff = at.q(b, i, h);
        const { p } = probabilities(q, k, qOff, (j) => at.kv(b, j, g), i, D, scale);
        const dP = new Float64Array(i + 1);
        let Di = 0;
        for (let j = 0; j <= i; j++) {
          const vOff = at.kv(b, j, g);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += dOut[qOff + d]! * v[vOff + d]!;
          dP[j] = dot;
          Di += p[j]! * dot;
        }
        for (let j = 0; j <= i; j++) {
          const kvOff = at.kv(b, j, g);
          const dS = p[j]! * (dP[j]! - Di);
          for (let d = 0; d < D; d++) {
            dv[kvOff + d] += p[j]! * dOut[qOff + d]!;
            dq[qOff + d] += scale * dS * k[kvOff + d]!;
            dk[kvOff + d] += scale * dS * q[qOff + d]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

/**
 * out (rows × numHeads·headDim) of `rows` query rows at positions offset … offset + rows − 1
 * against the cache (positions × numKvHeads·headDim; only rows < offset + rows are read):
 *   i = offset + r,  out_r = Σ_{j ≤ i} P_rj v_j,  P_r = softmax_j(scale · q_r·k_j).
 */
export function attentionDecodeRef(q: ArrayLike<number>, kCache: ArrayLike<number>, vCache: ArrayLike<number>, dims: AttentionDecodeDims): Float64Array {
  const { rows, offset, numHeads: H, numKvHeads: Hkv, headDim: D, scale } = dims;
  const out = new Float64Array(rows * H * D);
  for (let r = 0; r < rows; r++) {
    const i = offset + r;
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / Hkv));
      const qOff = (r * H + h) * D;
      const cacheAt = (j: number) => (j * Hkv + g) * D;
      const { p } = probabilities(q, kCache, qOff, cacheAt, i, D, scale);
      for (let j = 0; j <= i; j++) {
        for (let d = 0; d < D; d++) out[qOff + d] += p[j]! * vCache[cacheAt(j) + d]!;
      }
    }
  }
  return out;
}
