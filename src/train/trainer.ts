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

/** The loss became NaN or infinite; the update of that step was skipped on the GPU. */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
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
  readonly events = new Emitter<TrainerEvent>();
  private clock = { startMs: 0, tokens: 0, startStep: 0 };

  constructor(
    readonly model: GpuModel,
    readonly examples: readonly TokenizedExample[],
    config: TrainConfig,
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
    this.optimizer = new AdamW(this.ctx, tensors, this.config);
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
   * (its 'step' event emitted). Throws TrainingDivergedError on a non-finite loss.
   */
  async trainStep(): Promise<void> {
    if (this.done) throw new Error(`trainer: all ${this.totalSteps} steps are done`);
    const s = this.nextStep;
    if (this.clock.startMs === 0) this.clock = { startMs: performance.now(), tokens: 0, startStep: s };
    const examples = this.batchIndices(s).map((i) => this.examples[i]!);
    const batch = makeBatch(examples);
    for (const { layer } of this.model.adapters()) layer.zeroGrads();
    const losses = this.model.run(batch, true);
    const lr = this.schedule.lrAt(s);
    this.optimizer.step(lr, s + 1);
    const readback = Promise.all([this.ctx.read(losses), this.ctx.read(this.optimizer.factor)]);
    losses.release();
    this.nextStep = s + 1;
    const tokens = batch.lengths.reduce((a, b) => a + b, 0);
    const previous = this.inflight;
    this.inflight = { step: s, epoch: Math.floor(s / this.stepsPerEpoch), lr, tokens, weights: batch.weights, readback };
    if (previous) await this.report(previous);
  }

  /** Waits for the last submitted step's loss. */
  async settle(): Promise<void> {
    const last = this.inflight;
    this.inflight = null;
    if (last) await this.report(last);
  }

  private async report(f: InFlight): Promise<void> {
    const [losses, factor] = await f.readback;
    let loss = 0;
    for (let i = 0; i < losses.length; i++) loss += f.weights[i]! * losses[i]!;
    const record: StepRecord = { step: f.step, epoch: f.epoch, loss, lr: f.lr, gradNorm: factor[1]!, tokens: f.tokens };
    if (!Number.isFinite(loss) || !Number.isFinite(record.gradNorm)) {
      this.inflight = null;
      throw new TrainingDivergedError(
        `the training loss became ${loss} at step ${f.step + 1} (learning rate ${f.lr.toExponential(2)}, gradient norm ${record.gradNorm}). ` +
          'That step\'s update was skipped, so the adapters hold the last finite state; lower the learning rate or clip harder (maxGradNorm) and resume.',
      );
    }
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
    } finally {
      await this.settle();
    }
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
    return { step: this.nextStep, config: this.config, adapters, moments: await this.optimizer.readMoments(), history: [...this.history] };
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
}
