// The f64 references of the layer kernels (src/ref/{embedding,norms,rope,activations}.ts):
// every backward against central finite differences of its forward, plus a few known values.
//
// Each check takes a random upstream gradient R, the scalar loss Σ R⊙f(x), and compares the
// reference backward's dx with (loss(x + h·e_k) − loss(x − h·e_k))/2h, h = 1e−6, for every k.
// Tolerance: max|analytic − numeric| ≤ 1e−7·max|numeric| (the differences themselves carry
// about h² ≈ 1e−12 truncation and 1e−16/h ≈ 1e−10 rounding error).

import { describe, expect, it } from 'vitest';
import { ropeTable } from '../../src/ops/rope';
import { addRef, geluBackwardRef, geluForwardRef, swigluBackwardRef, swigluForwardRef } from '../../src/ref/activations';
import { embeddingGatherRef, gatherRowsRef, scatterAddRowsRef } from '../../src/ref/embedding';
import { layernormBackwardRef, layernormForwardRef, rmsnormBackwardRef, rmsnormForwardRef } from '../../src/ref/norms';
import { ropeApplyRef, ropeBackwardRef } from '../../src/ref/rope';
import { Rng } from '../../src/util/rng';

const FD_TOL = 1e-7;

function random(n: number, rng: Rng, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => rng.uniform(lo, hi));
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Central differences of loss at x, one element at a time (x is restored). */
function numericGradient(x: Float64Array, loss: () => number): Float64Array {
  const h = 1e-6;
  return x.map((_, k) => {
    const original = x[k]!;
    x[k] = original + h;
    const plus = loss();
    x[k] = original - h;
    const minus = loss();
    x[k] = original;
    return (plus - minus) / (2 * h);
  });
}

/** max|a − b| / max|b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let mag = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    mag = Math.max(mag, Math.abs(b[i]!));
  }
  return mag === 0 ? err : err / mag;
}

const NORM_SHAPES = [
  { rows: 1, dim: 1 },
  { rows: 3, dim: 7 },
  { rows: 2, dim: 33 },
];

describe('RMSNorm reference', () => {
  for (const { rows, dim } of NORM_SHAPES) {
    it(`backward matches finite differences, rows=${rows} dim=${dim}`, () => {
      const rng = new Rng(rows * 100 + dim);
      const [x, w, R] = [random(rows * dim, rng), random(dim, rng, 0.5, 1.5), random(rows * dim, rng)];
      const dims = { rows, dim, eps: 0.05 }; // large enough that the eps path shows in dim = 1
      const { rstd } = rmsnormForwardRef(x, w, dims);
      const analytic = rmsnormBackwardRef(R, x, w, rstd, dims);
      const numeric = numericGradient(x, () => dot(R, rmsnormForwardRef(x, w, dims).y));
      expect(relativeError(analytic, numeric)).toBeLessThan(FD_TOL);
    });
  }

  it('gives unit root-mean-square rows for unit weights', () => {
    const rng = new Rng(1);
    const x = random(2 * 50, rng, -3, 3);
    const { y, rstd } = rmsnormForwardRef(x, new Float64Array(50).fill(1), { rows: 2, dim: 50, eps: 0 });
    const rms = (v: Float64Array, row: number) => Math.sqrt(dot(v.subarray(row * 50, row * 50 + 50), v.subarray(row * 50, row * 50 + 50)) / 50);
    for (let row = 0; row < 2; row++) {
      expect(rms(y, row)).toBeCloseTo(1, 12);
      expect(rstd[row]).toBeCloseTo(1 / rms(x, row), 12);
    }
  });
});

describe('LayerNorm reference', () => {
  for (const { rows, dim } of NORM_SHAPES.filter((s) => s.dim > 1)) {
    it(`backward matches finite differences, rows=${rows} dim=${dim}`, () => {
      const rng = new Rng(rows * 1000 + dim);
      const [x, w, b, R] = [random(rows * dim, rng, -2, 3), random(dim, rng, 0.5, 1.5), random(dim, rng), random(rows * dim, rng)];
      const dims = { rows, dim, eps: 0.05 };
      const { mean, rstd } = layernormForwardRef(x, w, b, dims);
      const analytic = layernormBackwardRef(R, x, w, mean, rstd, dims);
      const numeric = numericGradient(x, () => dot(R, layernormForwardRef(x, w, b, dims).y));
      expect(relativeError(analytic, numeric)).toBeLessThan(FD_TOL);
    });
  }

  it('gives zero-mean, unit-variance rows for unit weight and zero bias', () => {
    const rng = new Rng(2);
    const x = random(40, rng, 5, 9);
    const { y, mean } = layernormForwardRef(x, new Float64Array(40).fill(1), new Float64Array(40), { rows: 1, dim: 40, eps: 0 });
    expect(y.reduce((a, v) => a + v, 0) / 40).toBeCloseTo(0, 12);
    expect(dot(y, y) / 40).toBeCloseTo(1, 12);
    expect(mean[0]).toBeGreaterThan(5);
  });
});

describe('RoPE reference', () => {
  const [maxPositions, theta] = [20, 10000];

  it('tables cos and sin of pos·theta^(−2i/headDim), rounded from f64', () => {
    const table = ropeTable(maxPositions, 8, theta);
    expect(table.length).toBe(maxPositions * 8);
    expect([table[0], table[1]]).toEqual([1, 0]); // position 0
    const [pos, i] = [7, 3];
    const angle = pos * theta ** (-(2 * i) / 8);
    expect(table[(pos * 4 + i) * 2]).toBe(Math.fround(Math.cos(angle)));
    expect(table[(pos * 4 + i) * 2 + 1]).toBe(Math.fround(Math.sin(angle)));
    expect(() => ropeTable(4, 5, theta)).toThrow(/headDim=5 must be a positive even integer/);
  });

  for (const style of ['interleaved', 'half'] as const) {
    it(`backward (the inverse rotation) matches finite differences, ${style}`, () => {
      const rng = new Rng(style === 'half' ? 3 : 4);
      const dims = { rows: 3, heads: 2, headDim: 6, style };
      const table = ropeTable(maxPositions, dims.headDim, theta);
      const positions = [17, 0, 5];
      const n = dims.rows * dims.heads * dims.headDim;
      const [x, R] = [random(n, rng), random(n, rng)];
      const analytic = ropeBackwardRef(R, positions, table, dims);
      const numeric = numericGradient(x, () => dot(R, ropeApplyRef(x, positions, table, { ...dims, inverse: false })));
      expect(relativeError(analytic, numeric)).toBeLessThan(FD_TOL);
    });
  }

  it("'half' is 'interleaved' with each head's features permuted (evens first, then odds)", () => {
    const rng = new Rng(5);
    const dims = { rows: 2, heads: 3, headDim: 8 };
    const table = ropeTable(maxPositions, dims.headDim, theta);
    const x = random(dims.rows * dims.heads * dims.headDim, rng);
    // permuted[head, j] = x[head, 2j] for j < D/2, x[head, 2(j − D/2) + 1] after.
    const half = dims.headDim / 2;
    const permute = (v: Float64Array) =>
      v.map((_, k) => {
        const [head, j] = [Math.floor(k / dims.headDim), k % dims.headDim];
        return v[head * dims.headDim + (j < half ? 2 * j : 2 * (j - half) + 1)]!;
      });
    const interleaved = ropeApplyRef(x, [3, 11], table, { ...dims, style: 'interleaved', inverse: false });
    const halfStyle = ropeApplyRef(permute(x), [3, 11], table, { ...dims, style: 'half', inverse: false });
    expect(relativeError(halfStyle, permute(interleaved))).toBe(0);
  });
});

describe('activation references', () => {
  const n = 41;

  it('SwiGLU backward matches finite differences in gate and up', () => {
    const rng = new Rng(6);
    const [gate, up, R] = [random(n, rng, -6, 6), random(n, rng, -2, 2), random(n, rng)];
    const { dgate, dup } = swigluBackwardRef(R, gate, up);
    const loss = () => dot(R, swigluForwardRef(gate, up));
    expect(relativeError(dgate, numericGradient(gate, loss))).toBeLessThan(FD_TOL);
    expect(relativeError(dup, numericGradient(up, loss))).toBeLessThan(FD_TOL);
  });

  it('GELU backward matches finite differences', () => {
    const rng = new Rng(7);
    const [x, R] = [random(n, rng, -6, 6), random(n, rng)];
    const analytic = geluBackwardRef(R, x);
    expect(relativeError(analytic, numericGradient(x, () => dot(R, geluForwardRef(x))))).toBeLessThan(FD_TOL);
  });

  it('known values: silu(1)·2, gelu_new(1), gelu_new(−1)', () => {
    expect(swigluForwardRef([1], [2])[0]).toBeCloseTo(2 / (1 + Math.exp(-1)), 15);
    expect(geluForwardRef([1])[0]).toBeCloseTo(0.8411919906082768, 15);
    expect(geluForwardRef([-1])[0]).toBeCloseTo(-0.15880800939172324, 15);
  });

  it('add is the element-wise sum', () => {
    expect([...addRef([1, 2.5], [-3, 0.25])]).toEqual([-2, 2.75]);
  });
});

describe('gather references', () => {
  it('scatterAddRows is the backward of gatherRows (finite differences)', () => {
    const rng = new Rng(8);
    const [n, m, dim] = [6, 4, 5];
    const index = [4, 0, 5, 2]; // distinct
    const [src, R] = [random(n * dim, rng), random(m * dim, rng)];
    const analytic = scatterAddRowsRef(R, index, new Float64Array(n * dim), { m, dim });
    const numeric = numericGradient(src, () => dot(R, gatherRowsRef(src, index, { m, dim })));
    expect(relativeError(analytic, numeric)).toBeLessThan(FD_TOL);
  });

  it('embeddingGather copies (or adds) table rows and rejects an id outside the table', () => {
    const table = [0, 1, 10, 11, 20, 21]; // vocab 3, dim 2
    expect([...embeddingGatherRef(table, [2, 0], { rows: 2, dim: 2, vocab: 3 })]).toEqual([20, 21, 0, 1]);
    expect([...embeddingGatherRef(table, [1], { rows: 1, dim: 2, vocab: 3 }, [0.5, -1])]).toEqual([10.5, 10]);
    expect(() => embeddingGatherRef(table, [3], { rows: 1, dim: 2, vocab: 3 })).toThrow(/index 3 at position 0 is outside \[0, 3\)/);
  });
});
