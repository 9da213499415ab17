// The f64 cross-entropy and argmax references (src/ref/loss.ts): closed forms, stability, and
// dlogits against central finite differences of Σ_i w_i·loss_i.

import { describe, expect, it } from 'vitest';
import { argmaxRowsRef, crossEntropyRef } from '../../src/ref/loss';
import { Rng } from '../../src/util/rng';

describe('crossEntropyRef', () => {
  it('gives log(vocab) for uniform logits and ≈ 0 for a dominant target', () => {
    const { losses } = crossEntropyRef([2, 2, 2, 2, 0, 50, 0, 0], [1, 1], [1, 1], { rows: 2, vocab: 4 });
    expect(losses[0]).toBeCloseTo(Math.log(4), 14);
    expect(losses[1]).toBeCloseTo(3 * Math.exp(-50), 20);
  });

  it('is stable for logits far from zero (shift invariance)', () => {
    const base = [0.5, -1, 2, 0];
    const a = crossEntropyRef(base, [2], [1], { rows: 1, vocab: 4 });
    const b = crossEntropyRef(base.map((x) => x + 1000), [2], [1], { rows: 1, vocab: 4 });
    expect(b.losses[0]).toBeCloseTo(a.losses[0]!, 10);
    expect(Array.from(b.dlogits)).toEqual(Array.from(a.dlogits, (x) => expect.closeTo(x, 10)));
  });

  it('matches central finite differences of Σ w_i·loss_i', () => {
    const rng = new Rng(11);
    const rows = 3;
    const vocab = 7;
    const logits = Float64Array.from({ length: rows * vocab }, () => rng.uniform(-3, 3));
    const targets = [6, 0, 3];
    const weights = [1 / 3, -0.7, 2];
    const weighted = () => {
      const { losses } = crossEntropyRef(logits, targets, weights, { rows, vocab });
      return losses.reduce((acc, l, i) => acc + weights[i]! * l, 0);
    };
    const { dlogits } = crossEntropyRef(logits, targets, weights, { rows, vocab });
    const h = 1e-5;
    for (let j = 0; j < logits.length; j++) {
      const saved = logits[j]!;
      logits[j] = saved + h;
      const up = weighted();
      logits[j] = saved - h;
      const down = weighted();
      logits[j] = saved;
      expect(Math.abs((up - down) / (2 * h) - dlogits[j]!), `dlogits[${j}]`).toBeLessThan(1e-9);
    }
  });

  it('rejects a target outside the vocabulary', () => {
    expect(() => crossEntropyRef([1, 2], [2], [1], { rows: 1, vocab: 2 })).toThrow(/target 2 of row 0 is not below vocab 2/);
  });
});

describe('argmaxRowsRef', () => {
  it('takes the lowest index on ties', () => {
    expect(Array.from(argmaxRowsRef([1, 3, 3, 0, -Infinity, -Infinity, 5, 4, 5], { rows: 3, vocab: 3 }))).toEqual([1, 0, 0]);
  });
});
