// The f64 optimizer reference (src/ref/optimizer.ts) against closed forms of AdamW and of the
// clip factor.

import { describe, expect, it } from 'vitest';
import type { AdamWHyper } from '../../src/ops/optimizer';
import { adamwStepRef, clipFactorRef, sumOfSquaresRef, type AdamWRefState } from '../../src/ref/optimizer';

const hp: AdamWHyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

function fresh(param: number[]): AdamWRefState {
  return { param: Float64Array.from(param), m: new Float64Array(param.length), v: new Float64Array(param.length) };
}

describe('adamwStepRef', () => {
  it('first step: decay, then a step of lr·g/(|g| + eps) (bias corrections cancel)', () => {
    const s = fresh([1, -2, 0.5]);
    const g = [0.3, -4, 0];
    adamwStepRef(s, g, 1, hp, 1);
    const decayed = [1, -2, 0.5].map((p) => p * (1 - hp.lr * hp.weightDecay));
    const want = decayed.map((p, i) => p - (hp.lr * g[i]!) / (Math.abs(g[i]!) + hp.eps));
    expect(Array.from(s.param)).toEqual(want.map((x) => expect.closeTo(x, 14)));
    expect(Array.from(s.m)).toEqual(g.map((x) => expect.closeTo(0.1 * x, 15)));
    expect(Array.from(s.v)).toEqual(g.map((x) => expect.closeTo(0.001 * x * x, 15)));
  });

  it('second step with a constant gradient still moves by lr per step (bias-corrected moments)', () => {
    const s = fresh([0]);
    const noDecay = { ...hp, weightDecay: 0 };
    adamwStepRef(s, [2], 1, noDecay, 1);
    adamwStepRef(s, [2], 1, noDecay, 2);
    // m/(1 − β1²) = 2 and sqrt(v/(1 − β2²)) = 2 exactly, so each step is −lr·2/(2 + eps).
    expect(s.param[0]).toBeCloseTo(-2 * hp.lr * (2 / (2 + hp.eps)), 14);
  });

  it('applies the clip factor to the gradient before the moments', () => {
    const a = fresh([1]);
    const b = fresh([1]);
    adamwStepRef(a, [4], 0.25, hp, 1);
    adamwStepRef(b, [1], 1, hp, 1);
    expect(a).toEqual(b);
  });

  it('decays the weights with a zero gradient (decoupled from the moments)', () => {
    const s = fresh([3, -1]);
    for (let t = 1; t <= 3; t++) adamwStepRef(s, [0, 0], 1, hp, t);
    expect(Array.from(s.param)).toEqual([3, -1].map((p) => expect.closeTo(p * (1 - hp.lr * hp.weightDecay) ** 3, 14)));
    expect(Array.from(s.m)).toEqual([0, 0]);
  });
});

describe('clipFactorRef and sumOfSquaresRef', () => {
  it('clips to maxNorm, leaves small gradients alone, and is off for maxNorm ≤ 0', () => {
    const sums = [sumOfSquaresRef([3, 4]), sumOfSquaresRef([12])]; // 25 + 144 → norm 13
    expect(sums).toEqual([25, 144]);
    expect(clipFactorRef(sums, 1.3).factor).toBeCloseTo(1.3 / (13 + 1e-6), 15);
    expect(clipFactorRef(sums, 1.3).totalNorm).toBe(13);
    expect(clipFactorRef(sums, 20).factor).toBe(1);
    expect(clipFactorRef(sums, 0).factor).toBe(1);
  });
});
