// The base weights of one loaded model on the GPU: every tensor the family needs
// (expectedWeights), uploaded once and never written, and the RoPE angle table. Several
// GpuModels share one GpuWeights (the training model, its base view, its merged view); each
// frees only what it made itself.
//
// Lifetime: whoever creates a GpuWeights destroys it (a GpuModel built from a WeightMap creates
// and destroys its own). After destroy(), every model over these weights refuses to run, with
// an error saying so, rather than reading buffers the pool may have handed to someone else.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { ropeTable } from '../ops/rope';
import type { ModelConfig, WeightMap } from './config';
import { expectedWeights } from './names';

export class GpuWeights {
  private readonly tensors = new Map<string, Tensor>();
  /** cos/sin per (position, pair) for Llama and Qwen2 (see ropeTable); null for GPT-2. */
  private readonly ropeTable: Tensor | null;
  private destroyed = false;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    /** The host copy, kept (not copied) for what needs W0 on the host: adapter initialisation. */
    readonly host: WeightMap,
  ) {
    for (const name of expectedWeights(config).keys()) {
      const w = host.get(name);
      if (!w) {
        this.destroy();
        throw new Error(`model weights: tensor "${name}" is missing`);
      }
      this.tensors.set(name, ctx.upload(w.data, w.shape, name));
    }
    if (config.family === 'gpt2') {
      this.ropeTable = null;
    } else {
      const table = ropeTable(config.maxPositions, config.headDim, config.ropeTheta);
      this.ropeTable = ctx.upload(table, [table.length], 'rope table');
    }
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Throws when the weights were destroyed; `who` names the caller in the message. */
  requireAlive(who: string): void {
    if (this.destroyed) {
      throw new Error(
        `${who}: the base weights of this model were destroyed (by the model that uploaded them); destroy views before their owner, or keep the owner alive while they are used`,
      );
    }
  }

  /** The base tensor of a Hugging Face name (e.g. "model.layers.0.self_attn.q_proj.weight"). */
  get(name: string): Tensor {
    this.requireAlive(`model weights "${name}"`);
    const t = this.tensors.get(name);
    if (!t) throw new Error(`model weights: no tensor "${name}" in this ${this.config.family} model`);
    return t;
  }

  /** The RoPE table (Llama, Qwen2); null for GPT-2, whose positions are learned. */
  get rope(): Tensor | null {
    this.requireAlive('model weights (RoPE table)');
    return this.ropeTable;
  }

  /** The host copy of a base tensor (W0 for an adapter's initialisation). */
  hostData(name: string): Float32Array {
    const w = this.host.get(name);
    if (!w) throw new Error(`model weights: tensor "${name}" is missing`);
    return w.data;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const t of this.tensors.values()) t.release();
    this.tensors.clear();
    this.ropeTable?.release();
    this.ctx.trimPool();
  }
}
