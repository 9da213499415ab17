// The keys and values of one sequence on the GPU, per layer, so that each new position costs one
// position's forward instead of the whole sequence's. prefill() runs many positions in one pass
// (a prompt), step() one; both return the logits after their last position. Adapted layers run
// live (AdaptedLinear.infer), so a model with adapters generates without a merge.
//
//   k, v of layer l   capacity × (numKvHeads·headDim), rows 0 … position − 1 written (after RoPE)
//
// One cache per (model, sequence); reset() starts a new sequence in the same buffers. The cache
// holds keys computed by its model's weights: after the adapters change (training), reset().

import type { Tensor } from '../gpu/tensor';
import type { GpuModel, KvLayer } from './gpu-model';

export class KvCache {
  /** Positions the cache holds: at most the model's context. */
  readonly capacity: number;
  private readonly layers: KvLayer[] = [];
  private next = 0;
  private destroyed = false;

  constructor(
    readonly model: GpuModel,
    capacity: number = model.config.maxPositions,
  ) {
    model.requireAlive('KvCache');
    const c = model.config;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > c.maxPositions) {
      throw new Error(`KvCache: capacity ${capacity} must be an integer in 1…${c.maxPositions} (the model's context)`);
    }
    this.capacity = capacity;
    const kvDim = c.numKvHeads * c.headDim;
    for (let i = 0; i < c.numLayers; i++) {
      this.layers.push({ k: model.ctx.tensor([capacity, kvDim], 'f32', `layer ${i} key cache`), v: model.ctx.tensor([capacity, kvDim], 'f32', `layer ${i} value cache`) });
    }
  }

  /** Positions written so far: the next token runs at this position. */
  get position(): number {
    return this.next;
  }

  /**
   * Runs `tokens` at positions position … position+n−1 in one pass (a prompt, from position 0)
   * and returns the logits (V) predicting the token after the last of them.
   */
  async prefill(tokens: readonly number[]): Promise<Float32Array> {
    const logits = this.record(tokens);
    const out = await this.model.ctx.read(logits);
    logits.release();
    return out;
  }

  /** Runs one token at the next position; returns the logits (V) predicting the one after it. */
  step(token: number): Promise<Float32Array> {
    return this.prefill([token]);
  }

  /** Forgets the sequence (the buffers are kept for the next one). */
  reset(): void {
    this.next = 0;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const l of this.layers) for (const t of [l.k, l.v]) t.release();
  }

  private record(tokens: readonly number[]): Tensor {
    if (this.destroyed) throw new Error('KvCache: used after destroy()');
    if (tokens.length === 0) throw new Error('KvCache: no tokens to run');
    if (this.next + tokens.length > this.capacity) {
      throw new Error(
        `KvCache: ${tokens.length} more positions do not fit: ${this.next} of ${this.capacity} are used, ${this.next + tokens.length - this.capacity} too many`,
      );
    }
    const logits = this.model.forwardCached(this.layers, tokens, this.next);
    this.next += tokens.length;
    return logits;
  }
}
