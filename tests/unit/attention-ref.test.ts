// The f64 attention reference (src/ref/attention.ts): forward against closed forms and the
// grouped-query mapping, backward against central finite differences of Σ dOut ⊙ out.

import { describe, expect, it } from 'vitest';
import type { AttentionDims } from '../../src/ops/attention';
import { attentionBackwardRef, attentionForwardRef } from '../../src/ref/attention';
import { Rng } from '../../src/util/rng';

function uniform(n: number, rng: Rng, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => rng.uniform(-scale, scale));
}

const DIMS: AttentionDims = { batch: 2, seq: 5, numHeads: 4, numKvHeads: 2, headDim: 3, scale: 1 / Math.sqrt(3) };
const LENGTHS = [5, 3];

function problem(seed: number, dims = DIMS) {
  const rng = new Rng(seed);
  const rows = dims.batch * dims.seq;
  return {
    q: uniform(rows * dims.numHeads * dims.headDim, rng, 1.5),
    k: uniform(rows * dims.numKvHeads * dims.headDim, rng),
    v: uniform(rows * dims.numKvHeads * dims.headDim, rng),
    dOut: uniform(rows * dims.numHeads * dims.headDim, rng),
  };
}

describe('attentionForwardRef', () => {
  it('with q = 0, averages v over the causal window and lse = log(i + 1)', () => {
    const dims: AttentionDims = { batch: 1, seq: 4, numHeads: 1, numKvHeads: 1, headDim: 2, scale: 0.7 };
    const v = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const { out, lse } = attentionForwardRef(new Float64Array(8), uniform(8, new Rng(1)), v, [4], dims);
    expect(Array.from(out)).toEqual([1, 2, 2, 3, 3, 4, 4, 5].map((x) => expect.closeTo(x, 14)));
    expect(Array.from(lse)).toEqual([1, 2, 3, 4].map((n) => expect.closeTo(Math.log(n), 14)));
  });

  it('maps query head h to kv head h / (numHeads / numKvHeads)', () => {
    const { q, k, v } = problem(2);
    // The same problem with every kv head repeated for its query heads (no grouping).
    const full: AttentionDims = { ...DIMS, numKvHeads: DIMS.numHeads };
    const repeat = (x: Float64Array) => {
      const D = DIMS.headDim;
      const group = DIMS.numHeads / DIMS.numKvHeads;
      const y = new Float64Array(DIMS.batch * DIMS.seq * DIMS.numHeads * D);
      for (let row = 0; row < DIMS.batch * DIMS.seq; row++) {
        for (let h = 0; h < DIMS.numHeads; h++) {
          for (let d = 0; d < D; d++) y[(row * DIMS.numHeads + h) * D + d] = x[(row * DIMS.numKvHeads + Math.floor(h / group)) * D + d]!;
        }
      }
      return y;
    };
    const grouped = attentionForwardRef(q, k, v, LENGTHS, DIMS);
    const plain = attentionForwardRef(q, repeat(k), repeat(v), LENGTHS, full);
    expect(grouped.out).toEqual(plain.out);
    expect(grouped.lse).toEqual(plain.lse);
  });

  it('gives padded rows out = 0, lse = 0, and never reads padded positions', () => {
    const { q, k, v } = problem(3);
    const D = DIMS.headDim;
    const poisoned = (x: Float64Array, heads: number) => {
      const y = Float64Array.from(x);
      for (let t = LENGTHS[1]!; t < DIMS.seq; t++) y.fill(NaN, (DIMS.seq + t) * heads * D, (DIMS.seq + t + 1) * heads * D);
      return y;
    };
    const clean = attentionForwardRef(q, k, v, LENGTHS, DIMS);
    const dirty = attentionForwardRef(poisoned(q, DIMS.numHeads), poisoned(k, DIMS.numKvHeads), poisoned(v, DIMS.numKvHeads), LENGTHS, DIMS);
    expect(dirty.out).toEqual(clean.out);
    expect(dirty.lse).toEqual(clean.lse);
    const padStart = (DIMS.seq + LENGTHS[1]!) * DIMS.numHeads * D;
    expect(clean.out.subarray(padStart).every((x) => x === 0)).toBe(true);
  });
});

describe('attentionBackwardRef', () => {
  it('matches central finite differences of Σ dOut ⊙ out for q, k and v', () => {
    const p = problem(4);
    const loss = (q: Float64Array, k: Float64Array, v: Float64Array) => {
      const { out } = attentionForwardRef(q, k, v, LENGTHS, DIMS);
      let sum = 0;
      for (let i = 0; i < out.length; i++) sum += p.dOut[i]! * out[i]!;
      return sum;
    };
    const grads = attentionBackwardRef(p.q, p.k, p.v, LENGTHS, p.dOut, DIMS);
    const h = 1e-5;
    for (const [name, x, g] of [['q', p.q, grads.dq], ['k', p.k, grads.dk], ['v', p.v, grads.dv]] as const) {
      for (let i = 0; i < x.length; i++) {
        const saved = x[i]!;
        x[i] = saved + h;
        const up = loss(p.q, p.k, p.v);
        x[i] = saved - h;
        const down = loss(p.q, p.k, p.v);
        x[i] = saved;
        const fd = (up - down) / (2 * h);
        const err = Math.abs(fd - g[i]!);
        expect(err, `${name}[${i}]: finite difference ${fd}, analytic ${g[i]}`).toBeLessThan(1e-8);
      }
    }
  });

  it('ignores dOut at padded rows and gives padded positions zero gradients', () => {
    const p = problem(5);
    const clean = attentionBackwardRef(p.q, p.k, p.v, LENGTHS, p.dOut, DIMS);
    const dOut = Float64Array.from(p.dOut);
    const rowWidth = DIMS.numHeads * DIMS.headDim;
    dOut.fill(NaN, (DIMS.seq + LENGTHS[1]!) * rowWidth);
    const dirty = attentionBackwardRef(p.q, p.k, p.v, LENGTHS, dOut, DIMS);
    expect(dirty).toEqual(clean);
    const kvWidth = DIMS.numKvHeads * DIMS.headDim;
    expect(clean.dq.subarray((DIMS.seq + LENGTHS[1]!) * rowWidth).every((x) => x === 0)).toBe(true);
    expect(clean.dk.subarray((DIMS.seq + LENGTHS[1]!) * kvWidth).every((x) => x === 0)).toBe(true);
    expect(clean.dv.subarray((DIMS.seq + LENGTHS[1]!) * kvWidth).every((x) => x === 0)).toBe(true);
  });
});
