// A causal language model (Llama, Qwen2, GPT-2) as an ONNX decoder with a KV cache, in the
// names and layout Hugging Face Optimum exports and transformers.js runs:
//
//   inputs   input_ids (batch×seq, int64), attention_mask (batch×(past+seq), int64: 1 = attend),
//            position_ids (batch×seq, int64), past_key_values.{i}.key / .value
//            (batch×numKvHeads×past×headDim, float32; past = 0 for the first pass)
//   outputs  logits (batch×seq×vocab, float32), present.{i}.key / .value
//            (batch×numKvHeads×(past+seq)×headDim: the cache to feed back)
//
// The math is our engine's (src/model/gpu-model.ts, its f64 reference src/ref/model.ts), in
// standard operators only: RMSNorm as x·(1/√(mean(x²)+ε))·w, LayerNorm as LayerNormalization,
// rotate-half RoPE from the engine's own cos/sin table (ropeTable, gathered by position_ids), GQA
// by grouping each key/value head's queries (query head h reads kv head ⌊h/G⌋, G = heads/kvHeads,
// as Hugging Face's repeat_kv), attention masked causally and by attention_mask, SwiGLU, GELU
// (tanh form, as x·σ(2u) like the engine's kernel), the classifier sharing the embedding when tied.
//
// Weights are the checkpoint's in Hugging Face form (a llama2.c model converted first, see
// src/export/onnx.ts): Llama/Qwen2 linears are stored transposed (in×out) for MatMul, GPT-2's
// Conv1D weights are in×out already; the classifier is a Gemm on the embedding (vocab×hidden)
// itself, so tied weights are stored once. fp16 stores every weight as float16, each Cast to
// float32 once: the arithmetic and the inputs and outputs stay float32.

import type { HostTensor, ModelConfig, WeightMap } from '../model/config';
import { linearModules } from '../model/names';
import { ropeTable } from '../ops/rope';
import { f32BitsToF16Bits } from '../io/safetensors';
import { bytesOf, Graph, ELEM_TYPE } from './graph';

export type OnnxWeightType = 'fp32' | 'fp16';

/** The graph's symbolic dimensions, as Optimum names them. */
const BATCH = 'batch_size';
const SEQ = 'sequence_length';
const PAST = 'past_sequence_length';
const TOTAL = 'total_sequence_length';

/** What masked attention scores are set to before the softmax: float32's lowest (a fully masked row stays finite). */
const MASKED_SCORE = -3.4028234663852886e38;

export function buildDecoder(c: ModelConfig, weights: WeightMap, opts: { weightType?: OnnxWeightType } = {}): Graph {
  if (c.family !== 'gpt2' && c.ropeStyle !== 'half') {
    throw new RangeError(`buildDecoder: a ${c.family} model with ${c.ropeStyle} RoPE; convert it to Hugging Face form (rotate-half) first`);
  }
  const fp16 = opts.weightType === 'fp16';
  const g = new Graph(`${c.family}-decoder`);
  const gpt2 = c.family === 'gpt2';
  const { numHeads: H, numKvHeads: KV, headDim: D, hiddenSize: d, vocabSize: V } = c;
  const G = H / KV;

  const host = (name: string): HostTensor => {
    const t = weights.get(name);
    if (t === undefined) throw new RangeError(`buildDecoder: the weights lack "${name}"`);
    return t;
  };
  /** A weight as a float32 value of the graph (stored as float16 and cast, with fp16). */
  const param = (name: string, dims: number[], data: Float32Array): string => {
    if (!fp16) return g.initializer(name, 'float32', dims, bytesOf(data));
    const stored = g.initializer(name, 'float16', dims, bytesOf(toF16(data)));
    return g.op('Cast', [stored], { to: ELEM_TYPE.float32 });
  };
  const values = new Map<string, string>();
  /** A checkpoint tensor as it is, once however often it is read (the tied embedding is also the classifier). */
  const weight = (name: string) => {
    let value = values.get(name);
    if (value === undefined) values.set(name, (value = param(name, [...host(name).shape], host(name).data)));
    return value;
  };
  const op = g.op.bind(g);
  const scalar = (v: number) => g.float(v);

  const inputIds = g.input('input_ids', 'int64', [BATCH, SEQ]);
  const attentionMask = g.input('attention_mask', 'int64', [BATCH, TOTAL]);
  const positionIds = g.input('position_ids', 'int64', [BATCH, SEQ]);
  const past = Array.from({ length: c.numLayers }, (_, i) => ({
    key: g.input(`past_key_values.${i}.key`, 'float32', [BATCH, KV, PAST, D]),
    value: g.input(`past_key_values.${i}.value`, 'float32', [BATCH, KV, PAST, D]),
  }));

  // The mask (batch×1×1×seq×total, true = attend), shared by every layer: key position j is
  // visible to the query at absolute position past+i when j ≤ past+i and attention_mask[j] = 1.
  const total = op('Squeeze', [op('Shape', [attentionMask], { start: 1, end: 2 }), g.ints([0])]);
  const seq = op('Squeeze', [op('Shape', [inputIds], { start: 1, end: 2 }), g.ints([0])]);
  const one = g.ints([1], []);
  const keyPositions = op('Range', [g.ints([0], []), total, one]); // (total)
  const queryPositions = op('Range', [op('Sub', [total, seq]), total, one]); // (seq)
  const causal = op('LessOrEqual', [op('Unsqueeze', [keyPositions, g.ints([0])]), op('Unsqueeze', [queryPositions, g.ints([1])])]); // (seq×total)
  const padding = op('Unsqueeze', [op('Cast', [attentionMask], { to: ELEM_TYPE.bool }), g.ints([1, 2, 3])]); // (batch×1×1×1×total)
  const mask = op('And', [causal, padding]);
  const maskedScore = scalar(MASKED_SCORE);
  const scale = scalar(1 / Math.sqrt(D));

  // RoPE's cos and sin at each position (batch×1×seq×D), from the engine's f32 table, each of the
  // D/2 angles written twice (rotate-half pairs feature i with i + D/2).
  let rope: { cos: string; sin: string } | null = null;
  if (!gpt2) {
    const table = ropeTable(c.maxPositions, D, c.ropeTheta);
    const [cos, sin] = [0, 1].map((part) => {
      const full = new Float32Array(c.maxPositions * D);
      for (let pos = 0; pos < c.maxPositions; pos++) {
        for (let i = 0; i < D; i++) full[pos * D + i] = table[(pos * (D / 2) + (i % (D / 2))) * 2 + part]!;
      }
      const name = g.initializer(part === 0 ? 'rope.cos' : 'rope.sin', 'float32', [c.maxPositions, D], bytesOf(full));
      return op('Unsqueeze', [op('Gather', [name, positionIds]), g.ints([1])]);
    }) as [string, string];
    rope = { cos, sin };
  }
  /** x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁) for x = (x₁, x₂) split at D/2. */
  const applyRope = (x: string) => {
    const half = (from: number, to: number) => op('Slice', [x, g.ints([from]), g.ints([to]), g.ints([-1])]);
    const rotated = op('Concat', [op('Neg', [half(D / 2, D)]), half(0, D / 2)], { axis: -1 });
    return op('Add', [op('Mul', [x, rope!.cos]), op('Mul', [rotated, rope!.sin])]);
  };

  const norm = (x: string, w: string, b: string | null) => {
    if (b !== null) return op('LayerNormalization', [x, weight(w), weight(b)], { axis: -1, epsilon: { float: c.normEps } });
    const meanSquare = op('ReduceMean', [op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const rstd = op('Reciprocal', [op('Sqrt', [op('Add', [meanSquare, scalar(c.normEps)])])]);
    return op('Mul', [op('Mul', [x, rstd]), weight(w)]);
  };

  /** (batch×seq×heads·D) → (batch×heads×seq×D). */
  const splitHeads = (x: string, heads: number) => op('Transpose', [op('Reshape', [x, g.ints([0, 0, heads, D])])], { perm: [0, 2, 1, 3] });

  /** Attention of q (batch×H×seq×D) over the whole cache k, v (batch×KV×total×D): (batch×seq×H·D). */
  const attend = (q: string, k: string, v: string) => {
    // Each kv head's G query heads side by side: q (batch×KV×G×seq×D) against k, v (batch×KV×1×total×D).
    const q5 = op('Reshape', [q, g.ints([0, KV, G, -1, D])]);
    const k5 = op('Transpose', [op('Unsqueeze', [k, g.ints([2])])], { perm: [0, 1, 2, 4, 3] });
    const v5 = op('Unsqueeze', [v, g.ints([2])]);
    const scores = op('Mul', [op('MatMul', [q5, k5]), scale]); // (batch×KV×G×seq×total)
    const probs = op('Softmax', [op('Where', [mask, scores, maskedScore])], { axis: -1 });
    const out = op('Reshape', [op('MatMul', [probs, v5]), g.ints([0, H, -1, D])]); // (batch×H×seq×D)
    return op('Reshape', [op('Transpose', [out], { perm: [0, 2, 1, 3] }), g.ints([0, 0, H * D])]);
  };

  let x = op('Gather', [weight(gpt2 ? 'wte.weight' : 'model.embed_tokens.weight'), inputIds]);
  if (gpt2) x = op('Add', [x, op('Gather', [weight('wpe.weight'), positionIds])]);

  for (let i = 0; i < c.numLayers; i++) {
    const mods = new Map(linearModules(c, i).map((m) => [m.module, m]));
    const linear = (module: string, input: string) => {
      const m = mods.get(module)!;
      const w = host(m.weight);
      // MatMul takes (in×out): Llama's (out×in) weights are stored transposed, GPT-2's Conv1D as they are.
      const name = m.layout === 'out_in' ? `${m.weight}.T` : m.weight;
      let y = op('MatMul', [input, param(name, [m.in, m.out], m.layout === 'out_in' ? transpose(w.data, m.out, m.in) : w.data)]);
      if (m.bias !== null) y = op('Add', [y, weight(m.bias)]);
      return y;
    };
    const p = gpt2 ? `h.${i}` : `model.layers.${i}`;
    const h = gpt2 ? norm(x, `${p}.ln_1.weight`, `${p}.ln_1.bias`) : norm(x, `${p}.input_layernorm.weight`, null);
    let q: string, k: string, v: string;
    if (gpt2) {
      const qkv = linear('attn.c_attn', h); // (batch×seq×3d): q, k, v side by side
      [q, k, v] = [0, 1, 2].map((part) => splitHeads(op('Slice', [qkv, g.ints([part * d]), g.ints([(part + 1) * d]), g.ints([-1])]), H)) as [string, string, string];
    } else {
      q = applyRope(splitHeads(linear('q_proj', h), H));
      k = applyRope(splitHeads(linear('k_proj', h), KV));
      v = splitHeads(linear('v_proj', h), KV);
    }
    const keys = op('Concat', [past[i]!.key, k], { axis: 2 });
    const values = op('Concat', [past[i]!.value, v], { axis: 2 });
    g.output(`present.${i}.key`, keys, 'float32', [BATCH, KV, TOTAL, D]);
    g.output(`present.${i}.value`, values, 'float32', [BATCH, KV, TOTAL, D]);
    const x2 = op('Add', [x, linear(gpt2 ? 'attn.c_proj' : 'o_proj', attend(q, keys, values))]);
    const h2 = gpt2 ? norm(x2, `${p}.ln_2.weight`, `${p}.ln_2.bias`) : norm(x2, `${p}.post_attention_layernorm.weight`, null);
    let mlp: string;
    if (gpt2) {
      // GELU (tanh approximation) as x·σ(2u), 2u = 2√(2/π)·(x + 0.044715·x³)
      const fc = linear('mlp.c_fc', h2);
      const cube = op('Mul', [op('Mul', [fc, fc]), fc]);
      const twoU = op('Mul', [op('Add', [fc, op('Mul', [cube, scalar(0.044715)])]), scalar(2 * Math.sqrt(2 / Math.PI))]);
      mlp = linear('mlp.c_proj', op('Mul', [fc, op('Sigmoid', [twoU])]));
    } else {
      const gate = linear('gate_proj', h2);
      mlp = linear('down_proj', op('Mul', [op('Mul', [gate, op('Sigmoid', [gate])]), linear('up_proj', h2)]));
    }
    x = op('Add', [x2, mlp]);
  }

  const final = gpt2 ? norm(x, 'ln_f.weight', 'ln_f.bias') : norm(x, 'model.norm.weight', null);
  const classifier = weight(c.tiedEmbeddings ? (gpt2 ? 'wte.weight' : 'model.embed_tokens.weight') : 'lm_head.weight');
  const rows = op('Reshape', [final, g.ints([-1, d])]);
  const logits2d = op('Gemm', [rows, classifier], { transB: 1 }); // (batch·seq × V)
  const logitsShape = op('Concat', [op('Shape', [inputIds]), g.ints([V])], { axis: 0 });
  g.output('logits', op('Reshape', [logits2d, logitsShape]), 'float32', [BATCH, SEQ, V]);
  return g;
}

/** (rows×cols) → (cols×rows). */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let col = 0; col < cols; col++) out[col * rows + r] = a[r * cols + col]!;
  return out;
}

/** float32 → float16 bits, rounded to nearest even (as the safetensors writer does). */
function toF16(a: Float32Array): Uint16Array {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  return Uint16Array.from(bits, f32BitsToF16Bits);
}
