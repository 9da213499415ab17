// CPU reference of the whole model's forward (f64), built from the per-op references: the
// oracle for the GPU model's logits and, through finite differences of its loss, for the
// adapter gradients of the GPU backward. Same batch format as the GPU model (right padding).

import type { AdapterConfig } from '../adapters/config';
import { checkAdapterConfig } from '../adapters/config';
import type { AdapterParams } from '../adapters/init';
import type { ModelConfig, WeightMap } from '../model/config';
import type { TokenBatch } from '../model/gpu-model';
import { defaultTargets, linearModules, targetMatches } from '../model/names';
import { ropeTable } from '../ops/rope';
import { addRef, geluForwardRef, swigluForwardRef } from './activations';
import { adapterForwardRef } from './adapters';
import { attentionForwardRef } from './attention';
import { embeddingGatherRef, gatherRowsRef } from './embedding';
import { crossEntropyRef } from './loss';
import { matmulRef } from './matmul';
import { layernormForwardRef, rmsnormForwardRef } from './norms';
import { ropeApplyRef } from './rope';

/** Adapters of the reference: per base weight name, that layer's factors. */
export interface RefAdapters {
  config: AdapterConfig;
  targets?: string[];
  params: Map<string, AdapterParams<Float32Array | Float64Array>>;
}

export interface RefForward {
  /** Per loss row NLL (M). */
  losses: Float64Array;
  /** Logits at the loss rows (M × V). */
  logits: Float64Array;
  /** Σ w_i·nll_i: the training objective. */
  loss: number;
}

export function modelForwardRef(config: ModelConfig, weights: WeightMap, batch: TokenBatch, adapters?: RefAdapters): RefForward {
  const c = config;
  const d = c.hiddenSize;
  const rows = batch.batch * batch.seq;
  const gpt2 = c.family === 'gpt2';
  const w = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`reference model: tensor "${name}" is missing`);
    return t.data;
  };
  const positions = Uint32Array.from({ length: rows }, (_, r) => r % batch.seq);
  const table = gpt2 ? null : ropeTable(c.maxPositions, c.headDim, c.ropeTheta);
  const targets = adapters ? (adapters.targets ?? defaultTargets(c.family)) : [];
  const adapterCfg = adapters ? checkAdapterConfig(adapters.config) : null;

  const norm = (x: ArrayLike<number>, n: number, weight: string, bias: string | null) =>
    bias
      ? layernormForwardRef(x, w(weight), w(bias), { rows: n, dim: d, eps: c.normEps }).y
      : rmsnormForwardRef(x, w(weight), { rows: n, dim: d, eps: c.normEps }).y;

  let x = embeddingGatherRef(w(gpt2 ? 'wte.weight' : 'model.embed_tokens.weight'), batch.tokens, { rows, dim: d, vocab: c.vocabSize });
  if (gpt2) x = embeddingGatherRef(w('wpe.weight'), positions, { rows, dim: d, vocab: c.maxPositions }, x);

  for (let i = 0; i < c.numLayers; i++) {
    const mods = new Map(linearModules(c, i).map((m) => [m.module, m]));
    const linear = (module: string, input: ArrayLike<number>): Float64Array => {
      const m = mods.get(module)!;
      const adapted = adapters && targets.some((t) => targetMatches(t, module)) ? adapters.params.get(m.weight) : undefined;
      let y: Float64Array;
      if (adapted) {
        y = adapterForwardRef({ ...adapterCfg!, r: adapted.r }, w(m.weight), adapted, Float64Array.from(input), { layout: m.layout }).Y;
      } else {
        y = matmulRef({ a: input, b: w(m.weight), M: rows, N: m.out, K: m.in, transB: m.layout === 'out_in' }).c;
      }
      if (m.bias) {
        const b = w(m.bias);
        for (let k = 0; k < y.length; k++) y[k]! += b[k % m.out]!;
      }
      return y;
    };
    const p = gpt2 ? `h.${i}` : `model.layers.${i}`;
    const h = gpt2 ? norm(x, rows, `${p}.ln_1.weight`, `${p}.ln_1.bias`) : norm(x, rows, `${p}.input_layernorm.weight`, null);
    let q: Float64Array, k: Float64Array, v: Float64Array;
    if (gpt2) {
      const qkv = linear('attn.c_attn', h);
      const split = (part: number) => {
        const out = new Float64Array(rows * d);
        for (let r = 0; r < rows; r++) out.set(qkv.subarray(r * 3 * d + part * d, r * 3 * d + (part + 1) * d), r * d);
        return out;
      };
      [q, k, v] = [split(0), split(1), split(2)];
    } else {
      const rope = { rows, headDim: c.headDim, style: c.ropeStyle, inverse: false };
      q = ropeApplyRef(linear('q_proj', h), positions, table!, { ...rope, heads: c.numHeads });
      k = ropeApplyRef(linear('k_proj', h), positions, table!, { ...rope, heads: c.numKvHeads });
      v = linear('v_proj', h);
    }
    const attn = attentionForwardRef(q, k, v, batch.lengths, {
      batch: batch.batch,
      seq: batch.seq,
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      scale: 1 / Math.sqrt(c.headDim),
    }).out;
    const x2 = addRef(x, linear(gpt2 ? 'attn.c_proj' : 'o_proj', attn));
    const h2 = gpt2 ? norm(x2, rows, `${p}.ln_2.weight`, `${p}.ln_2.bias`) : norm(x2, rows, `${p}.post_attention_layernorm.weight`, null);
    const mlp = gpt2
      ? linear('mlp.c_proj', geluForwardRef(linear('mlp.c_fc', h2)))
      : linear('down_proj', swigluForwardRef(linear('gate_proj', h2), linear('up_proj', h2)));
    x = addRef(x2, mlp);
  }

  const m = batch.lossRows.length;
  const hidden = gatherRowsRef(x, batch.lossRows, { m, dim: d });
  const hn = gpt2 ? norm(hidden, m, 'ln_f.weight', 'ln_f.bias') : norm(hidden, m, 'model.norm.weight', null);
  const classifier = w(c.tiedEmbeddings ? (gpt2 ? 'wte.weight' : 'model.embed_tokens.weight') : 'lm_head.weight');
  const logits = matmulRef({ a: hn, b: classifier, M: m, N: c.vocabSize, K: d, transB: true }).c;
  const { losses } = crossEntropyRef(logits, batch.targets, batch.weights, { rows: m, vocab: c.vocabSize });
  let loss = 0;
  for (let i = 0; i < m; i++) loss += batch.weights[i]! * losses[i]!;
  return { losses, logits, loss };
}
