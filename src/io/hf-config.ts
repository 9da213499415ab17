// Hugging Face config.json ⇄ ModelConfig, for the three families the kernels run:
//   llama  LlamaForCausalLM (SmolLM2, TinyLlama, llama2.c exports): RMSNorm, SwiGLU, RoPE, GQA;
//   qwen2  Qwen2ForCausalLM (Qwen2.5): llama plus biases on q/k/v;
//   gpt2   GPT2LMHeadModel: LayerNorm, GELU (tanh), learned positions, Conv1D (in, out) weights.
// Fields the kernels cannot honour (rope_scaling, o_proj biases, sliding windows, other
// activations) are refused by name rather than silently ignored. Both llama and qwen2 checkpoints
// on the Hub use the rotate-half RoPE convention ('half').

import type { ModelConfig } from '../model/config';
import { ModelConfigError, validateModelConfig } from '../model/config';
import { failIn, type Fail } from './errors';
import { describeJson, parseJsonObject } from './json';

/** transformers' defaults where a config.json leaves a field out. */
const LLAMA_DEFAULT_ROPE_THETA = 10000;
const LLAMA_DEFAULT_RMS_NORM_EPS = 1e-6;
const GPT2_DEFAULT_LAYER_NORM_EPS = 1e-5;
const GPT2_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh'];

export function parseHfConfig(bytes: Uint8Array, fileName: string): ModelConfig {
  const json = parseJsonObject(bytes, fileName);
  const fail: Fail = failIn(fileName);
  const field = new ConfigFields(json, fail);
  const modelType = json.model_type;
  let config: ModelConfig;
  switch (modelType) {
    case 'llama':
    case 'qwen2':
      config = llamaLikeConfig(field, modelType);
      break;
    case 'gpt2':
      config = gpt2Config(field);
      break;
    default:
      fail('field "model_type"', describeJson(modelType), '"llama", "qwen2" or "gpt2"');
  }
  try {
    return validateModelConfig(config, fileName);
  } catch (e) {
    // A config transformers would load but the kernels cannot run (a head size over 128, an odd
    // one under RoPE) is still this file's problem, reported like every other.
    if (e instanceof ModelConfigError) fail(undefined, e.message.replace(`${fileName}: `, ''), "a configuration the engine's kernels can run");
    throw e;
  }
}

function llamaLikeConfig(field: ConfigFields, family: 'llama' | 'qwen2'): ModelConfig {
  const hiddenSize = field.count('hidden_size');
  const numHeads = field.count('num_attention_heads');
  const numKvHeads = field.count('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    field.fail('num_attention_heads', `${numHeads}`, `a multiple of num_key_value_heads (${numKvHeads})`);
  }
  if (!field.has('head_dim') && hiddenSize % numHeads !== 0) {
    field.fail('hidden_size', `${hiddenSize}`, `a multiple of num_attention_heads (${numHeads}), or an explicit head_dim`);
  }
  const headDim = field.count('head_dim', hiddenSize / numHeads);
  field.expect('hidden_act', ['silu'], 'silu');
  field.expect('rope_scaling', [null], null);
  field.expect('mlp_bias', [false], false);
  if (family === 'llama') {
    // Llama's attention_bias also puts a bias on o_proj, which this engine's layers do not have.
    field.expect('attention_bias', [false], false);
  } else {
    field.expect('use_sliding_window', [false], false);
    if (headDim !== hiddenSize / numHeads) {
      field.fail('head_dim', `${headDim}`, `hidden_size / num_attention_heads = ${hiddenSize / numHeads} (Qwen2 derives it)`);
    }
  }
  return {
    family,
    vocabSize: field.count('vocab_size'),
    hiddenSize,
    intermediateSize: field.count('intermediate_size'),
    numLayers: field.count('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    maxPositions: field.count('max_position_embeddings'),
    normEps: field.positive('rms_norm_eps', LLAMA_DEFAULT_RMS_NORM_EPS),
    ropeTheta: field.positive('rope_theta', LLAMA_DEFAULT_ROPE_THETA),
    ropeStyle: 'half',
    tiedEmbeddings: field.boolean('tie_word_embeddings', false),
    attentionBias: family === 'qwen2',
    bosTokenId: field.tokenId('bos_token_id'),
    eosTokenId: field.tokenId('eos_token_id'),
  };
}

function gpt2Config(field: ConfigFields): ModelConfig {
  const hiddenSize = field.count('n_embd');
  const numHeads = field.count('n_head');
  if (hiddenSize % numHeads !== 0) field.fail('n_embd', `${hiddenSize}`, `a multiple of n_head (${numHeads})`);
  field.expect('activation_function', GPT2_ACTIVATIONS, 'gelu_new');
  field.expect('tie_word_embeddings', [true], true);
  return {
    family: 'gpt2',
    vocabSize: field.count('vocab_size'),
    hiddenSize,
    intermediateSize: field.raw('n_inner') === null ? 4 * hiddenSize : field.count('n_inner', 4 * hiddenSize),
    numLayers: field.count('n_layer'),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    maxPositions: field.count('n_positions'),
    normEps: field.positive('layer_norm_epsilon', GPT2_DEFAULT_LAYER_NORM_EPS),
    // GPT-2 has learned positions: no RoPE, so neither value is read.
    ropeTheta: 0,
    ropeStyle: 'half',
    tiedEmbeddings: true,
    attentionBias: true,
    bosTokenId: field.tokenId('bos_token_id'),
    eosTokenId: field.tokenId('eos_token_id'),
  };
}

/** Typed reads of config.json's fields; each failure names the field and what it should be. */
class ConfigFields {
  constructor(
    private readonly json: Record<string, unknown>,
    private readonly failIn: Fail,
  ) {}

  has(name: string): boolean {
    return this.json[name] !== undefined;
  }

  raw(name: string): unknown {
    return this.json[name];
  }

  fail(name: string, found: string, expected: string): never {
    return this.failIn(`field "${name}"`, found, expected);
  }

  /** A positive integer; `fallback` when absent (required when no fallback is given). */
  count(name: string, fallback?: number): number {
    const v = this.json[name];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) this.fail(name, describeJson(v), 'a positive integer');
    return v;
  }

  /** A number > 0; `fallback` when absent. */
  positive(name: string, fallback: number): number {
    const v = this.json[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) this.fail(name, describeJson(v), 'a number > 0');
    return v;
  }

  boolean(name: string, fallback: boolean): boolean {
    const v = this.json[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(name, describeJson(v), 'true or false');
    return v;
  }

  /** A token id, null, or a list of ids (Llama 3's several EOS) of which the first is taken. */
  tokenId(name: string): number | null {
    const v = this.json[name];
    const id = Array.isArray(v) ? v[0] : v;
    if (id === undefined || id === null) return null;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) this.fail(name, describeJson(v), 'a token id, a list of ids, or null');
    return id;
  }

  /** Absent, or one of the values the engine implements (`absentMeans` is what absence means). */
  expect(name: string, allowed: unknown[], absentMeans: unknown): void {
    const v = this.json[name];
    if (v === undefined || allowed.includes(v)) return;
    const wanted = allowed.map((a) => JSON.stringify(a)).join(' or ');
    this.fail(name, describeJson(v), `${wanted} (absent means ${JSON.stringify(absentMeans)}); this engine implements no other`);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

export type HfTorchDtype = 'float32' | 'float16' | 'bfloat16';

/**
 * config.json for a ModelConfig, as transformers' LlamaForCausalLM / Qwen2ForCausalLM /
 * GPT2LMHeadModel load it; `torchDtype` says how the weights beside it are stored. Llama and
 * Qwen2 configs must use rotate-half RoPE (convert llama2.c weights with toHfLlamaFromLlama2c).
 */
export function hfConfigJson(config: ModelConfig, torchDtype: HfTorchDtype = 'float32'): string {
  const where = 'hfConfigJson';
  const c = config;
  let json: Record<string, unknown>;
  if (c.family === 'gpt2') {
    if (c.numKvHeads !== c.numHeads || c.headDim * c.numHeads !== c.hiddenSize) {
      throw new RangeError(`${where}: GPT-2 needs numKvHeads = numHeads and headDim = hiddenSize / numHeads`);
    }
    json = {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      vocab_size: c.vocabSize,
      n_embd: c.hiddenSize,
      n_layer: c.numLayers,
      n_head: c.numHeads,
      n_positions: c.maxPositions,
      n_ctx: c.maxPositions,
      n_inner: c.intermediateSize,
      activation_function: 'gelu_new',
      layer_norm_epsilon: c.normEps,
      tie_word_embeddings: true,
      bos_token_id: c.bosTokenId,
      eos_token_id: c.eosTokenId,
      torch_dtype: torchDtype,
    };
  } else {
    if (c.ropeStyle !== 'half') {
      throw new RangeError(`${where}: ropeStyle "${c.ropeStyle}"; Hugging Face ${c.family} uses "half" (permute q/k with toHfLlamaFromLlama2c)`);
    }
    if (c.attentionBias !== (c.family === 'qwen2')) {
      throw new RangeError(`${where}: attentionBias ${c.attentionBias} cannot be written for ${c.family} (q/k/v biases are Qwen2's only)`);
    }
    const qwen2 = c.family === 'qwen2';
    if (qwen2 && c.headDim * c.numHeads !== c.hiddenSize) {
      throw new RangeError(`${where}: Qwen2 derives head_dim = hiddenSize / numHeads; headDim ${c.headDim} differs`);
    }
    json = {
      architectures: [qwen2 ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
      model_type: c.family,
      vocab_size: c.vocabSize,
      hidden_size: c.hiddenSize,
      intermediate_size: c.intermediateSize,
      num_hidden_layers: c.numLayers,
      num_attention_heads: c.numHeads,
      num_key_value_heads: c.numKvHeads,
      ...(qwen2
        ? { use_sliding_window: false, sliding_window: c.maxPositions, max_window_layers: c.numLayers }
        : { head_dim: c.headDim, attention_bias: false, mlp_bias: false }),
      hidden_act: 'silu',
      max_position_embeddings: c.maxPositions,
      rms_norm_eps: c.normEps,
      rope_theta: c.ropeTheta,
      rope_scaling: null,
      tie_word_embeddings: c.tiedEmbeddings,
      bos_token_id: c.bosTokenId,
      eos_token_id: c.eosTokenId,
      torch_dtype: torchDtype,
    };
  }
  return `${JSON.stringify(json, null, 2)}\n`;
}
