// Run: the main job as a staged process, the same for the command line and the page. It takes a
// RunSpec and goes through
//   load-model → load-task → tokenize → eval-before → train → eval-after → merge → eval-merged → export
// reporting everything on one typed event stream: stage changes, download progress, the tokenized
// task (truncation included), each step's loss, lr and gradient norm, progress with tokens/s and
// ETA, evaluation progress and results, and at the end the metrics and the artifacts as bytes (or
// the error). Pause, resume and cancel take effect between steps (training steps and evaluation
// batches).
//
// Where models and tasks come from is the front door's business (RunEnvironment): Node reads
// paths, the mirror and its cache folder; the browser fetches, reads picked files and its Cache
// API. What the run does with them is the same everywhere.
//
// After a finished run (keepModels), the trained model (adapters live) and the merged model (a
// view sharing every tensor but the merged ones) stay on the GPU for generation and scoring until
// dispose(); while paused, the trained model is usable too.

import type { AdapterConfig } from '../adapters/config';
import type { AdapterParams } from '../adapters/init';
import type { GpuContext } from '../gpu/context';
import type { OnnxWeightType } from '../export/onnx';
import type { LoadedModel } from '../io/load';
import { GpuModel } from '../model/gpu-model';
import { checkModelFitsDevice } from '../model/model-size';
import type { GpuWeights } from '../model/gpu-weights';
import { defaultTargets, linearModules, targetMatches } from '../model/names';
import { prepareTask, tokenizeMultipleChoiceItems, trainingExample, type PreparedTask, type TokenizedChoiceItem, type TruncationReport } from '../tasks/protocol';
import type { TaskData } from '../tasks/types';
import type { Tokenizer } from '../tokenizer/types';
import { accuracyOf, scoreMultipleChoice, type ChoiceScoring } from '../train/eval';
import type { TokenizedExample } from '../train/batching';
import type { TrainConfig } from '../train/config';
import { Trainer, TrainingDivergedError, describeDivergence, formatSetting, type Divergence, type ProgressEvent, type SettingSuggestion, type StepRecord } from '../train/trainer';
import { Emitter } from '../util/emitter';
import { Rng } from '../util/rng';
import { permutation } from '../util/sample';
import { StepGate } from '../util/gate';
import { adapterAnatomy, type AdapterAnatomy } from './anatomy';
import { buildArtifacts } from './artifacts';
import { encodeRunCheckpoint, type CheckpointReason, type HeldOutState, type RunCheckpoint } from './checkpoint';
import type { EvalPhase, RunStage } from './stages';
import { adapterConfigOf, formatPath, TRAIN_SETTING_PATHS, trainConfigOf, type FileRef, type ModelSpec, type RunSpec, type TaskSpec } from './spec';

export { RUN_STAGES, type EvalPhase, type RunStage } from './stages';
export type RunStatus = 'created' | 'running' | 'paused' | 'done' | 'failed' | 'cancelled';

export const ENGINE_VERSION = '0.2.0';

export interface EvalSummary {
  accuracy: number;
  accuracySum: number;
  accuracyMean: number;
  items: number;
  ms: number;
  itemsPerSecond: number;
}

/** metrics.json: the spec, every step, the three evaluations, the merge gap, timings, device and versions. */
export interface RunMetrics {
  spec: RunSpec;
  model: { name: string; family: string; parameters: number };
  task: { name: string; source: string; counts: Record<string, number | boolean>; notes: string[]; truncation: { train: TruncationReport; eval: TruncationReport } };
  adapter: AdapterConfig & { targets: string[]; trainableParameters: number };
  train: TrainConfig & { steps: number };
  scoring: ChoiceScoring;
  chance: number;
  before: EvalSummary;
  after: EvalSummary;
  merged: EvalSummary;
  /** (merged − unmerged) accuracy in percentage points. */
  mergeGapPoints: number;
  /** Items per second merged ÷ unmerged. */
  mergedThroughputRatio: number;
  steps: StepRecord[];
  /** The held-out losses during training (mean NLL per answer token), by step done. */
  heldOut: { step: number; loss: number }[];
  /** Where early stopping stopped and which step's adapters it kept; null when it was off or never stopped. */
  earlyStopping: { stoppedAtStep: number; bestStep: number; bestLoss: number } | null;
  /** Inside the adapter: every adapted module's update against its frozen weight (see anatomy.ts). */
  anatomy: AdapterAnatomy;
  /** The steps at which the run was resumed from a checkpoint (empty for a run that ran through). */
  resumedAt: number[];
  /** Training time, pauses excluded (for a resumed run, summed over its sessions); totalMs: this session's wall time. */
  timings: { trainMs: number; msPerStep: number; tokensPerSecond: number; totalMs: number };
  device: { vendor: string; architecture: string; description: string };
  versions: { format: number; engine: string };
  createdAt: string;
}

/** The output folder as file name → bytes (names may hold one folder: "adapter/…"). */
export type RunArtifacts = Map<string, Uint8Array>;

export interface RunResult {
  metrics: RunMetrics;
  artifacts: RunArtifacts;
}

/** What the page shows of the model once it is loaded. */
export interface ModelSummary {
  name: string;
  family: string;
  parameters: number;
  layers: number;
  hiddenSize: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  context: number;
  /** The linear modules of a layer: the names targets select from. */
  modules: string[];
  warnings: string[];
}

/** An evaluation item as the model sees it, decoded back to text. */
export interface ItemPreview {
  prompt: string;
  choices: string[];
  answer: number;
  /** Prompt tokens cut from the left to fit maxLength. */
  cut: number;
}

export type RunEvent =
  | { type: 'stage'; stage: RunStage; detail: string }
  | { type: 'download'; file: string; loaded: number; total: number | null }
  | { type: 'model'; model: ModelSummary }
  | {
      type: 'tokenized';
      name: string;
      counts: Record<string, number | boolean>;
      notes: string[];
      truncation: { train: TruncationReport; eval: TruncationReport };
      chance: number;
      trainExamples: number;
      evalItems: number;
      totalSteps: number;
      trainableParameters: number;
      preview: ItemPreview[];
    }
  | ({ type: 'step' } & StepRecord)
  | ({ type: 'progress' } & ProgressEvent)
  /** The held-out loss after `step` steps; `best`: the lowest so far. */
  | { type: 'held-out'; step: number; loss: number; best: boolean }
  /** Early stopping ended training at `step`; the adapters of `bestStep` are kept. */
  | { type: 'stopped-early'; step: number; bestStep: number; bestLoss: number }
  | { type: 'eval-progress'; phase: EvalPhase; done: number; total: number }
  | { type: 'eval'; phase: EvalPhase; summary: EvalSummary }
  | { type: 'paused'; stage: RunStage; step: number }
  | { type: 'resumed'; stage: RunStage; step: number }
  /** A run resumed from a checkpoint: the steps and held-out losses it had, before it goes on from `step`. */
  | { type: 'restored'; step: number; totalSteps: number; steps: StepRecord[]; heldOut: { step: number; loss: number; best: boolean }[]; savedAt: string }
  /** A checkpoint was written (RunOptions.checkpoints): the run can go on from `step` after a reload. */
  | { type: 'checkpoint'; step: number; totalSteps: number; reason: CheckpointReason }
  | { type: 'done'; metrics: RunMetrics; artifacts: RunArtifacts }
  | { type: 'cancelled'; stage: RunStage }
  | { type: 'error'; stage: RunStage; name: string; message: string; divergence?: RunDivergence };

/** How a front door supplies the run's inputs. */
export interface RunEnvironment {
  ctx: GpuContext;
  /** The model the spec names; for local or picked files also each file read and its sha256. */
  loadModel(spec: ModelSpec, opts: LoadHooks): Promise<{ model: LoadedModel; files?: FileRef[] }>;
  loadTask(spec: TaskSpec, opts: LoadHooks): Promise<TaskData>;
  /**
   * The model's base weights already on the GPU, when the front door keeps them (the worker:
   * uploaded once per loaded model, shared with generation); without it the run uploads its own.
   */
  uploadedWeights?(model: LoadedModel): GpuWeights;
}

export interface LoadHooks {
  onProgress: (p: { file: string; loaded: number; total: number | null }) => void;
  signal: AbortSignal;
}

export interface RunOptions {
  /** Build the checkpoint and adapter files (default true; comparisons need only the metrics). */
  exportArtifacts?: boolean;
  /** Also export the merged model as ONNX (onnx/model.onnx …, src/export/onnx.ts), in these weight types (default: none). */
  onnx?: { weightTypes?: readonly OnnxWeightType[] };
  /** Keep the trained and merged models on the GPU after the run, until dispose() (default false). */
  keepModels?: boolean;
  /** Save checkpoints while training: when it starts, after each epoch, on pause, and at an interval. */
  checkpoints?: CheckpointOptions;
  /** Go on from this checkpoint (its spec is the run's): the same result, bit for bit, as the run that wrote it carried on. */
  resumeFrom?: RunCheckpoint;
}

export interface CheckpointOptions {
  /** Also every this many steps (0: none). */
  everySteps?: number;
  /** Also once this much training time has passed since the last checkpoint (default DEFAULT_CHECKPOINT_MS; 0: none). */
  everyMs?: number;
  /** Stores the checkpoint's files; the run waits for it (a rejection fails the run). */
  save(files: Map<string, Uint8Array>, info: { step: number; totalSteps: number; reason: CheckpointReason }): Promise<void>;
}

/**
 * Two minutes: a crash loses at most that much training, while a checkpoint (which waits for the
 * step in flight and reads the adapters and moments back) costs about one step's time.
 */
export const DEFAULT_CHECKPOINT_MS = 120_000;

export class RunCancelledError extends Error {
  override name = 'RunCancelledError';
}

/** A trainer setting the divergence suggests changing, with the RunSpec field it comes from. */
export interface SpecSuggestion extends SettingSuggestion {
  /** The field's path in the RunSpec, e.g. ['training', 'lr']. */
  path: string[];
}

/** The trainer's divergence in the RunSpec's terms: what a front door words with its own names for the fields. */
export interface RunDivergence extends Divergence {
  suggestions: SpecSuggestion[];
}

/**
 * The run's training diverged: its message names the spec's fields ("training.lr 0.1");
 * `divergence` (also on the 'error' event) lets a front door name its own (flags, form fields).
 */
export class RunDivergedError extends TrainingDivergedError {
  declare readonly divergence: RunDivergence;

  constructor(d: Divergence) {
    const divergence: RunDivergence = { ...d, suggestions: d.suggestions.map((s) => ({ ...s, path: [...TRAIN_SETTING_PATHS[s.setting]] })) };
    super(divergence, describeDivergence(divergence, (s) => `${formatPath(s.path)} ${formatSetting(s.value)}`));
  }
}

export class Run {
  readonly events = new Emitter<RunEvent>();
  /** The spec as run: a local or picked model's files pinned by sha256 once read. */
  spec: RunSpec;
  status: RunStatus = 'created';
  stage: RunStage = 'load-model';
  model: LoadedModel | null = null;
  prepared: PreparedTask | null = null;
  evalItems: TokenizedChoiceItem[] = [];
  /** The model with the adapters, live: the untrained model until training starts. */
  gpuModel: GpuModel | null = null;
  /** The merged weights on the GPU, after the merge stage. */
  mergedModel: GpuModel | null = null;
  trainer: Trainer | null = null;
  result: RunResult | null = null;
  private readonly gate = new StepGate();

  constructor(
    readonly env: RunEnvironment,
    spec: RunSpec,
    readonly options: RunOptions = {},
  ) {
    this.spec = structuredClone(spec);
    this.gate.onPaused = () => {
      this.status = 'paused';
      this.events.emit({ type: 'paused', stage: this.stage, step: this.trainer?.step ?? 0 });
    };
    this.gate.onResumed = () => {
      this.status = 'running';
      this.events.emit({ type: 'resumed', stage: this.stage, step: this.trainer?.step ?? 0 });
    };
  }

  /** A run that goes on from `checkpoint` (with its spec). */
  static resume(env: RunEnvironment, checkpoint: RunCheckpoint, options: Omit<RunOptions, 'resumeFrom'> = {}): Run {
    return new Run(env, checkpoint.spec, { ...options, resumeFrom: checkpoint });
  }

  /** Stops at the next step boundary (a 'paused' event says when). */
  pause(): void {
    if (this.status === 'running') this.gate.pause();
  }

  resume(): void {
    this.gate.resume();
  }

  /** Stops at the next step boundary; start() then rejects with RunCancelledError. */
  cancel(): void {
    this.gate.cancel(new RunCancelledError('the run was cancelled'));
  }

  /** Runs every stage; resolves with the metrics and artifacts, rejects with the error (also emitted). */
  async start(): Promise<RunResult> {
    if (this.status !== 'created') throw new Error(`this run was already started (${this.status})`);
    this.status = 'running';
    try {
      const result = await this.execute();
      this.result = result;
      this.status = 'done';
      this.events.emit({ type: 'done', ...result });
      return result;
    } catch (e) {
      if (this.gate.cancelled) {
        this.status = 'cancelled';
        this.events.emit({ type: 'cancelled', stage: this.stage });
        this.releaseModels();
        throw this.gate.signal.reason instanceof RunCancelledError ? this.gate.signal.reason : new RunCancelledError('the run was cancelled');
      }
      this.status = 'failed';
      const err = e instanceof TrainingDivergedError ? new RunDivergedError(e.divergence) : e instanceof Error ? e : new Error(String(e));
      const divergence = err instanceof RunDivergedError ? { divergence: err.divergence } : {};
      this.events.emit({ type: 'error', stage: this.stage, name: err.name, message: err.message, ...divergence });
      this.releaseModels();
      throw err;
    } finally {
      if (!this.options.keepModels) this.releaseModels();
    }
  }

  /**
   * Inside the adapter now: every adapted module's figures from the adapters' factors as they
   * stand (a paused or finished run; a finished run's metrics hold the same for its end).
   */
  async anatomy(): Promise<AdapterAnatomy> {
    if (this.status === 'running') throw new Error('the run is training: pause it to look inside its adapters');
    if (this.gpuModel === null || this.model === null) throw new Error(`the run has no adapters to look into (it is ${this.status}, at ${this.stage})`);
    return adapterAnatomy(this.model.config, this.model.weights, adapterConfigOf(this.spec), await this.readAdapters());
  }

  /** Frees the GPU models (a kept run's, when the front door is done with it). */
  dispose(): void {
    if (this.status === 'running' || this.status === 'paused') this.cancel();
    this.releaseModels();
  }

  private releaseModels(): void {
    this.mergedModel?.destroy();
    this.mergedModel = null;
    this.trainer?.destroy();
    this.trainer = null;
    this.gpuModel?.destroy();
    this.gpuModel = null;
  }

  private enter(stage: RunStage, detail: string): void {
    this.gate.signal.throwIfAborted();
    this.stage = stage;
    this.events.emit({ type: 'stage', stage, detail });
  }

  private async execute(): Promise<RunResult> {
    const t0 = performance.now();
    const { ctx } = this.env;
    const spec = this.spec;
    const hooks: LoadHooks = { onProgress: (p) => this.events.emit({ type: 'download', ...p }), signal: this.gate.signal };

    this.enter('load-model', describeModelSpec(spec.model));
    const { model, files } = await this.env.loadModel(spec.model, hooks);
    if (spec.model.kind === 'files' && files !== undefined) spec.model.files = files;
    // Before anything of it is uploaded: its largest buffer against this device's limits.
    checkModelFitsDevice(model.config, model.configSource, ctx.limits);
    this.model = model;
    const modules = linearModules(model.config, 0).map((m) => m.module);
    this.events.emit({ type: 'model', model: summarizeModel(model, modules) });

    this.enter('load-task', describeTaskSpec(spec.task));
    const task = await this.env.loadTask(spec.task, hooks);
    if (task.kind !== 'multiple-choice') throw new Error(`task ${task.name}: the run trains multiple-choice tasks; this one is ${task.kind}`);

    this.enter('tokenize', `${task.name}: drawing the 5k-sample protocol and tokenizing (max ${runMaxLength(spec, model)} tokens)`);
    const { prepared, train, eval: evalSet, chance, counts, preview } = tokenizeForRun(spec, task, model);
    this.prepared = prepared;
    this.evalItems = evalSet.items;

    const targets = spec.targets ?? defaultTargets(model.config.family);
    for (const t of targets) {
      if (!modules.some((m) => targetMatches(t, m))) {
        throw new Error(`targets: "${t}" names no linear layer of this ${model.config.family} model; its layers have ${modules.join(', ')}`);
      }
    }
    const adapterCfg = adapterConfigOf(spec);
    this.gpuModel = new GpuModel(ctx, model.config, this.env.uploadedWeights?.(model) ?? model.weights, { config: adapterCfg, targets });
    const { trainExamples, heldOut } = heldOutSplit(spec, train.items, evalSet.items);
    this.trainer = new Trainer(this.gpuModel, trainExamples, trainConfigOf(spec), { recomputeActivations: spec.limits.recomputeActivations });
    const trainer = this.trainer;
    const heldOutEvery = spec.training.heldOutEvery ?? Math.max(1, Math.round(trainer.stepsPerEpoch / 10));
    if (spec.training.earlyStopping !== null && heldOutEvery === 0) {
      throw new Error('training.earlyStopping needs held-out losses to compare: training.heldOutEvery must not be 0');
    }
    const trainableParameters = this.gpuModel.adapters().reduce((a, { layer }) => a + Object.values(layer.params).reduce((b, t) => b + t.size, 0), 0);
    this.events.emit({
      type: 'tokenized',
      name: prepared.name,
      counts,
      notes: prepared.notes,
      truncation: { train: train.report, eval: evalSet.report },
      chance,
      trainExamples: trainExamples.length,
      evalItems: evalSet.items.length,
      totalSteps: trainer.totalSteps,
      trainableParameters,
      preview,
    });

    const resume = this.options.resumeFrom ?? null;
    const watch = new HeldOutWatch(spec.training.earlyStopping?.patience ?? null);
    let before: EvalSummary;
    if (resume === null) {
      before = await this.evaluate('eval-before', 'before', this.gpuModel, `scoring ${evalSet.items.length} held-out items before training (adapters at init = the base model)`);
    } else {
      if (resume.totalSteps !== trainer.totalSteps) {
        throw new Error(`checkpoint: it was saved at step ${resume.step} of ${resume.totalSteps}, but this run has ${trainer.totalSteps} steps: it belongs to other data or settings`);
      }
      this.enter('eval-before', `resuming from the checkpoint of step ${resume.step} (${resume.savedAt}): the evaluation before training is the saved one`);
      await trainer.loadState(resume.trainer);
      watch.restore(resume.heldOut);
      before = resume.before;
      this.events.emit({ type: 'eval', phase: 'before', summary: before });
      this.events.emit({ type: 'restored', step: resume.step, totalSteps: trainer.totalSteps, steps: [...trainer.history], heldOut: watch.marked(), savedAt: resume.savedAt });
    }

    const stepsLeft = trainer.totalSteps - trainer.step;
    this.enter('train', `${resume === null ? '' : `from step ${trainer.step}: `}${stepsLeft} steps (${trainer.config.epochs} epochs of ${trainExamples.length} examples, batch ${trainer.config.batchSize})`);
    const forward = trainer.events.on((e) => this.events.emit(e));
    const trainStart = performance.now();
    // Training time excludes pauses and the checkpoints' own time; a resumed run adds its earlier sessions'.
    let excludedMs = 0;
    const offPause = this.events.on('paused', () => (excludedMs -= performance.now()));
    const offResume = this.events.on('resumed', () => (excludedMs += performance.now()));
    const trainedMs = () => (resume?.trainMs ?? 0) + performance.now() - trainStart - excludedMs;
    const checkpoints = this.options.checkpoints ?? null;
    const checkpoint = checkpoints && new CheckpointClock(checkpoints, trainer.stepsPerEpoch, trainer.totalSteps);
    const saveCheckpoint = async (reason: CheckpointReason) => {
      const from = performance.now();
      const state = await trainer.saveState();
      const files = encodeRunCheckpoint({
        spec,
        reason,
        savedAt: new Date().toISOString(),
        step: state.step,
        totalSteps: trainer.totalSteps,
        before,
        heldOut: watch.state(),
        trainMs: trainedMs(),
        resumedAt: resume === null ? [] : [...resume.resumedAt, resume.step],
        engine: ENGINE_VERSION,
        trainer: state,
      });
      await checkpoints!.save(files, { step: state.step, totalSteps: trainer.totalSteps, reason });
      checkpoint!.saved();
      excludedMs += performance.now() - from;
      this.events.emit({ type: 'checkpoint', step: state.step, totalSteps: trainer.totalSteps, reason });
    };
    try {
      if (checkpoint !== null && resume === null) await saveCheckpoint('start');
      await trainer.run({
        signal: this.gate.signal,
        gate: this.gate,
        afterStep: async (done) => {
          if (heldOutEvery !== 0 && (done % heldOutEvery === 0 || done === trainer.totalSteps)) {
            const loss = await trainer.evaluateLoss(heldOut, this.spec.limits.evalBatch);
            const { best, stop } = watch.record(done, loss);
            if (best && spec.training.earlyStopping !== null) watch.keep(await this.readAdapters());
            this.events.emit({ type: 'held-out', step: done, loss, best });
            if (stop) {
              this.events.emit({ type: 'stopped-early', step: done, bestStep: watch.bestStep, bestLoss: watch.bestLoss });
              return true;
            }
          }
          const reason = checkpoint?.due(done, this.gate.paused) ?? null;
          if (reason !== null) await saveCheckpoint(reason);
          return false;
        },
      });
      // Early stopping keeps the adapters of the best held-out loss.
      const kept = watch.kept;
      if (kept !== null && watch.bestStep !== trainer.step) for (const { name, layer } of this.gpuModel.adapters()) layer.writeParams(kept.get(name)!);
    } finally {
      forward();
      offPause();
      offResume();
    }
    const trainMs = trainedMs();

    const after = await this.evaluate('eval-after', 'after', this.gpuModel, 'scoring with the adapters live (unmerged)');

    this.enter('merge', 'merging the adapters into the base weights');
    // On the GPU, sharing every tensor but the merged ones; read back for the checkpoint.
    this.mergedModel = this.gpuModel.mergedView();
    const merged = await this.gpuModel.mergedWeights(model.weights);
    const afterMerged = await this.evaluate('eval-merged', 'merged', this.mergedModel, 'scoring the merged model (plain weights)');

    const exporting = this.options.exportArtifacts !== false;
    const onnx = exporting && this.options.onnx ? { ...this.options.onnx, producer: { name: 'd2lora-playground', version: ENGINE_VERSION } } : null;
    this.enter('export', exporting ? `writing the merged checkpoint${onnx ? ' (also as ONNX)' : ''}, the adapter, metrics and report` : 'collecting the metrics');
    const adapters = [...(await this.readAdapters())].map(([name, params]) => ({ name, params }));
    const steps = trainer.history;
    const tokens = steps.reduce((a, s) => a + s.tokens, 0);
    const metrics: RunMetrics = {
      spec,
      model: { name: model.name, family: model.config.family, parameters: countParameters(model) },
      task: {
        name: prepared.name,
        source: prepared.source,
        counts,
        notes: prepared.notes,
        truncation: { train: train.report, eval: evalSet.report },
      },
      adapter: { ...adapterCfg, targets, trainableParameters },
      train: { ...trainer.config, steps: trainer.totalSteps },
      scoring: spec.scoring,
      chance,
      before,
      after,
      merged: afterMerged,
      mergeGapPoints: 100 * (afterMerged.accuracy - after.accuracy),
      mergedThroughputRatio: afterMerged.itemsPerSecond / after.itemsPerSecond,
      steps,
      heldOut: watch.history,
      earlyStopping: watch.stoppedAt === null ? null : { stoppedAtStep: watch.stoppedAt, bestStep: watch.bestStep, bestLoss: watch.bestLoss },
      anatomy: adapterAnatomy(model.config, model.weights, adapterCfg, new Map(adapters.map(({ name, params }) => [name, params]))),
      resumedAt: resume === null ? [] : [...resume.resumedAt, resume.step],
      timings: { trainMs, msPerStep: trainMs / Math.max(1, steps.length), tokensPerSecond: tokens / (trainMs / 1000), totalMs: performance.now() - t0 },
      device: { vendor: ctx.adapter.vendor, architecture: ctx.adapter.architecture, description: ctx.adapter.description },
      versions: { format: 1, engine: ENGINE_VERSION },
      createdAt: new Date().toISOString(),
    };
    const artifacts = buildArtifacts({ spec, metrics, model, merged, adapters, withCheckpoint: exporting, onnx });
    return { metrics, artifacts };
  }

  /** Every adapter's factors, read back, by layer name. */
  private async readAdapters(): Promise<Map<string, AdapterParams>> {
    const layers = this.gpuModel!.adapters();
    const params = await Promise.all(layers.map(({ layer }) => layer.readParams()));
    return new Map(layers.map(({ name }, i) => [name, params[i]!]));
  }

  private async evaluate(stage: RunStage, phase: EvalPhase, gpuModel: GpuModel, detail: string): Promise<EvalSummary> {
    this.enter(stage, detail);
    const r = await scoreMultipleChoice(gpuModel, this.evalItems, {
      sequencesPerBatch: this.spec.limits.evalBatch,
      onProgress: (done, total) => this.events.emit({ type: 'eval-progress', phase, done, total }),
      signal: this.gate.signal,
      gate: this.gate,
    });
    const summary: EvalSummary = {
      accuracy: accuracyOf(r, this.spec.scoring),
      accuracySum: r.accuracySum,
      accuracyMean: r.accuracyMean,
      items: r.items,
      ms: r.ms,
      itemsPerSecond: r.itemsPerSecond,
    };
    this.events.emit({ type: 'eval', phase, summary });
    return summary;
  }
}

function countParameters(model: LoadedModel): number {
  return [...model.weights.values()].reduce((a, w) => a + w.data.length, 0);
}

/** What the page shows of a loaded model (the 'model' event). */
export function summarizeModel(model: LoadedModel, modules: string[]): ModelSummary {
  const c = model.config;
  return {
    name: model.name,
    family: c.family,
    parameters: countParameters(model),
    layers: c.numLayers,
    hiddenSize: c.hiddenSize,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    vocabSize: c.vocabSize,
    context: c.maxPositions,
    modules,
    warnings: model.warnings,
  };
}

/** The item as the model reads it: each choice as the text it adds to the prompt. */
export function previewItem(item: TokenizedChoiceItem, t: Tokenizer): ItemPreview {
  const prompt = t.decode(item.prompt);
  return { prompt, choices: item.choices.map((c) => t.decode([...item.prompt, ...c]).slice(prompt.length)), answer: item.answer, cut: item.cut };
}

/** The longest sequence a run reads: its limit, and never more than the model's context. */
export function runMaxLength(spec: RunSpec, model: LoadedModel): number {
  return Math.min(spec.limits.maxLength, model.config.maxPositions);
}

/** A task through the tokenize stage: the 5k-sample protocol drawn with the run's seed, both parts tokenized. */
export interface TokenizedTask {
  prepared: Extract<PreparedTask, { kind: 'multiple-choice' }>;
  maxLength: number;
  train: { items: TokenizedChoiceItem[]; report: TruncationReport };
  eval: { items: TokenizedChoiceItem[]; report: TruncationReport };
  /** The accuracy of guessing: the mean of 1/choices over the evaluation items. */
  chance: number;
  /** The protocol's counts and the items each part kept once tokenized. */
  counts: Record<string, number | boolean>;
  /** The first three evaluation items as the model reads them. */
  preview: ItemPreview[];
}

/**
 * The run's tokenize stage (also what the page's task inspection shows): the protocol's draw and
 * both parts tokenized to the run's longest sequence. Throws when no item of a part fits.
 */
export function tokenizeForRun(spec: RunSpec, task: TaskData, model: LoadedModel): TokenizedTask {
  const maxLength = runMaxLength(spec, model);
  const prepared = prepareTask(task, { seed: spec.seed, maxTrain: spec.limits.maxTrain, maxEval: spec.limits.maxEval });
  if (prepared.kind !== 'multiple-choice') throw new Error(`task ${task.name} is not multiple-choice`);
  const train = tokenizeMultipleChoiceItems(prepared.train, prepared.template, model.tokenizer, maxLength);
  const evalSet = tokenizeMultipleChoiceItems(prepared.eval, prepared.template, model.tokenizer, maxLength);
  if (train.items.length === 0) throw new Error(`task ${task.name}: no training item fits in ${maxLength} tokens`);
  if (evalSet.items.length === 0) throw new Error(`task ${task.name}: no evaluation item fits in ${maxLength} tokens`);
  return {
    prepared,
    maxLength,
    train,
    eval: evalSet,
    chance: evalSet.items.reduce((a, it) => a + 1 / it.choices.length, 0) / evalSet.items.length,
    counts: { ...prepared.counts, trainTokenized: train.items.length, evalTokenized: evalSet.items.length },
    preview: evalSet.items.slice(0, 3).map((it) => previewItem(it, model.tokenizer)),
  };
}

export function describeModelSpec(m: ModelSpec): string {
  switch (m.kind) {
    case 'preset':
      return `preset ${m.name}`;
    case 'hub':
      return `Hugging Face ${m.repo} (${m.revision})`;
    case 'url':
      return m.url;
    case 'files':
      return `local files "${m.name}"`;
  }
}

export function describeTaskSpec(t: TaskSpec): string {
  switch (t.kind) {
    case 'story':
      return `story task (${t.questionTypes.join(', ')} questions, ${t.characters} children, generator seed ${t.seed})`;
    case 'catalog':
      return `${t.name} (catalog)`;
    case 'file':
      return `the file ${t.test.name}${t.train ? ` with ${t.train.name}` : ''}`;
  }
}

/**
 * The training examples and the held-out loss's examples. With early stopping, its dev items are
 * taken out of the training items (drawn with the run's seed), because what steers training must
 * never be the evaluation items; otherwise the held-out loss is the evaluation items' correct
 * answers, which only the chart reads.
 */
export function heldOutSplit(spec: RunSpec, train: readonly TokenizedChoiceItem[], evalItems: readonly TokenizedChoiceItem[]): { trainExamples: TokenizedExample[]; heldOut: TokenizedExample[] } {
  const early = spec.training.earlyStopping;
  if (early === null) return { trainExamples: train.map(trainingExample), heldOut: evalItems.slice(0, spec.training.heldOutItems).map(trainingExample) };
  if (train.length <= early.devItems) {
    throw new Error(`training.earlyStopping holds out ${early.devItems} training items (devItems), but the task has only ${train.length}: lower devItems or turn early stopping off`);
  }
  const dev = new Set(permutation(train.length, new Rng(spec.seed).fork('dev-split')).slice(0, early.devItems));
  return {
    trainExamples: train.filter((_, i) => !dev.has(i)).map(trainingExample),
    heldOut: train.filter((_, i) => dev.has(i)).map(trainingExample),
  };
}

/** The held-out losses of a run, the best one, and whether early stopping's patience ran out. */
class HeldOutWatch {
  history: { step: number; loss: number }[] = [];
  bestLoss = Infinity;
  bestStep = 0;
  stoppedAt: number | null = null;
  /** The adapters at the best held-out loss (early stopping only). */
  kept: Map<string, AdapterParams> | null = null;
  private sinceBest = 0;

  /** @param patience held-out evaluations without improvement that stop training; null: never stop. */
  constructor(private readonly patience: number | null) {}

  record(step: number, loss: number): { best: boolean; stop: boolean } {
    this.history.push({ step, loss });
    const best = loss < this.bestLoss;
    if (best) {
      this.bestLoss = loss;
      this.bestStep = step;
      this.sinceBest = 0;
    } else {
      this.sinceBest++;
    }
    const stop = this.patience !== null && this.sinceBest >= this.patience;
    if (stop) this.stoppedAt = step;
    return { best, stop };
  }

  keep(params: Map<string, AdapterParams>): void {
    this.kept = params;
  }

  /** The losses so far, each marked when it was the best yet (as the 'held-out' events were). */
  marked(): { step: number; loss: number; best: boolean }[] {
    let min = Infinity;
    return this.history.map((h) => {
      const best = h.loss < min;
      if (best) min = h.loss;
      return { ...h, best };
    });
  }

  state(): HeldOutState {
    return { history: [...this.history], bestLoss: this.bestLoss, bestStep: this.bestStep, sinceBest: this.sinceBest, kept: this.kept };
  }

  restore(s: HeldOutState): void {
    this.history = [...s.history];
    this.bestLoss = s.bestLoss;
    this.bestStep = s.bestStep;
    this.sinceBest = s.sinceBest;
    this.kept = s.kept;
  }
}

/** When a training run writes its checkpoints: after each epoch, on pause, every N steps, and once the interval has passed. */
class CheckpointClock {
  private lastMs = performance.now();

  constructor(
    private readonly options: CheckpointOptions,
    private readonly stepsPerEpoch: number,
    private readonly totalSteps: number,
  ) {}

  /** Why to write one after `done` steps, or null. */
  due(done: number, pauseRequested: boolean): CheckpointReason | null {
    if (pauseRequested) return 'pause';
    if (done % this.stepsPerEpoch === 0 || done === this.totalSteps) return 'epoch';
    const everySteps = this.options.everySteps ?? 0;
    if (everySteps > 0 && done % everySteps === 0) return 'interval';
    const everyMs = this.options.everyMs ?? DEFAULT_CHECKPOINT_MS;
    if (everyMs > 0 && performance.now() - this.lastMs >= everyMs) return 'interval';
    return null;
  }

  saved(): void {
    this.lastMs = performance.now();
  }
}
