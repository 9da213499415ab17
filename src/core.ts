// The core API both front doors use (the browser worker and the command line): a loaded model,
// a training session over it with events and cancellation, evaluation, merging, generation.
// Nothing here knows about React, the terminal or the file system.

import type { GpuContext } from './gpu/context';
import type { LoadedModel } from './io/load';
import type { WeightMap } from './model/config';
import { generate, type GenerateOptions, type Generation } from './model/generate';
import { GpuModel, type AdapterPlacement } from './model/gpu-model';
import type { TokenizedExample } from './train/batching';
import { Trainer, type ProgressEvent, type StepRecord, type TrainConfig } from './train/trainer';

export interface SessionEvents {
  progress: ProgressEvent;
  loss: StepRecord;
  /** Evaluations: a name (e.g. "held-out loss") and its figures. */
  metrics: { step: number; name: string; values: Record<string, number> };
  done: { steps: number; ms: number };
  error: { message: string; name: string };
}

type Listener<K extends keyof SessionEvents> = (e: SessionEvents[K]) => void;

export interface SessionOptions {
  adapter: AdapterPlacement;
  train: TrainConfig;
  examples: readonly TokenizedExample[];
}

/** One fine-tuning run: the model on the GPU with adapters, its trainer, and events. */
export class TrainingSession {
  readonly gpuModel: GpuModel;
  readonly trainer: Trainer;
  private readonly listeners = new Map<keyof SessionEvents, Set<Listener<never>>>();

  constructor(
    readonly ctx: GpuContext,
    readonly model: LoadedModel,
    opts: SessionOptions,
  ) {
    this.gpuModel = new GpuModel(ctx, model.config, model.weights, opts.adapter);
    try {
      this.trainer = new Trainer(this.gpuModel, opts.examples, opts.train);
    } catch (e) {
      this.gpuModel.destroy();
      throw e;
    }
    this.trainer.events.on('step', ({ type: _, ...e }) => this.emit('loss', e));
    this.trainer.events.on('progress', ({ type: _, ...e }) => this.emit('progress', e));
  }

  on<K extends keyof SessionEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof SessionEvents>(event: K, e: SessionEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) (l as Listener<K>)(e);
  }

  /**
   * Trains to the end, or until `signal` aborts (then it stops between steps, the state intact,
   * and rejects with the abort reason). Emits 'done' or 'error'.
   */
  async run(opts: { signal?: AbortSignal; untilStep?: number } = {}): Promise<void> {
    const t0 = performance.now();
    try {
      await this.trainer.run(opts);
      this.emit('done', { steps: this.trainer.step, ms: performance.now() - t0 });
    } catch (e) {
      const err = e as Error;
      this.emit('error', { message: err.message, name: err.name });
      throw e;
    }
  }

  /** Mean NLL per target token on held-out examples; emitted as 'metrics'. */
  async evaluateLoss(examples: readonly TokenizedExample[], name = 'held-out loss'): Promise<number> {
    const loss = await this.trainer.evaluateLoss(examples);
    this.emit('metrics', { step: this.trainer.step, name, values: { loss } });
    return loss;
  }

  /** The merged checkpoint: the base weights with every adapter folded in. */
  merge(): Promise<WeightMap> {
    return this.gpuModel.mergedWeights(this.model.weights);
  }

  destroy(): void {
    this.trainer.destroy();
    this.gpuModel.destroy();
  }
}

/** Generates from the base model (or from merged weights, when given). */
export async function generateText(ctx: GpuContext, model: LoadedModel, prompt: string, opts: GenerateOptions & { weights?: WeightMap } = {}): Promise<Generation> {
  const gpuModel = new GpuModel(ctx, model.config, opts.weights ?? model.weights);
  try {
    return await generate(gpuModel, model.tokenizer, prompt, opts);
  } finally {
    gpuModel.destroy();
  }
}
