// The page's kernel self-test (src/selftest/matmul.ts) run on Dawn: every case must pass, be
// reported once through onProgress in order, and the checker must catch a wrong result.

import { describe, expect, it } from 'vitest';
import { MATMUL_VARIANTS } from '../../src/ops/matmul';
import { matmulRef } from '../../src/ref/matmul';
import { maxErrorOverTolerance, runMatmulSelfTest, SELF_TEST_CASE_COUNT, SELF_TEST_SHAPES, SELF_TEST_VEC4_SHAPES, type SelfTestCase } from '../../src/selftest/matmul';
import { gpu } from './gpu';

describe('matmul self-test', () => {
  it('passes every case on every variant, reporting progress', async () => {
    const ctx = await gpu();
    const progress: [SelfTestCase, number, number][] = [];
    const report = await runMatmulSelfTest(ctx, (c, done, total) => progress.push([c, done, total]));

    expect(report.cases).toHaveLength(MATMUL_VARIANTS.length * SELF_TEST_SHAPES.length);
    expect(SELF_TEST_VEC4_SHAPES.length).toBe(SELF_TEST_SHAPES.length); // one per transpose, as the scalar rungs'
    const failed = report.cases.filter((c) => !c.passed).map((c) => `${c.name} ${c.M}×${c.N}×${c.K}: ${c.maxErrOverTol}`);
    expect(failed, `failed cases:\n${failed.join('\n')}`).toEqual([]);
    expect(report.passed).toBe(true);
    for (const c of report.cases) {
      expect(c.passed).toBe(c.maxErrOverTol >= 0 && c.maxErrOverTol <= 1);
      expect(c.ms).toBeGreaterThan(0);
    }
    // Every kernel (variant × transpose combination) is exercised by exactly one case: the vectorised rungs as themselves.
    expect(new Set(report.cases.map((c) => c.name)).size).toBe(SELF_TEST_CASE_COUNT);
    for (const c of report.cases) expect(c.name.startsWith(`matmul_${c.variant}_`), c.name).toBe(true);
    expect(progress).toEqual(
      report.cases.map((c, i) => [c, i + 1, SELF_TEST_CASE_COUNT]),
    );
  });

  it('fails a result that is off by more than the rounding bound, and a NaN', () => {
    const a = new Float32Array([0.5, -0.25, 1]);
    const b = new Float32Array([2, 4, -1]);
    const ref = matmulRef({ a, b, M: 1, N: 1, K: 3 }); // 1 − 1 − 1 = −1
    expect(maxErrorOverTolerance(new Float32Array([-1]), ref, 3)).toBe(0);
    expect(maxErrorOverTolerance(new Float32Array([-1 + 1e-4]), ref, 3)).toBeGreaterThan(1);
    expect(maxErrorOverTolerance(new Float32Array([NaN]), ref, 3)).toBe(Infinity);
    expect(maxErrorOverTolerance(new Float32Array([-1, 0]), ref, 3)).toBe(Infinity);
  });
});
