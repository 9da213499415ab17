// A training divergence as each front door words it: the trainer's own message (its settings'
// names), the Run's (the RunSpec's field paths, also on its 'error' event) and the command line's
// (the flags that set those fields). The watch itself runs on the GPU: tests/kernels/health.test.ts.

import { describe, expect, it } from 'vitest';
import { flagOf } from '../../src/cli/spec-flags';
import { RunDivergedError } from '../../src/run/run';
import { describeDivergence, formatSetting, TrainingDivergedError, type Divergence } from '../../src/train/trainer';

const WHAT = 'training diverged: the loss stayed above ln 512 = 6.238 for 16 steps in a row.';
const divergence: Divergence = {
  kind: 'above-uniform',
  step: 17,
  loss: 48.2,
  gradNorm: 0.06,
  lr: 0.9,
  what: WHAT,
  suggestions: [
    { setting: 'weightDecay', current: 3, value: 0.1 },
    { setting: 'lr', current: 1, value: 0.1 },
    { setting: 'maxGradNorm', current: 0, value: 1 },
  ],
};

describe('a divergence, worded by each front door', () => {
  it('the trainer names its own settings', () => {
    expect(new TrainingDivergedError(divergence).message).toBe(
      `${WHAT} Try less weight decay (weightDecay 0.1 instead of 3), a lower learning rate (lr 0.1 instead of 1) ` +
        'or clipping the gradient norm (maxGradNorm 1 instead of 0).',
    );
  });

  it('the Run names the RunSpec fields, and carries their paths for the page', () => {
    const e = new RunDivergedError(divergence);
    expect(e).toBeInstanceOf(TrainingDivergedError);
    expect(e.name).toBe('TrainingDivergedError');
    expect(e.divergence.suggestions.map((s) => s.path)).toEqual([
      ['training', 'weightDecay'],
      ['training', 'lr'],
      ['training', 'maxGradNorm'],
    ]);
    expect(e.message).toBe(
      `${WHAT} Try less weight decay (training.weightDecay 0.1 instead of 3), a lower learning rate (training.lr 0.1 instead of 1) ` +
        'or clipping the gradient norm (training.maxGradNorm 1 instead of 0).',
    );
    // What the worker forwards survives structured cloning as it is.
    expect(structuredClone(e.divergence)).toEqual(e.divergence);
  });

  it('the command line names the flags that set those fields', () => {
    const e = new RunDivergedError({ ...divergence, suggestions: divergence.suggestions.slice(1) });
    expect(describeDivergence(e.divergence, (s) => `${flagOf(s.path)} ${formatSetting(s.value)}`)).toBe(
      `${WHAT} Try a lower learning rate (--lr 0.1 instead of 1) or clipping the gradient norm (--max-grad-norm 1 instead of 0).`,
    );
    expect(flagOf(['training', 'weightDecay'])).toBe('--weight-decay');
  });

  it('without a setting to blame, the message is what happened alone', () => {
    expect(new RunDivergedError({ ...divergence, kind: 'non-finite', step: 1, suggestions: [] }).message).toBe(WHAT);
  });

  it('suggested values print without float noise', () => {
    expect([3e-3 / 10, 0.1 / 3, 5e-3 / 10, 1 / 10].map(formatSetting)).toEqual(['0.0003', '0.0333', '0.0005', '0.1']);
  });
});
