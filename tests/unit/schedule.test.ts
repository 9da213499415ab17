// The learning-rate schedule (src/train/schedule.ts): values at the knots and in between for each
// decay, and config validation naming the field.

import { describe, expect, it } from 'vitest';
import { createLrSchedule, resolveLrSchedule, ScheduleConfigError, type LrScheduleConfig } from '../../src/train/schedule';

function lrs(config: Partial<LrScheduleConfig>, steps: number[]): number[] {
  const schedule = createLrSchedule(config);
  return steps.map((s) => schedule.lrAt(s));
}

const close = (values: number[]) => values.map((v) => expect.closeTo(v, 15));

describe('lrAt', () => {
  it('warms up linearly from lr/w, reaching lr at step w − 1', () => {
    expect(lrs({ lr: 1e-3, warmupSteps: 4, totalSteps: 10, decay: 'constant' }, [0, 1, 2, 3, 4, 9, 50])).toEqual(
      close([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3, 1e-3]),
    );
  });

  it("'linear' decays from lr after the warm-up towards minLr at step totalSteps", () => {
    // w = 2, T = 12: p = (step − 2)/10
    expect(lrs({ lr: 1e-3, minLr: 1e-4, warmupSteps: 2, totalSteps: 12, decay: 'linear' }, [0, 1, 2, 7, 11, 12, 100])).toEqual(
      close([5e-4, 1e-3, 1e-3, 5.5e-4, 1.9e-4, 1e-4, 1e-4]),
    );
  });

  it("'cosine' follows half a cosine from lr to minLr", () => {
    // no warm-up, T = 4: p = step/4 → (1 + cos πp)/2 = 1, (2 + √2)/4, 1/2, (2 − √2)/4, 0
    const s2 = Math.SQRT2;
    expect(lrs({ lr: 2e-3, minLr: 0, warmupSteps: 0, totalSteps: 4, decay: 'cosine' }, [0, 1, 2, 3, 4])).toEqual(
      close([2e-3, (2e-3 * (2 + s2)) / 4, 1e-3, (2e-3 * (2 - s2)) / 4, 0]),
    );
    expect(lrs({ lr: 1e-3, minLr: 2e-4, warmupSteps: 1, totalSteps: 3, decay: 'cosine' }, [0, 1, 2, 3])).toEqual(
      close([1e-3, 1e-3, 6e-4, 2e-4]),
    );
  });

  it('handles a warm-up as long as the run, and one step', () => {
    expect(lrs({ lr: 1e-3, minLr: 1e-4, warmupSteps: 2, totalSteps: 2, decay: 'linear' }, [0, 1, 2, 3])).toEqual(
      close([5e-4, 1e-3, 1e-4, 1e-4]),
    );
    expect(lrs({ lr: 1e-3, totalSteps: 1 }, [0])).toEqual([1e-3]);
  });

  it('rejects a step that is not a non-negative integer', () => {
    const schedule = createLrSchedule({ totalSteps: 5 });
    expect(() => schedule.lrAt(-1)).toThrow(/step: found -1/);
    expect(() => schedule.lrAt(1.5)).toThrow(RangeError);
  });
});

describe('resolveLrSchedule', () => {
  it('fills defaults', () => {
    expect(resolveLrSchedule({ totalSteps: 100 })).toEqual({ lr: 1e-3, minLr: 0, warmupSteps: 0, totalSteps: 100, decay: 'cosine' });
  });

  const bad: [Partial<LrScheduleConfig> & Record<string, unknown>, string][] = [
    [{}, 'totalSteps'],
    [{ totalSteps: 0 }, 'totalSteps'],
    [{ totalSteps: 10, warmupSteps: 11 }, 'warmupSteps'],
    [{ totalSteps: 10, warmupSteps: 1.5 }, 'warmupSteps'],
    [{ totalSteps: 10, lr: 0 }, 'lr'],
    [{ totalSteps: 10, lr: Number.NaN }, 'lr'],
    [{ totalSteps: 10, lr: 1e-3, minLr: 2e-3 }, 'minLr'],
    [{ totalSteps: 10, minLr: -1 }, 'minLr'],
    [{ totalSteps: 10, decay: 'step' as LrScheduleConfig['decay'] }, 'decay'],
    [{ totalSteps: 10, warmup: 3 }, 'warmup'],
  ];
  for (const [config, field] of bad) {
    it(`names ${field} in ${JSON.stringify(config)}`, () => {
      let error: unknown;
      try {
        resolveLrSchedule(config);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ScheduleConfigError);
      expect((error as ScheduleConfigError).field).toBe(field);
      expect((error as Error).message).toMatch(new RegExp(`^lr schedule: ${field}: found .*; expected `));
    });
  }
});
