// A causal language model on the GPU: Llama (incl. Qwen2's q/k/v biases) and GPT-2, forward
// and backward, with adapters on any subset of its linear layers, and inference against a KV
// cache. Base weights are uploaded once (GpuWeights) and never written; only adapter
// parameters receive gradients.
//
// Views: several GpuModels can run over one GpuWeights. baseView() is the base model alone;
// mergedView() has each adapted layer replaced by its merged weight Ŵ, computed on the GPU.
// Lifetime: a model frees what it made (its adapters, its merged weights, and the GpuWeights
// when it built them from a WeightMap); views share their owner's base weights, so destroy them
// first: once the base weights are gone, a view refuses to run and says why.
//
// Shapes: rows = batch·seq (right-padded sequences), d = hiddenSize, I = intermediateSize,
// Hq·D = numHeads·headDim, Hkv·D = numKvHeads·headDim, V = vocabSize, M = rows carrying loss.
//
// The loss is computed only at the rows that carry it: their hidden states are gathered first
// and the classifier runs on those M rows alone (in chunks), never on a rows×V logits tensor.

import { createAdaptedLinear, trainableShapes, type AdaptedLinear } from '../adapters';
import type { AdapterConfig } from '../adapters/config';
import type { BaseLinear, TrainableStorage } from '../adapters/layer';
import { TensorArena } from '../gpu/arena';
import type { GpuContext } from '../gpu/context';
import { Tensor } from '../gpu/tensor';
import { geluBackward, geluForward, swigluBackward, swigluForward, addInto } from '../ops/activations';
import { attentionBackward, attentionDecode, attentionForward } from '../ops/attention';
import { copyColumns, copyColumnsBack } from '../ops/columns';
import { embeddingGather, gatherRows, scatterAddRows } from '../ops/embedding';
import { crossEntropy } from '../ops/loss';
import { linearBackwardInput, linearForward } from '../ops/matmul';
import { layernormBackward, layernormForward, rmsnormBackward, rmsnormForward } from '../ops/norms';
import { ropeApply } from '../ops/rope';
import type { ModelConfig, WeightMap } from './config';
import { GpuWeights } from './gpu-weights';
import { FrozenLinear, isAdapted, type LinearLayer } from './linear';
import { defaultTargets, linearModules, targetMatches } from './names';

/** A batch of right-padded token sequences and the positions that carry loss. */
export interface TokenBatch {
  batch: number;
  seq: number;
  /** batch·seq token ids; positions at t ≥ length are padding (any id < V). */
  tokens: Uint32Array;
  /** Real length of each sequence. */
  lengths: Uint32Array;
  /** Row indices b·seq + t (unique) whose hidden state predicts targets[i]. */
  lossRows: Uint32Array;
  targets: Uint32Array;
  /** Weight of each loss row in the objective Σ w_i·nll_i (1/M for the mean). */
  weights: Float32Array;
}

export interface AdapterPlacement {
  config: AdapterConfig;
  /** Hugging Face module names (q_proj …, c_attn …); default: the family's attention projections. */
  targets?: string[];
}

/** Rows of logits computed at once in the loss: bounds the M×V buffer to ~32 MiB. */
function lossChunkRows(vocab: number): number {
  return Math.max(1, Math.floor((32 * 1024 * 1024) / (4 * vocab)));
}

interface LayerWeights {
  /** Llama: RMSNorm weights; GPT-2: LayerNorm weights and biases. */
  norm1: Tensor;
  norm1Bias: Tensor | null;
  norm2: Tensor;
  norm2Bias: Tensor | null;
  /** By module name (q_proj, …, or attn.c_attn, …). */
  linears: Map<string, LinearLayer>;
}

/** What one layer's forward keeps for its backward (train mode). */
interface LayerSaved {
  x: Tensor;
  norm1Stats: Tensor[];
  h: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  attn: Tensor;
  lse: Tensor;
  x2: Tensor;
  norm2Stats: Tensor[];
  h2: Tensor;
  /** Llama: [gate, up, act]; GPT-2: [fc, act]. */
  mlp: Tensor[];
  /** GPT-2: the fused qkv output (kept only to be released). */
  qkv: Tensor | null;
}

/** What a block hands on: x3 = out + x2, left unsummed for the norm that reads it next. */
interface BlockOutput {
  out: Tensor;
  x2: Tensor;
}

interface BatchTensors {
  rows: number;
  batch: number;
  seq: number;
  tokens: Tensor;
  positions: Tensor;
  lengths: Tensor;
  lossRows: Tensor;
  targets: Tensor;
  weights: Tensor;
  m: number;
}

/** One layer's cached keys and values of one sequence (see KvCache), rows = positions. */
export interface KvLayer {
  /** positions × (numKvHeads·headDim), after RoPE. */
  k: Tensor;
  /** positions × (numKvHeads·headDim). */
  v: Tensor;
}

/** q, k, v (rows × heads·headDim, RoPE applied) of one layer, and GPT-2's fused output. */
interface Projections {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  qkv: Tensor | null;
}

export class GpuModel {
  readonly layers: LayerWeights[] = [];
  /** The base tensors, shared with this model's views. */
  readonly weights: GpuWeights;
  private readonly ownsWeights: boolean;
  private readonly embed: Tensor;
  private readonly positionEmbed: Tensor | null;
  private readonly finalNorm: Tensor;
  private readonly finalNormBias: Tensor | null;
  private readonly classifier: Tensor;
  private readonly rope: Tensor | null;
  /** Tensors this model made and frees (a merged view's weights). */
  private readonly owned: Tensor[] = [];
  /**
   * Every adapter's trainable tensors, and their gradients in the same layout: the optimizer
   * updates and a step clears them chunk by chunk (src/gpu/arena.ts). Null without adapters.
   */
  trainable: { params: TensorArena; grads: TensorArena } | null = null;
  private destroyed = false;

  /**
   * Given a WeightMap, uploads it into a GpuWeights of its own (freed by destroy()); given a
   * GpuWeights, shares it (the caller keeps it alive). `placement` adds adapters.
   */
  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    weights: WeightMap | GpuWeights,
    placement: AdapterPlacement | null = null,
  ) {
    const c = config;
    if (weights instanceof GpuWeights) {
      weights.requireAlive('GpuModel');
      if (weights.ctx !== ctx) throw new Error('GpuModel: the shared weights live on another GPU context');
      if (!sameConfig(weights.config, c)) {
        throw new Error(`GpuModel: the shared weights are of another configuration (${weights.config.family} ${weights.config.hiddenSize}×${weights.config.numLayers}, this model ${c.family} ${c.hiddenSize}×${c.numLayers})`);
      }
      this.weights = weights;
      this.ownsWeights = false;
    } else {
      this.weights = new GpuWeights(ctx, c, weights);
      this.ownsWeights = true;
    }
    const w = this.weights;
    const gpt2 = c.family === 'gpt2';
    this.embed = w.get(gpt2 ? 'wte.weight' : 'model.embed_tokens.weight');
    this.positionEmbed = gpt2 ? w.get('wpe.weight') : null;
    this.finalNorm = w.get(gpt2 ? 'ln_f.weight' : 'model.norm.weight');
    this.finalNormBias = gpt2 ? w.get('ln_f.bias') : null;
    this.classifier = c.tiedEmbeddings ? this.embed : w.get('lm_head.weight');
    this.rope = w.rope;
    try {
      this.buildLayers(placement);
    } catch (e) {
      this.destroy(); // the adapters built so far, and the weights if this model uploaded them
      throw e;
    }
  }

  /** The linear layers and norms of every layer, with adapters where `placement` targets them. */
  private buildLayers(placement: AdapterPlacement | null): void {
    const { ctx, config: c, weights: w } = this;
    const gpt2 = c.family === 'gpt2';
    const targets = placement ? (placement.targets ?? defaultTargets(c.family)) : [];
    const adapts = (module: string) => placement !== null && targets.some((t) => targetMatches(t, module));
    let storage: TrainableStorage | undefined;
    if (placement) {
      // The arenas are laid out first, in the order the layers below take their tensors.
      const shapes = Array.from({ length: c.numLayers }, (_, i) => linearModules(c, i))
        .flat()
        .filter((m) => adapts(m.module))
        .flatMap((m) => trainableShapes(placement.config, m));
      const params = new TensorArena(ctx, shapes, 'adapter parameters');
      const grads = new TensorArena(ctx, shapes, 'adapter gradients');
      this.trainable = { params, grads };
      storage = {
        take: (shape, data, label) => {
          const param = params.take(shape, label);
          ctx.write(param, data);
          return { param, grad: grads.take(shape, `∂${label}`) };
        },
      };
    }
    for (let i = 0; i < c.numLayers; i++) {
      const p = gpt2 ? `h.${i}` : `model.layers.${i}`;
      // Listed before its linears are made, so that destroy() reaches every adapter made so far.
      const linears = new Map<string, LinearLayer>();
      this.layers.push({
        norm1: w.get(gpt2 ? `${p}.ln_1.weight` : `${p}.input_layernorm.weight`),
        norm1Bias: gpt2 ? w.get(`${p}.ln_1.bias`) : null,
        norm2: w.get(gpt2 ? `${p}.ln_2.weight` : `${p}.post_attention_layernorm.weight`),
        norm2Bias: gpt2 ? w.get(`${p}.ln_2.bias`) : null,
        linears,
      });
      for (const m of linearModules(c, i)) {
        const base: BaseLinear = {
          weight: w.get(m.weight),
          bias: m.bias ? w.get(m.bias) : undefined,
          out: m.out,
          in: m.in,
          layout: m.layout,
          name: m.weight.replace(/\.weight$/, ''),
        };
        linears.set(
          m.module,
          placement && adapts(m.module) ? createAdaptedLinear(ctx, placement.config, base, { w0Host: w.hostData(m.weight), key: m.weight, storage }) : new FrozenLinear(ctx, base),
        );
      }
    }
    if (placement && this.adapters().length === 0) {
      throw new Error(`adapter targets ${targets.join(', ')} match no linear layer of this ${c.family} model`);
    }
  }

  /** Throws unless this model and its base weights are alive; `what` names the call. */
  requireAlive(what: string): void {
    if (this.destroyed) throw new Error(`GpuModel.${what}: the model was destroyed`);
    this.weights.requireAlive(`GpuModel.${what}`);
  }

  // -------------------------------------------------------------------------------------------
  // Views over the same base weights

  /** The base model alone: the same base tensors, no adapter (a frozen linear everywhere). */
  baseView(): GpuModel {
    this.requireAlive('baseView');
    return new GpuModel(this.ctx, this.config, this.weights);
  }

  /**
   * The merged model: each adapted layer replaced by Ŵ (its merge(), computed on the GPU, owned
   * by the view), every other tensor shared. A snapshot: later training does not reach it.
   * Computes what a model built from mergedWeights() computes, bit for bit, with no read-back.
   */
  mergedView(): GpuModel {
    this.requireAlive('mergedView');
    const view = new GpuModel(this.ctx, this.config, this.weights);
    this.layers.forEach((layer, i) => {
      for (const [module, lin] of layer.linears) {
        if (!isAdapted(lin)) continue;
        const merged = lin.merge();
        view.owned.push(merged);
        view.layers[i]!.linears.set(module, new FrozenLinear(this.ctx, { ...lin.base, weight: merged, rowNorms: undefined }));
      }
    });
    return view;
  }

  /** Zeroes every adapter's gradients: one clear per chunk of the gradient arena. */
  zeroGrads(): void {
    for (const chunk of this.trainable?.grads.chunks ?? []) this.ctx.clear(chunk);
  }

  /** Every adapted layer, by its base weight's module path. */
  adapters(): { name: string; layer: AdaptedLinear }[] {
    const out: { name: string; layer: AdaptedLinear }[] = [];
    for (const l of this.layers) for (const lin of l.linears.values()) if (isAdapted(lin)) out.push({ name: lin.base.name, layer: lin });
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Batches

  private uploadBatch(b: TokenBatch): BatchTensors {
    const rows = b.batch * b.seq;
    const V = this.config.vocabSize;
    if (b.tokens.length !== rows) throw new Error(`batch: ${b.tokens.length} tokens for ${b.batch}×${b.seq}`);
    if (b.seq > this.config.maxPositions) throw new Error(`batch: sequence length ${b.seq} exceeds the model's ${this.config.maxPositions} positions`);
    for (const t of b.tokens) if (t >= V) throw new Error(`batch: token id ${t} is outside the vocabulary (${V})`);
    if (b.lengths.length !== b.batch) throw new Error(`batch: ${b.lengths.length} lengths for ${b.batch} sequences`);
    const m = b.lossRows.length;
    if (b.targets.length !== m || b.weights.length !== m) throw new Error('batch: lossRows, targets and weights must have one entry per loss row');
    for (let i = 0; i < m; i++) {
      if (b.lossRows[i]! >= rows) throw new Error(`batch: loss row ${b.lossRows[i]} is outside the ${rows} rows`);
      if (b.targets[i]! >= V) throw new Error(`batch: target ${b.targets[i]} is outside the vocabulary (${V})`);
    }
    const positions = new Uint32Array(rows);
    for (let r = 0; r < rows; r++) positions[r] = r % b.seq;
    const ctx = this.ctx;
    return {
      rows,
      batch: b.batch,
      seq: b.seq,
      m,
      tokens: ctx.upload(b.tokens, [rows], 'tokens'),
      positions: ctx.upload(positions, [rows], 'positions'),
      lengths: ctx.upload(b.lengths, [b.batch], 'lengths'),
      lossRows: ctx.upload(b.lossRows, [m], 'loss rows'),
      targets: ctx.upload(b.targets, [m], 'targets'),
      weights: ctx.upload(b.weights, [m], 'loss weights'),
    };
  }

  private releaseBatch(t: BatchTensors): void {
    for (const x of [t.tokens, t.positions, t.lengths, t.lossRows, t.targets, t.weights]) x.release();
  }

  // -------------------------------------------------------------------------------------------
  // Forward

  /** x0 (rows×d): token embeddings (+ learned positions for GPT-2). tokens, positions (rows, u32). */
  private embedTokens(tokens: Tensor, positions: Tensor, rows: number): Tensor {
    const { hiddenSize: d, vocabSize } = this.config;
    const x = this.ctx.tensor([rows, d], 'f32', 'x0');
    embeddingGather(this.ctx, { table: this.embed, ids: tokens, out: x }, { rows, dim: d, vocab: vocabSize });
    if (this.positionEmbed) {
      embeddingGather(this.ctx, { table: this.positionEmbed, ids: positions, out: x }, { rows, dim: d, vocab: this.config.maxPositions, accumulate: true });
    }
    return x;
  }

  /**
   * y = norm(x) with the family's norm; returns y and the statistics its backward needs. With a
   * `residual`, x += residual first, in place: the residual add of the block before rides on
   * the norm, and x then holds the sum (the stream the norm's backward reads).
   */
  private norm(x: Tensor, rows: number, weight: Tensor, bias: Tensor | null, residual: Tensor | null = null): { y: Tensor; stats: Tensor[] } {
    const { hiddenSize: dim, normEps: eps } = this.config;
    const y = this.ctx.tensor([rows, dim], 'f32', 'normed');
    const rstd = this.ctx.tensor([rows], 'f32', 'rstd');
    const withResidual = residual ? { residual } : {};
    if (bias) {
      const mean = this.ctx.tensor([rows], 'f32', 'mean');
      layernormForward(this.ctx, { x, ...withResidual, weight, bias, y, mean, rstd }, { rows, dim, eps });
      return { y, stats: [mean, rstd] };
    }
    rmsnormForward(this.ctx, { x, ...withResidual, weight, y, rstd }, { rows, dim, eps });
    return { y, stats: [rstd] };
  }

  /** dx (+)= ∂norm/∂x · dy. */
  private normBackward(dy: Tensor, x: Tensor, weight: Tensor, stats: Tensor[], dx: Tensor, rows: number, isLayerNorm: boolean): void {
    const dim = this.config.hiddenSize;
    if (isLayerNorm) layernormBackward(this.ctx, { dy, x, weight, mean: stats[0]!, rstd: stats[1]!, dx }, { rows, dim, accumulate: true });
    else rmsnormBackward(this.ctx, { dy, x, weight, rstd: stats[0]!, dx }, { rows, dim, accumulate: true });
  }

  private attentionDims(b: BatchTensors) {
    const c = this.config;
    return { batch: b.batch, seq: b.seq, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim) };
  }

  /** The layer's linear `name` on input (rows×in): forward (kept for the backward) or infer. */
  private linear(l: LayerWeights, name: string, input: Tensor, rows: number, train: boolean): Tensor {
    const lin = l.linears.get(name)!;
    return train ? lin.forward(input, rows) : lin.infer(input, rows);
  }

  /** q, k, v of h = norm1(x) (rows×d), RoPE applied at `positions` (rows, u32). */
  private projectQkv(l: LayerWeights, h: Tensor, rows: number, positions: Tensor, train: boolean): Projections {
    const ctx = this.ctx;
    const c = this.config;
    if (c.family === 'gpt2') {
      const qkv = this.linear(l, 'attn.c_attn', h, rows, train);
      const [q, k, v] = [0, 1, 2].map((i) => {
        const part = ctx.tensor([rows, c.hiddenSize], 'f32', ['q', 'k', 'v'][i]);
        copyColumns(ctx, qkv, part, { rows, cols: 3 * c.hiddenSize, offset: i * c.hiddenSize, width: c.hiddenSize });
        return part;
      }) as [Tensor, Tensor, Tensor];
      return { q, k, v, qkv };
    }
    const q = this.linear(l, 'q_proj', h, rows, train);
    const k = this.linear(l, 'k_proj', h, rows, train);
    const v = this.linear(l, 'v_proj', h, rows, train);
    ropeApply(ctx, { q, k, positions, table: this.rope! }, { rows, qHeads: c.numHeads, kHeads: c.numKvHeads, headDim: c.headDim, style: c.ropeStyle, inverse: false });
    return { q, k, v, qkv: null };
  }

  /**
   * The rest of a block after attention: x2 = x + o(attn), x3 = x2 + mlp(norm2(x2)).
   * Returns mlp(·) (rows×d, the down projection's output) as `out` and x2: x3 = out + x2 is
   * summed by the norm that reads it next (the next block's first, or the final one's caller).
   */
  private outputAndMlp(l: LayerWeights, x: Tensor, attn: Tensor, rows: number, train: boolean): BlockOutput & { n2: { y: Tensor; stats: Tensor[] }; mlp: Tensor[] } {
    const ctx = this.ctx;
    const c = this.config;
    const gpt2 = c.family === 'gpt2';
    const x2 = this.linear(l, gpt2 ? 'attn.c_proj' : 'o_proj', attn, rows, train);
    const n2 = this.norm(x2, rows, l.norm2, l.norm2Bias, x); // x2 = o(attn) + x, summed in place
    let mlp: Tensor[];
    let down: Tensor;
    if (gpt2) {
      const fc = this.linear(l, 'mlp.c_fc', n2.y, rows, train);
      const act = ctx.tensor([rows, c.intermediateSize], 'f32', 'gelu');
      geluForward(ctx, { x: fc, out: act }, { n: rows * c.intermediateSize });
      down = this.linear(l, 'mlp.c_proj', act, rows, train);
      mlp = [fc, act];
    } else {
      const gate = this.linear(l, 'gate_proj', n2.y, rows, train);
      const up = this.linear(l, 'up_proj', n2.y, rows, train);
      const act = ctx.tensor([rows, c.intermediateSize], 'f32', 'swiglu');
      swigluForward(ctx, { gate, up, out: act }, { n: rows * c.intermediateSize });
      down = this.linear(l, 'down_proj', act, rows, train);
      mlp = [gate, up, act];
    }
    return { out: down, x2, n2, mlp };
  }

  /**
   * One transformer block: x (rows×d) → x3 = out + x2 (rows×d), left for the next norm to sum.
   * With `carry` (the block before's x2), x += carry first, in place. Keeps its state when `train`.
   */
  private layerForward(l: LayerWeights, x: Tensor, carry: Tensor | null, b: BatchTensors, train: boolean): BlockOutput & { saved: LayerSaved | null } {
    const c = this.config;
    const rows = b.rows;
    // attention block: x2 = x + o(attention(rope(q(h)), rope(k(h)), v(h))), h = norm1(x)
    const n1 = this.norm(x, rows, l.norm1, l.norm1Bias, carry);
    const { q, k, v, qkv } = this.projectQkv(l, n1.y, rows, b.positions, train);
    const attn = this.ctx.tensor([rows, c.numHeads * c.headDim], 'f32', 'attn');
    const lse = this.ctx.tensor([b.batch, c.numHeads, b.seq], 'f32', 'lse');
    attentionForward(this.ctx, { q, k, v, lengths: b.lengths, out: attn, lse }, this.attentionDims(b));
    const { out, x2, n2, mlp } = this.outputAndMlp(l, x, attn, rows, train);

    const saved: LayerSaved = { x, norm1Stats: n1.stats, h: n1.y, q, k, v, attn, lse, x2, norm2Stats: n2.stats, h2: n2.y, mlp, qkv };
    if (train) return { out, x2, saved };
    releaseSaved(saved, { x: true, x2: true });
    return { out, x2, saved: null };
  }

  /**
   * One block for `rows` new positions offset … offset+rows−1 of one sequence: their keys and
   * values are written into the cache, and their queries attend to cache positions ≤ their own.
   */
  private layerDecode(l: LayerWeights, x: Tensor, carry: Tensor | null, rows: number, positions: Tensor, kv: KvLayer, offset: number): BlockOutput {
    const ctx = this.ctx;
    const c = this.config;
    const n1 = this.norm(x, rows, l.norm1, l.norm1Bias, carry);
    const { q, k, v, qkv } = this.projectQkv(l, n1.y, rows, positions, false);
    const attn = ctx.tensor([rows, c.numHeads * c.headDim], 'f32', 'attn');
    const dims = { rows, offset, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim) };
    attentionDecode(ctx, { q, kNew: k, vNew: v, kCache: kv.k, vCache: kv.v, out: attn }, dims);
    const { out, x2, n2, mlp } = this.outputAndMlp(l, x, attn, rows, false);
    for (const t of [...n1.stats, n1.y, q, k, v, attn, ...n2.stats, n2.y, ...mlp]) t.release();
    qkv?.release();
    return { out, x2 };
  }

  // -------------------------------------------------------------------------------------------
  // Backward

  /** dres: ∂loss/∂x3 in, ∂loss/∂x out (in place). Adapters accumulate their gradients. */
  private layerBackward(l: LayerWeights, s: LayerSaved, dres: Tensor, b: BatchTensors): void {
    const ctx = this.ctx;
    const c = this.config;
    const rows = b.rows;
    const gpt2 = c.family === 'gpt2';
    const back = (name: string, dy: Tensor, into?: Tensor) => l.linears.get(name)!.backward(dy, into);

    // MLP block (forward: x3 = x2 + down(act(…(norm2(x2))))); dres is ∂/∂x3 = ∂/∂x2 through the skip
    let dh2: Tensor;
    if (gpt2) {
      const fc = s.mlp[0]!;
      const dAct = back('mlp.c_proj', dres);
      const dFc = ctx.tensor([rows, c.intermediateSize], 'f32', 'dfc');
      geluBackward(ctx, { dout: dAct, x: fc, dx: dFc }, { n: rows * c.intermediateSize });
      dAct.release();
      dh2 = back('mlp.c_fc', dFc);
      dFc.release();
    } else {
      const [gate, up] = s.mlp as [Tensor, Tensor, Tensor];
      const dAct = back('down_proj', dres);
      const dGate = ctx.tensor([rows, c.intermediateSize], 'f32', 'dgate');
      const dUp = ctx.tensor([rows, c.intermediateSize], 'f32', 'dup');
      swigluBackward(ctx, { dout: dAct, gate, up, dgate: dGate, dup: dUp }, { n: rows * c.intermediateSize });
      dAct.release();
      dh2 = back('gate_proj', dGate);
      back('up_proj', dUp, dh2);
      for (const t of [dGate, dUp]) t.release();
    }
    this.normBackward(dh2, s.x2, l.norm2, s.norm2Stats, dres, rows, gpt2);
    dh2.release();

    // attention block (forward: x2 = x + o(attention(q, k, v)))
    const dAttn = back(gpt2 ? 'attn.c_proj' : 'o_proj', dres);
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    const dq = ctx.tensor([rows, qDim], 'f32', 'dq');
    const dk = ctx.tensor([rows, kvDim], 'f32', 'dk');
    const dv = ctx.tensor([rows, kvDim], 'f32', 'dv');
    attentionBackward(ctx, { q: s.q, k: s.k, v: s.v, lengths: b.lengths, out: s.attn, lse: s.lse, dOut: dAttn, dq, dk, dv }, this.attentionDims(b));
    dAttn.release();
    let dh: Tensor;
    if (gpt2) {
      const dqkv = ctx.tensor([rows, 3 * c.hiddenSize], 'f32', 'dqkv');
      [dq, dk, dv].forEach((part, i) =>
        copyColumnsBack(ctx, part, dqkv, { rows, cols: 3 * c.hiddenSize, offset: i * c.hiddenSize, width: c.hiddenSize }),
      );
      dh = back('attn.c_attn', dqkv);
      dqkv.release();
    } else {
      // forward applied RoPE after the projections: rotate the gradients back (rotation by −θ)
      ropeApply(ctx, { q: dq, k: dk, positions: b.positions, table: this.rope! }, { rows, qHeads: c.numHeads, kHeads: c.numKvHeads, headDim: c.headDim, style: c.ropeStyle, inverse: true });
      dh = back('q_proj', dq);
      back('k_proj', dk, dh);
      back('v_proj', dv, dh);
    }
    for (const t of [dq, dk, dv]) t.release();
    this.normBackward(dh, s.x, l.norm1, s.norm1Stats, dres, rows, gpt2);
    dh.release();
  }

  // -------------------------------------------------------------------------------------------
  // Loss head

  /**
   * For the M loss rows of the last hidden state xL (rows×d), in chunks: gather, final norm,
   * logits = norm·Wclsᵀ, per-row NLL into `losses`; with `dres`, the backward too:
   * dres (rows×d, zeroed here) receives ∂loss/∂xL at the loss rows.
   */
  private lossHead(xL: Tensor, b: BatchTensors, losses: Tensor, dres: Tensor | null): void {
    const ctx = this.ctx;
    const c = this.config;
    const d = c.hiddenSize;
    const V = c.vocabSize;
    const layerNorm = this.finalNormBias !== null;
    if (dres) ctx.clear(dres);
    const chunk = lossChunkRows(V);
    for (let start = 0; start < b.m; start += chunk) {
      const m = Math.min(chunk, b.m - start);
      const sub = (t: Tensor, width: number, dtype: 'u32' | 'f32', label: string) => {
        const part = ctx.tensor([m * width], dtype, label);
        ctx.copy(t, part, m * width * 4, start * width * 4, 0);
        return part;
      };
      const index = sub(b.lossRows, 1, 'u32', 'loss rows');
      const targets = sub(b.targets, 1, 'u32', 'targets');
      const weights = sub(b.weights, 1, 'f32', 'loss weights');
      const hidden = ctx.tensor([m, d], 'f32', 'loss hidden');
      gatherRows(ctx, { src: xL, index, out: hidden }, { m, dim: d });
      const n = this.norm(hidden, m, this.finalNorm, this.finalNormBias);
      const logits = ctx.tensor([m, V], 'f32', 'logits');
      linearForward(ctx, n.y, this.classifier, logits, { rows: m, in: d, out: V });
      const chunkLosses = ctx.tensor([m], 'f32', 'losses');
      const dlogits = dres ? ctx.tensor([m, V], 'f32', 'dlogits') : undefined;
      crossEntropy(ctx, { logits, targets, weights, losses: chunkLosses, dlogits }, { rows: m, vocab: V, computeGrad: dres !== null });
      ctx.copy(chunkLosses, losses, m * 4, 0, start * 4);
      if (dres && dlogits) {
        const dn = ctx.tensor([m, d], 'f32', 'dnorm');
        linearBackwardInput(ctx, dlogits, this.classifier, dn, { rows: m, in: d, out: V });
        const dHidden = ctx.zeros([m, d], 'f32', 'dhidden');
        this.normBackward(dn, hidden, this.finalNorm, n.stats, dHidden, m, layerNorm);
        scatterAddRows(ctx, { src: dHidden, index, out: dres }, { m, dim: d });
        for (const t of [dn, dHidden, dlogits]) t.release();
      }
      for (const t of [index, targets, weights, hidden, n.y, ...n.stats, logits, chunkLosses]) t.release();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Entry points

  /**
   * Records forward (and with `train`, backward: adapter gradients accumulate) for a batch.
   * Returns per-loss-row NLL (M), a tensor the caller reads and releases.
   *
   * `recompute` (training only) keeps each layer's input alone through the forward and runs the
   * layer's forward again just before its backward: the saved activations of one layer are alive
   * at a time instead of every layer's, for one more forward of the layers per step. The kernels
   * are deterministic, so the losses and gradients are the same, bit for bit.
   */
  run(batch: TokenBatch, train: boolean, opts: { recompute?: boolean } = {}): Tensor {
    this.requireAlive('run');
    const ctx = this.ctx;
    const recompute = train && opts.recompute === true;
    const b = this.uploadBatch(batch);
    let x = this.embedTokens(b.tokens, b.positions, b.rows);
    let carry: Tensor | null = null; // the block before's x2, summed into x by the next norm
    let carrySaved = false; // whether carry belongs to a saved layer (released by its backward)
    const saved: (LayerSaved | Tensor)[] = [];
    for (const l of this.layers) {
      const r = this.layerForward(l, x, carry, b, train);
      if (carry && !carrySaved) carry.release();
      if (r.saved && recompute) {
        releaseSaved(r.saved, { x: true, x2: true });
        for (const lin of l.linears.values()) lin.discardCache();
        saved.push(x);
      } else if (r.saved) saved.push(r.saved);
      else x.release();
      [x, carry, carrySaved] = [r.out, r.x2, r.saved !== null && !recompute];
    }
    this.finishStream(x, carry, carrySaved);
    const losses = ctx.tensor([b.m], 'f32', 'nll');
    const dres = train ? ctx.tensor([b.rows, this.config.hiddenSize], 'f32', 'dres') : null;
    this.lossHead(x, b, losses, dres);
    x.release();
    if (dres) {
      for (let i = this.layers.length - 1; i >= 0; i--) {
        const l = this.layers[i]!;
        let s = saved[i]!;
        if (s instanceof Tensor) {
          const again = this.layerForward(l, s, null, b, true);
          again.out.release();
          s = again.saved!;
        }
        this.layerBackward(l, s, dres, b);
        releaseSaved(s, { x: false, x2: false });
      }
      dres.release();
    }
    this.releaseBatch(b);
    return losses;
  }

  /**
   * Logits (V) predicting the token after `tokens` (one sequence), read back: the whole
   * sequence recomputed, no cache (the reference KvCache is checked and benchmarked against).
   */
  async nextTokenLogits(tokens: readonly number[]): Promise<Float32Array> {
    this.requireAlive('nextTokenLogits');
    const seq = tokens.length;
    const b = this.uploadBatch({
      batch: 1,
      seq,
      tokens: Uint32Array.from(tokens),
      lengths: Uint32Array.of(seq),
      lossRows: Uint32Array.of(seq - 1),
      targets: Uint32Array.of(0),
      weights: Float32Array.of(0),
    });
    const x = this.throughLayers(this.embedTokens(b.tokens, b.positions, b.rows), (l, _, input, carry) => this.layerForward(l, input, carry, b, false));
    const logits = this.lastRowLogits(x, seq);
    x.release();
    this.releaseBatch(b);
    const out = await this.ctx.read(logits);
    logits.release();
    return out;
  }

  /**
   * Records the forward of `tokens` at positions offset … offset+n−1 of one sequence whose
   * earlier positions are in `cache` (one KvLayer per layer, see KvCache): writes their keys
   * and values there and returns the logits (1×V) after the last of them, a tensor the caller
   * reads and releases.
   */
  forwardCached(cache: readonly KvLayer[], tokens: readonly number[], offset: number): Tensor {
    this.requireAlive('forwardCached');
    const c = this.config;
    const rows = tokens.length;
    const kvDim = c.numKvHeads * c.headDim;
    if (cache.length !== c.numLayers) throw new Error(`forwardCached: ${cache.length} cached layers for a ${c.numLayers}-layer model`);
    if (rows === 0) throw new Error('forwardCached: no tokens to run');
    const capacity = Math.min(...cache.map((l) => Math.min(l.k.size, l.v.size) / kvDim));
    if (offset + rows > Math.min(capacity, c.maxPositions)) {
      throw new Error(`forwardCached: positions ${offset}…${offset + rows - 1} do not fit a cache of ${capacity} positions (the model's context: ${c.maxPositions})`);
    }
    for (const t of tokens) if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new Error(`forwardCached: token id ${t} is outside the vocabulary (${c.vocabSize})`);
    const ctx = this.ctx;
    const ids = ctx.upload(Uint32Array.from(tokens), [rows], 'tokens');
    const positions = ctx.upload(Uint32Array.from(tokens, (_, r) => offset + r), [rows], 'positions');
    const x = this.throughLayers(this.embedTokens(ids, positions, rows), (l, i, input, carry) => this.layerDecode(l, input, carry, rows, positions, cache[i]!, offset));
    const logits = this.lastRowLogits(x, rows);
    for (const t of [x, ids, positions]) t.release();
    return logits;
  }

  /**
   * Runs every block, keeping nothing: x0 in (released), the last hidden state out. Each block's
   * last residual add is summed by the next block's first norm.
   */
  private throughLayers(x0: Tensor, block: (l: LayerWeights, i: number, x: Tensor, carry: Tensor | null) => BlockOutput): Tensor {
    let x = x0;
    let carry: Tensor | null = null;
    this.layers.forEach((l, i) => {
      const r = block(l, i, x, carry);
      x.release();
      carry?.release();
      [x, carry] = [r.out, r.x2];
    });
    this.finishStream(x, carry, false);
    return x;
  }

  /** The last block's x3 = out + x2, in place into out: no norm follows inside the stack. */
  private finishStream(out: Tensor, x2: Tensor | null, x2Saved: boolean): void {
    if (!x2) return;
    addInto(this.ctx, { acc: out, x: x2 }, { n: out.size });
    if (!x2Saved) x2.release();
  }

  /** Logits (1×V) of the last of `rows` rows of the last hidden state x (rows×d). */
  private lastRowLogits(x: Tensor, rows: number): Tensor {
    const ctx = this.ctx;
    const { hiddenSize: d, vocabSize: V } = this.config;
    // The norm reads rows from the start of its input, so the last row is copied out first.
    const hidden = rows === 1 ? x : ctx.tensor([1, d], 'f32', 'last hidden');
    if (hidden !== x) ctx.copy(x, hidden, d * 4, (rows - 1) * d * 4, 0);
    const n = this.norm(hidden, 1, this.finalNorm, this.finalNormBias);
    const logits = ctx.tensor([1, V], 'f32', 'logits');
    linearForward(ctx, n.y, this.classifier, logits, { rows: 1, in: d, out: V });
    if (hidden !== x) hidden.release();
    for (const t of [n.y, ...n.stats]) t.release();
    return logits;
  }

  /**
   * The base weights with every adapted layer merged (Ŵ in the base's name, shape and layout):
   * a plain checkpoint of the same architecture, with no adapter left at inference.
   */
  async mergedWeights(base: WeightMap): Promise<WeightMap> {
    this.requireAlive('mergedWeights');
    const merged: WeightMap = new Map(base);
    for (const { name, layer } of this.adapters()) {
      const t = layer.merge();
      merged.set(`${name}.weight`, { shape: [...t.shape], data: await this.ctx.read(t) });
      t.release();
    }
    return merged;
  }

  /** Frees what this model made: adapters, a view's merged weights, and base weights it uploaded itself. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const l of this.layers) for (const lin of l.linears.values()) if (isAdapted(lin)) lin.destroy();
    this.trainable?.params.release();
    this.trainable?.grads.release();
    for (const t of this.owned) t.release();
    if (this.ownsWeights) this.weights.destroy();
    this.ctx.trimPool();
  }
}

function sameConfig(a: ModelConfig, b: ModelConfig): boolean {
  const keys = Object.keys(a) as (keyof ModelConfig)[];
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * Releases a layer's saved tensors but those `keep` names: its input x, and x2, the next
 * block's carry until that block's first norm has summed it.
 */
function releaseSaved(s: LayerSaved, keep: { x: boolean; x2: boolean }): void {
  const ts = [...s.norm1Stats, s.h, s.q, s.k, s.v, s.attn, s.lse, ...s.norm2Stats, s.h2, ...s.mlp];
  if (s.qkv) ts.push(s.qkv);
  if (!keep.x) ts.push(s.x);
  if (!keep.x2) ts.push(s.x2);
  for (const t of ts) t.release();
}
