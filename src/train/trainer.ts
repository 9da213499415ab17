// The training loop: batches in a seeded order, forward + backward + AdamW recorded as one
// submission per step, the loss read back asynchronously one step behind, events for the
// front doors, cancellation between steps, and a saved state that resumes bit for bit.
//
// Data order: epoch e visits the examples in the permutation drawn from Rng(seed).fork(e), so
// the order of every step is a function of (seed, step) alone; the saved state needs no RNG.

import type { AdapterParams } from '../adapters/init';
import type { GpuContext } from '../gpu/context';
import type { GpuModel } from '../model/gpu-model';
import { Emitter } from '../util/emitter';
import type { StepGate } from '../util/gate';
import { Rng } from '../util/rng';
import { permutation } from '../util/sample';
import { makeBatch, type TokenizedExample } from './batching';
import { checkTrainConfig, type TrainConfig } from './config';
import { AdamW } from './optimizer';
import { createLrSchedule, type LrSchedule } from './schedule';

export interface StepRecord {
  step: number;
  epoch: number;
  /** Mean NLL over the batch's target tokens. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  tokens: number;
}

export interface ProgressEvent {
  step: number;
  totalSteps: number;
  epoch: number;
  tokensPerSecond: number;
  elapsedMs: number;
  etaMs: number;
}

/** What a trainer reports: each step's figures once its loss is read back, then the progress. */
export type TrainerEvent = ({ type: 'step' } & StepRecord) | ({ type: 'progress' } & ProgressEvent);

// ---------------------------------------------------------------------------------------------
// The divergence watch: each step's figures, as they are read back, against three signs that a
// run has gone wrong and cannot come back, each stopping it with a TrainingDivergedError.
//   non-finite   the loss or the gradient norm is NaN or ±Infinity (the optimizer skips such a
//                step on the GPU, but the next one would be no better). At step 1, before any
//                update, the model itself is to blame, not a setting.
//   above-uniform  the loss stays above the ceiling for ABOVE_UNIFORM_STEPS steps in a row. The
//                ceiling is ln V (V the vocabulary size), the loss of a model that knows nothing
//                and calls every token equally likely; or the first step's loss when that is
//                higher (a random model, random tokens), so that only getting worse counts.
//   zero-gradient  the gradient norm is exactly 0 for ZERO_GRADIENT_STEPS steps in a row while
//                the loss is above ZERO_GRADIENT_LOSS_FLOOR: the output has stopped depending on
//                the adapters (saturated after too large updates), so nothing can move them.
// None of these is a run setting: they only tell when a run is already lost.

/**
 * Sixteen: loss spikes above ln V are common at high learning rates and often recover. Over 24
 * runs of stories260K on the story task at lr 0.3 and 1 (LoRA, DoRA, D2-LoRA, clipped and not,
 * 32 steps), the longest stretch above ln V in a run that came back below it was 13 steps; the
 * runs that stayed above for 17 or more ended above it. A stretch of 16 steps is also longer
 * than the memory of AdamW's first moment at the default β₁ = 0.9 (about 10 steps), the usual
 * time an overshoot takes to correct itself.
 */
export const ABOVE_UNIFORM_STEPS = 16;
/**
 * Three: a live network's gradient is never exactly zero (a zero needs every adapter's gradient
 * to vanish at once, not a fluctuation), so a short stretch already says it is dead; three rules
 * out a single degenerate batch.
 */
export const ZERO_GRADIENT_STEPS = 3;
/**
 * A batch the model already predicts with p ≈ 1 in float32 has a loss near 0 and may have an
 * exactly zero gradient: that is convergence, not a dead network. Above 1e-3 nats per token the
 * softmax gradients are at least ~1e-3, whose squares are nowhere near float32's underflow.
 */
export const ZERO_GRADIENT_LOSS_FLOOR = 1e-3;

export type DivergenceKind = 'non-finite' | 'above-uniform' | 'zero-gradient';

/** The trainer settings a divergence can suggest changing (TrainConfig's names). */
export type TrainSetting = 'lr' | 'maxGradNorm' | 'weightDecay';

export interface SettingSuggestion {
  setting: TrainSetting;
  /** The run's value. */
  current: number;
  /** The value to try. */
  value: number;
}

/** What the watch saw, for front doors to word in their own terms (their flags, their fields). */
export interface Divergence {
  kind: DivergenceKind;
  /** The step (1-based) whose figures stopped the run. */
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** What happened, in complete sentences, naming no setting. */
  what: string;
  /** The settings to change, likeliest first; empty when no setting is to blame (a model that is not finite from step 1). */
  suggestions: SettingSuggestion[];
}

/**
 * The run stopped because its figures say it has diverged (see the watch above). The message is
 * readable as it is; `divergence` holds the parts for a front door to word with its own names
 * for the settings (describeDivergence).
 */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';

  constructor(
    readonly divergence: Divergence,
    message = describeDivergence(divergence, (s) => `${s.setting} ${formatSetting(s.value)}`),
  ) {
    super(message);
  }
}

/** The divergence as a message, each suggested setting written by `setTo` (e.g. `--lr 0.1`). */
export function describeDivergence<S extends SettingSuggestion>(d: Omit<Divergence, 'suggestions'> & { suggestions: readonly S[] }, setTo: (s: S) => string): string {
  if (d.suggestions.length === 0) return d.what;
  const options = d.suggestions.map((s) => `${SUGGESTION_PHRASES[s.setting]} (${setTo(s)} instead of ${formatSetting(s.current)})`);
  const list = options.length === 1 ? options[0] : `${options.slice(0, -1).join(', ')} or ${options[options.length - 1]}`;
  return `${d.what} Try ${list}.`;
}

const SUGGESTION_PHRASES: Record<TrainSetting, string> = {
  lr: 'a lower learning rate',
  maxGradNorm: 'clipping the gradient norm',
  weightDecay: 'less weight decay',
};

/** A suggested value as a front door prints it: three significant digits, no float noise. */
export function formatSetting(v: number): string {
  return String(Number(v.toPrecision(3)));
}

interface InFlight {
  step: number;
  epoch: number;
  lr: number;
  tokens: number;
  weights: Float32Array;
  readback: Promise<[Float32Array, Float32Array]>;
}

export class Trainer {
  readonly config: TrainConfig;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly schedule: LrSchedule;
  readonly history: StepRecord[] = [];
  private readonly optimizer: AdamW;
  private readonly ctx: GpuContext;
  private nextStep = 0;
  /** The current epoch's permutation, drawn once per epoch rather than once per step. */
  private epochOrder: { epoch: number; order: number[] } | null = null;
  private inflight: InFlight | null = null;
  /** Consecutive steps, up to the last one reported, with the loss above the ceiling and with a zero gradient. */
  private watch = { aboveCeiling: 0, zeroGradient: 0 };
  readonly events = new Emitter<TrainerEvent>();
  private clock = { startMs: 0, tokens: 0, startStep: 0 };

  /**
   * `recomputeActivations`: each step runs every layer's forward again in the backward instead of
   * keeping its activations (GpuModel.run's `recompute`): less memory, the same numbers.
   */
  constructor(
    readonly model: GpuModel,
    readonly examples: readonly TokenizedExample[],
    config: TrainConfig,
    readonly options: { recomputeActivations?: boolean } = {},
  ) {
    if (examples.length === 0) throw new Error('trainer: no training examples');
    this.config = checkTrainConfig(config);
    this.ctx = model.ctx;
    this.stepsPerEpoch = Math.ceil(examples.length / this.config.batchSize);
    this.totalSteps = this.stepsPerEpoch * this.config.epochs;
    this.schedule = createLrSchedule({
      lr: this.config.lr,
      minLr: this.config.minLr,
      warmupSteps: Math.round(this.config.warmupRatio * this.totalSteps),
      totalSteps: this.totalSteps,
      decay: this.config.decay,
    });
    const tensors = model.adapters().flatMap(({ name, layer }) => Object.entries(layer.params).map(([k, param]) => ({ name: `${name}.${k}`, param, grad: layer.grads[k]! })));
    this.optimizer = new AdamW(this.ctx, tensors, this.config, model.trainable ?? undefined);
  }

  get step(): number {
    return this.nextStep;
  }

  get done(): boolean {
    return this.nextStep >= this.totalSteps;
  }

  /** The examples of step s: batch s mod stepsPerEpoch of epoch ⌊s / stepsPerEpoch⌋'s permutation. */
  batchIndices(step: number): number[] {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    if (this.epochOrder?.epoch !== epoch) {
      this.epochOrder = { epoch, order: permutation(this.examples.length, new Rng(this.config.seed).fork('data-order').fork(epoch)) };
    }
    const k = step % this.stepsPerEpoch;
    return this.epochOrder.order.slice(k * this.config.batchSize, (k + 1) * this.config.batchSize);
  }

  /**
   * Records and submits one step; resolves once the previous step's loss has been read back
   * (its 'step' event emitted). Throws TrainingDivergedError when the watch stops the run; then,
   * as on any failure, nothing of this trainer is left running on the GPU.
   */
  async trainStep(): Promise<void> {
    if (this.done) throw new Error(`trainer: all ${this.totalSteps} steps are done`);
    const s = this.nextStep;
    if (this.clock.startMs === 0) this.clock = { startMs: performance.now(), tokens: 0, startStep: s };
    const examples = this.batchIndices(s).map((i) => this.examples[i]!);
    const batch = makeBatch(examples);
    this.model.zeroGrads();
    const losses = this.model.run(batch, true, { recompute: this.options.recomputeActivations });
    const lr = this.schedule.lrAt(s);
    this.optimizer.step(lr, s + 1);
    // One read for both, so that the step is one submission.
    const readback = this.ctx.readAll([losses, this.optimizer.factor]).then(([l, f]) => [l!, f!] as [Float32Array, Float32Array]);
    losses.release();
    this.nextStep = s + 1;
    const tokens = batch.lengths.reduce((a, b) => a + b, 0);
    const previous = this.inflight;
    this.inflight = { step: s, epoch: Math.floor(s / this.stepsPerEpoch), lr, tokens, weights: batch.weights, readback };
    if (previous) {
      try {
        await this.report(previous);
      } catch (e) {
        await this.abandon();
        throw e;
      }
    }
  }

  /** Waits for the last submitted step's loss. */
  async settle(): Promise<void> {
    const last = this.inflight;
    this.inflight = null;
    if (last) await this.report(last);
  }

  /**
   * Waits for the step in flight without reporting it (training has already failed): its
   * read-back must not outlive the trainer, since a read that settles after the caller destroyed
   * the GPU context rejects with nobody left to catch it.
   */
  private async abandon(): Promise<void> {
    const last = this.inflight;
    this.inflight = null;
    if (last) await last.readback.catch(() => undefined);
  }

  private async report(f: InFlight): Promise<void> {
    const [losses, factor] = await f.readback;
    let loss = 0;
    for (let i = 0; i < losses.length; i++) loss += f.weights[i]! * losses[i]!;
    const record: StepRecord = { step: f.step, epoch: f.epoch, loss, lr: f.lr, gradNorm: factor[1]!, tokens: f.tokens };
    if (!Number.isFinite(loss) || !Number.isFinite(record.gradNorm)) throw new TrainingDivergedError(this.nonFinite(record));
    this.history.push(record);
    this.events.emit({ type: 'step', ...record });
    this.clock.tokens += f.tokens;
    const elapsedMs = performance.now() - this.clock.startMs;
    const stepsDone = f.step + 1 - this.clock.startStep;
    this.events.emit({
      type: 'progress',
      step: f.step + 1,
      totalSteps: this.totalSteps,
      epoch: f.epoch,
      tokensPerSecond: this.clock.tokens / (elapsedMs / 1000),
      elapsedMs,
      etaMs: (elapsedMs / stepsDone) * (this.totalSteps - f.step - 1),
    });
    const divergence = this.watchStep(record);
    if (divergence) throw new TrainingDivergedError(divergence);
  }

  /** The above-uniform and zero-gradient signs after a finite step (null: the run goes on). */
  private watchStep(r: StepRecord): Divergence | null {
    const vocab = this.model.config.vocabSize;
    const uniform = Math.log(vocab);
    const ceiling = Math.max(uniform, this.history[0]!.loss);
    this.watch.aboveCeiling = r.loss > ceiling ? this.watch.aboveCeiling + 1 : 0;
    this.watch.zeroGradient = r.gradNorm === 0 && r.loss > ZERO_GRADIENT_LOSS_FLOOR ? this.watch.zeroGradient + 1 : 0;
    const stretch = (k: number) => `${k} steps in a row (steps ${r.step + 2 - k}–${r.step + 1} of ${this.totalSteps})`;
    if (this.watch.aboveCeiling >= ABOVE_UNIFORM_STEPS) {
      const worseThan =
        ceiling === uniform
          ? `ln ${vocab} = ${uniform.toFixed(3)}, the loss of calling all ${vocab} tokens of the vocabulary equally likely`
          : `${ceiling.toFixed(3)}, the loss of its first step`;
      const what =
        `training diverged: the loss stayed above ${worseThan}, for ${stretch(ABOVE_UNIFORM_STEPS)}; it was ${r.loss.toFixed(3)} at the last of them. ` +
        'The model now predicts worse than knowing nothing, and the run was stopped.';
      return this.divergence('above-uniform', r, what);
    }
    if (this.watch.zeroGradient >= ZERO_GRADIENT_STEPS) {
      const what =
        `training diverged: the gradient norm was exactly 0 for ${stretch(ZERO_GRADIENT_STEPS)} while the loss stayed at ${r.loss.toFixed(3)} ` +
        `(ln ${vocab} = ${uniform.toFixed(3)} is the loss of calling every token equally likely). The model's output no longer responds to the adapters ` +
        '(its activations saturated after too large updates), so training cannot move them, and the run was stopped.';
      return this.divergence('zero-gradient', r, what);
    }
    return null;
  }

  private nonFinite(r: StepRecord): Divergence {
    const figures = `loss ${r.loss}, gradient norm ${r.gradNorm}, learning rate ${formatSetting(r.lr)}`;
    if (r.step === 0) {
      // No update has been applied yet: the adapters are at their initial values, where every
      // method's output equals the base model's.
      const what =
        `training stopped at step 1, before any update (${figures}): the model does not compute finite values on this data, ` +
        'so no training setting is to blame; check the model (a checkpoint whose weights are too large for float32 arithmetic).';
      return { kind: 'non-finite', step: 1, loss: r.loss, gradNorm: r.gradNorm, lr: r.lr, what, suggestions: [] };
    }
    const which = Number.isFinite(r.loss) ? `the gradient norm became ${r.gradNorm}` : `the training loss became ${r.loss}`;
    const what =
      `training diverged: ${which} at step ${r.step + 1} of ${this.totalSteps} (${figures}). ` +
      'The optimizer skipped that step, but training cannot go on from non-finite values, and the run was stopped.';
    return this.divergence('non-finite', r, what);
  }

  /** A divergence after updates: the settings that make updates smaller, the likeliest cause first. */
  private divergence(kind: DivergenceKind, r: StepRecord, what: string): Divergence {
    const { lr, weightDecay, maxGradNorm } = this.config;
    const suggestions: SettingSuggestion[] = [];
    // Decoupled decay multiplies every factor by 1 − lr·weightDecay per step: at lr·wd ≥ 1 it
    // flips their sign (and grows them past 2) instead of shrinking them.
    if (lr * weightDecay >= 1) suggestions.push({ setting: 'weightDecay', current: weightDecay, value: Number((0.1 / lr).toPrecision(1)) });
    suggestions.push({ setting: 'lr', current: lr, value: Number((lr / 10).toPrecision(3)) });
    if (maxGradNorm === 0 || maxGradNorm > 1) suggestions.push({ setting: 'maxGradNorm', current: maxGradNorm, value: 1 });
    return { kind, step: r.step + 1, loss: r.loss, gradNorm: r.gradNorm, lr: r.lr, what, suggestions };
  }

  /**
   * Trains to the end (or `untilStep`), stopping between steps when `signal` aborts; with a
   * `gate`, pausing between steps too (the step in flight reported first).
   */
  async run(
    opts: {
      signal?: AbortSignal;
      untilStep?: number;
      gate?: StepGate;
      /** After each step is submitted, with the number of steps done; resolving true stops the run there. */
      afterStep?: (stepsDone: number) => Promise<boolean>;
    } = {},
  ): Promise<void> {
    const until = Math.min(opts.untilStep ?? this.totalSteps, this.totalSteps);
    // Time spent paused or in afterStep counts neither in tokens/s nor in the ETA.
    const excluded = async (work: () => Promise<boolean | void>) => {
      const from = performance.now();
      const result = await work();
      if (this.clock.startMs !== 0) this.clock.startMs += performance.now() - from;
      return result;
    };
    try {
      while (this.nextStep < until) {
        opts.signal?.throwIfAborted();
        if (opts.gate) await excluded(() => opts.gate!.pass(() => this.settle()));
        await this.trainStep();
        if (opts.afterStep && (await excluded(() => opts.afterStep!(this.nextStep)))) break;
      }
    } catch (e) {
      // Stopped (cancelled, or failed): the step in flight is still reported when it can be, and
      // waited for in any case, but the first error is the one the caller hears.
      await this.settle().catch(() => undefined);
      throw e;
    }
    await this.settle();
  }

  /** Mean NLL per target token over `examples` (no gradients), in batches. */
  async evaluateLoss(examples: readonly TokenizedExample[], batchSize = this.config.batchSize): Promise<number> {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < examples.length; i += batchSize) {
      const batch = makeBatch(examples.slice(i, i + batchSize));
      const losses = this.model.run(batch, false);
      const values = await this.ctx.read(losses);
      losses.release();
      for (const v of values) sum += v;
      count += values.length;
    }
    return count > 0 ? sum / count : NaN;
  }

  // -------------------------------------------------------------------------------------------
  // Saved state

  async saveState(): Promise<TrainerState> {
    await this.settle();
    const adapters = await Promise.all(this.model.adapters().map(async ({ name, layer }) => ({ name, params: await layer.readParams() })));
    return { step: this.nextStep, config: this.config, adapters, moments: await this.optimizer.readMoments(), history: [...this.history], watch: { ...this.watch } };
  }

  async loadState(state: TrainerState): Promise<void> {
    await this.settle();
    const byName = new Map(state.adapters.map((a) => [a.name, a.params]));
    for (const { name, layer } of this.model.adapters()) {
      const p = byName.get(name);
      if (!p) throw new Error(`trainer state: adapter "${name}" is missing from the saved state`);
      layer.writeParams(p);
    }
    for (const k of ['seed', 'batchSize', 'epochs'] as const) {
      if (state.config[k] !== this.config[k]) {
        throw new Error(`trainer state: saved ${k} ${state.config[k]} differs from this run's ${this.config[k]}; resume with the same data order`);
      }
    }
    this.optimizer.writeMoments(state.moments);
    this.nextStep = state.step;
    this.watch = { ...state.watch };
    this.history.splice(0, this.history.length, ...state.history);
    this.clock = { startMs: 0, tokens: 0, startStep: state.step };
  }

  destroy(): void {
    this.optimizer.destroy();
  }
}

export interface TrainerState {
  step: number;
  config: TrainConfig;
  adapters: { name: string; params: AdapterParams }[];
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
  history: StepRecord[];
  /** The divergence watch's stretches in progress, so that a resumed run stops where the uninterrupted one would. */
  watch: { aboveCeiling: number; zeroGradient: number };
}
