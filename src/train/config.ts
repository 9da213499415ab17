// The trainer's configuration and its check. Complete configurations only: their defaults are the
// RunSpec's (src/run/spec.ts). Kept apart from the trainer so that what validates a run needs no
// GPU code.

import type { AdamWConfig } from './optimizer';
import { LR_DECAYS, type LrDecay } from './schedule';

export interface TrainConfig extends AdamWConfig {
  epochs: number;
  batchSize: number;
  /** Peak learning rate. */
  lr: number;
  /** Learning rate at the end of the decay. */
  minLr: number;
  /** Fraction of all steps spent warming up linearly from 0. */
  warmupRatio: number;
  decay: LrDecay;
  /** Data order seed. */
  seed: number;
}

const TRAIN_CONFIG_FIELDS: readonly (keyof TrainConfig)[] = [
  'epochs', 'batchSize', 'lr', 'minLr', 'warmupRatio', 'decay', 'seed', 'beta1', 'beta2', 'eps', 'weightDecay', 'maxGradNorm',
];

export class TrainConfigError extends Error {
  override name = 'TrainConfigError';
  constructor(
    readonly field: string,
    expected: string,
    found: unknown,
  ) {
    super(`train config: ${field}: found ${String(found)}; expected ${expected}`);
  }
}

/** Checks every field of a complete configuration (the defaults are the RunSpec's, src/run/spec.ts). */
export function checkTrainConfig(config: TrainConfig): TrainConfig {
  for (const k of Object.keys(config)) {
    if (!TRAIN_CONFIG_FIELDS.includes(k as keyof TrainConfig)) throw new TrainConfigError(k, `one of the fields ${TRAIN_CONFIG_FIELDS.join(', ')}`, k);
  }
  for (const k of TRAIN_CONFIG_FIELDS) if (config[k] === undefined) throw new TrainConfigError(k, 'a value (the configuration must be complete)', undefined);
  const c: TrainConfig = { ...config };
  const positiveInt = (f: 'epochs' | 'batchSize') => {
    if (!Number.isInteger(c[f]) || c[f] < 1) throw new TrainConfigError(f, 'an integer ≥ 1', c[f]);
  };
  positiveInt('epochs');
  positiveInt('batchSize');
  if (!(c.lr > 0) || !Number.isFinite(c.lr)) throw new TrainConfigError('lr', 'a finite number > 0', c.lr);
  if (!(c.minLr >= 0) || c.minLr > c.lr) throw new TrainConfigError('minLr', `a number in [0, lr = ${c.lr}]`, c.minLr);
  if (!(c.warmupRatio >= 0 && c.warmupRatio <= 1)) throw new TrainConfigError('warmupRatio', 'a number in [0, 1]', c.warmupRatio);
  if (!LR_DECAYS.includes(c.decay)) throw new TrainConfigError('decay', `one of ${LR_DECAYS.join(', ')}`, c.decay);
  if (!Number.isSafeInteger(c.seed)) throw new TrainConfigError('seed', 'a safe integer', c.seed);
  if (!(c.beta1 >= 0 && c.beta1 < 1)) throw new TrainConfigError('beta1', 'a number in [0, 1)', c.beta1);
  if (!(c.beta2 >= 0 && c.beta2 < 1)) throw new TrainConfigError('beta2', 'a number in [0, 1)', c.beta2);
  if (!(c.eps > 0)) throw new TrainConfigError('eps', 'a number > 0', c.eps);
  if (!(c.weightDecay >= 0)) throw new TrainConfigError('weightDecay', 'a number ≥ 0', c.weightDecay);
  if (!(c.maxGradNorm >= 0)) throw new TrainConfigError('maxGradNorm', 'a number ≥ 0 (0 disables clipping)', c.maxGradNorm);
  return c;
}

