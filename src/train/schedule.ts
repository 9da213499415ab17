// The learning-rate schedule: linear warm-up, then linear or cosine decay to minLr (or a constant
// rate), over totalSteps optimizer steps. Pure TypeScript; configs arrive from the UI, share links
// and the CLI, so every field is checked and an error names the field.
//
// `step` is the 0-based index of the optimizer step (AdamW's t = step + 1). With w = warmupSteps,
// T = totalSteps:
//   step < w:   lr·(step + 1)/w                  (the first step already moves; step w − 1 is at lr)
//   step ≥ w:   p = (step − w)/(T − w), 1 from step T on   (0 at the first step after warm-up)
//     'linear'    minLr + (lr − minLr)·(1 − p)
//     'cosine'    minLr + (lr − minLr)·(1 + cos πp)/2
//     'constant'  lr
// The decay is Hugging Face's get_{linear,cosine}_schedule_with_warmup shifted to a floor of
// minLr; it reaches minLr at step T (one past the last), so no step is taken at minLr = 0.

export type LrDecay = 'linear' | 'cosine' | 'constant';
export const LR_DECAYS: readonly LrDecay[] = ['linear', 'cosine', 'constant'];

export interface LrScheduleConfig {
  /** Peak learning rate, reached at the end of the warm-up. */
  lr: number;
  /** Floor of the decay (ignored by 'constant'). */
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
  decay: LrDecay;
}

/** Every field but totalSteps, which each run must give. */
export const DEFAULT_LR_SCHEDULE: Readonly<Omit<LrScheduleConfig, 'totalSteps'>> = Object.freeze({
  lr: 1e-3,
  minLr: 0,
  warmupSteps: 0,
  decay: 'cosine',
});

export class ScheduleConfigError extends Error {
  readonly field: string;

  constructor(field: string, expected: string, found: unknown) {
    // lr schedule: warmupSteps: found 1.5; expected an integer in [0, totalSteps = 100]
    super(`lr schedule: ${field}: found ${typeof found === 'string' ? `'${found}'` : String(found)}; expected ${expected}`);
    this.name = 'ScheduleConfigError';
    this.field = field;
  }
}

const FIELDS: readonly (keyof LrScheduleConfig)[] = ['lr', 'minLr', 'warmupSteps', 'totalSteps', 'decay'];

/** Fills `partial` from DEFAULT_LR_SCHEDULE and checks every field; throws ScheduleConfigError. */
export function resolveLrSchedule(partial: Partial<LrScheduleConfig>): LrScheduleConfig {
  for (const field of Object.keys(partial)) {
    if (!(FIELDS as readonly string[]).includes(field)) {
      throw new ScheduleConfigError(field, `no such field (the fields are ${FIELDS.join(', ')})`, (partial as Record<string, unknown>)[field]);
    }
  }
  const cfg = { ...DEFAULT_LR_SCHEDULE, ...partial } as LrScheduleConfig;
  if (!Number.isInteger(cfg.totalSteps) || cfg.totalSteps < 1) throw new ScheduleConfigError('totalSteps', 'an integer ≥ 1', cfg.totalSteps);
  if (!Number.isInteger(cfg.warmupSteps) || cfg.warmupSteps < 0 || cfg.warmupSteps > cfg.totalSteps) {
    throw new ScheduleConfigError('warmupSteps', `an integer in [0, totalSteps = ${cfg.totalSteps}]`, cfg.warmupSteps);
  }
  if (typeof cfg.lr !== 'number' || !Number.isFinite(cfg.lr) || cfg.lr <= 0) throw new ScheduleConfigError('lr', 'a finite number > 0', cfg.lr);
  if (typeof cfg.minLr !== 'number' || !Number.isFinite(cfg.minLr) || cfg.minLr < 0 || cfg.minLr > cfg.lr) {
    throw new ScheduleConfigError('minLr', `a number in [0, lr = ${cfg.lr}]`, cfg.minLr);
  }
  if (!LR_DECAYS.includes(cfg.decay)) throw new ScheduleConfigError('decay', `one of ${LR_DECAYS.join(', ')}`, cfg.decay);
  return cfg;
}

export interface LrSchedule {
  readonly config: Readonly<LrScheduleConfig>;
  /** The learning rate of optimizer step `step` (0-based); past totalSteps it stays at the end value. */
  lrAt(step: number): number;
}

export function createLrSchedule(partial: Partial<LrScheduleConfig>): LrSchedule {
  const config = Object.freeze(resolveLrSchedule(partial));
  const { lr, minLr, warmupSteps: w, totalSteps: T, decay } = config;
  return {
    config,
    lrAt(step: number): number {
      if (!Number.isInteger(step) || step < 0) throw new RangeError(`lr schedule: step: found ${step}; expected an integer ≥ 0`);
      if (step < w) return (lr * (step + 1)) / w;
      if (decay === 'constant') return lr;
      const p = step >= T ? 1 : (step - w) / (T - w);
      const shape = decay === 'linear' ? 1 - p : (1 + Math.cos(Math.PI * p)) / 2;
      return minLr + (lr - minLr) * shape;
    },
  };
}
