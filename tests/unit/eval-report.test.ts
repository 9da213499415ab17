// Pure parts of evaluation and reporting: ROUGE-L, loss volatility, moving average, the SVG.

import { describe, expect, it } from 'vitest';
import { lossVolatility } from '../../src/run/compare';
import { rougeL } from '../../src/train/eval';
import { movingAverage } from '../../src/run/report';

describe('rougeL', () => {
  it('is the LCS F1 over words', () => {
    expect(rougeL('the cat sat on the mat', 'the cat sat on the mat')).toBe(1);
    // LCS("the red ball", "a red ball") = 2 → P = 2/3, R = 2/3
    expect(rougeL('the red ball', 'a red ball')).toBeCloseTo(2 / 3, 12);
    // LCS = "lily ball" (2); P = 2/4, R = 2/3 → F = 2·0.5·0.667/(1.167) = 0.5714…
    expect(rougeL('Lily had a ball', 'lily ball today')).toBeCloseTo((2 * 0.5 * (2 / 3)) / (0.5 + 2 / 3), 12);
    expect(rougeL('x y', 'z')).toBe(0);
    expect(rougeL('', '')).toBe(1);
    expect(rougeL('', 'a')).toBe(0);
  });
});

describe('loss volatility', () => {
  it('is the std of step-to-step changes over the second half', () => {
    // second half [4, 2, 4, 2]: diffs [−2, 2, −2], mean −2/3, sample std = sqrt(((−4/3)² + (8/3)² + (−4/3)²)/2)
    const expected = Math.sqrt(((4 / 3) ** 2 + (8 / 3) ** 2 + (4 / 3) ** 2) / 2);
    expect(lossVolatility([9, 9, 9, 9, 4, 2, 4, 2])).toBeCloseTo(expected, 12);
    expect(lossVolatility([1, 1, 1, 1, 1, 1])).toBe(0);
    expect(Number.isNaN(lossVolatility([1, 2]))).toBe(true);
  });
});

describe('movingAverage', () => {
  it('averages a trailing window, shorter at the start', () => {
    expect(movingAverage([2, 4, 6, 8], 2)).toEqual([2, 3, 5, 7]);
    expect(movingAverage([1, 2, 3], 5)).toEqual([1, 1.5, 2]);
  });
});
