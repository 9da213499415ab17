// Hugging Face config.json ⇄ ModelConfig, for the three families the kernels run:
//   llama  LlamaForCausalLM (SmolLM2, TinyLlama, llama2.c exports): RMSNorm, SwiGLU, RoPE, GQA;
//   qwen2  Qwen2ForCausalLM (Qwen2.5): llama plus biases on q/k/v;
//   gpt2   GPT2LMHeadModel: LayerNorm, GELU (tanh), learned positions, Conv1D (in, out) weights.
// Fields the kernels cannot honour (RoPE scaling, partial RoPE, o_proj biases, sliding windows,
// other activations) are refused by name rather than silently ignored. Both llama and qwen2
// checkpoints on the Hub use the rotate-half RoPE convention ('half'). A config whose sizes are
// absurd is refused naming the field before anything is allocated (checkPlausibleModel).
//
// Two generations of config.json carry RoPE's settings (read from huggingface/transformers):
//   transformers 4  top-level "rope_theta" and "rope_scaling" (null, or {"rope_type" (formerly
//                   "type"), "factor", …}); see src/transformers/models/qwen2/configuration_qwen2.py
//                   and modeling_rope_utils.py's rope_config_validation in 4.x;
//   transformers 5  one "rope_parameters" object, {"rope_theta": θ, "rope_type": "default", …}, and
//                   no top-level rope_theta or rope_scaling: PreTrainedConfig's __post_init__
//                   (src/transformers/configuration_utils.py) calls convert_rope_params_to_dict
//                   (src/transformers/modeling_rope_utils.py, RotaryEmbeddingConfigMixin), which
//                   pops a legacy "rope_scaling" into rope_parameters, pops "rope_theta" into
//                   rope_parameters.rope_theta unless that is already set (default 10000), and
//                   standardize_rope_params sets rope_type from a legacy "type" else "default".
//                   With "layer_types", rope_parameters may instead hold one such object per layer
//                   type ({"full_attention": {…}, "sliding_attention": {…}}).
// Both are read; a config whose θs differ (a top-level rope_theta and another in rope_parameters)
// is refused, since the two generations would read it differently.

import type { ModelConfig, ModelFamily } from '../model/config';
import { ModelConfigError, validateModelConfig } from '../model/config';
import { checkPlausibleModel, type ConfigSource } from '../model/model-size';
import { failIn, type Fail } from './errors';
import { describeJson, isPlainObject, parseJsonObject } from './json';

/** transformers' defaults where a config.json leaves a field out. */
const LLAMA_DEFAULT_ROPE_THETA = 10000;
const LLAMA_DEFAULT_RMS_NORM_EPS = 1e-6;
const GPT2_DEFAULT_LAYER_NORM_EPS = 1e-5;
const GPT2_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh'];
/** The RoPE types transformers knows; only "default" (plain RoPE) is implemented here. */
const SCALED_ROPE_TYPES = 'linear, dynamic, yarn, longrope or llama3';

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
    validateModelConfig(config, fileName);
  } catch (e) {
    // A config transformers would load but the kernels cannot run (a head size over 128, an odd
    // one under RoPE) is still this file's problem, reported like every other.
    if (e instanceof ModelConfigError) fail(undefined, e.problem, "a configuration the engine's kernels can run");
    throw e;
  }
  checkPlausibleModel(config, hfConfigSource(config.family, fileName));
  return config;
}

/** What a config.json of the family calls each size field, for messages (checkModelFitsDevice). */
export function hfConfigSource(family: ModelFamily, fileName: string): ConfigSource {
  const fields =
    family === 'gpt2'
      ? {
          vocabSize: 'vocab_size',
          hiddenSize: 'n_embd',
          intermediateSize: 'n_inner',
          numLayers: 'n_layer',
          numHeads: 'n_head',
          numKvHeads: 'n_head',
          headDim: 'n_embd / n_head',
          maxPositions: 'n_positions',
        }
      : {
          vocabSize: 'vocab_size',
          hiddenSize: 'hidden_size',
          intermediateSize: 'intermediate_size',
          numLayers: 'num_hidden_layers',
          numHeads: 'num_attention_heads',
          numKvHeads: 'num_key_value_heads',
          headDim: family === 'llama' ? 'head_dim' : 'hidden_size / num_attention_heads',
          maxPositions: 'max_position_embeddings',
        };
  return { file: fileName, fieldKind: 'field', fields };
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
  field.expect('mlp_bias', [false], false);
  const ropeTheta = readRopeTheta(field);
  onlyFullAttention(field, field.count('num_hidden_layers'));
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
    ropeTheta,
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

/**
 * RoPE's base θ from either generation of config.json (see the top of this file), after checking
 * that every RoPE settings object asks for plain RoPE over whole heads: any scaling type, and a
 * partial rotary factor other than 1, are refused naming the field. Every θ the file gives (top
 * level, rope_scaling, rope_parameters, each layer type's) must be the same.
 */
function readRopeTheta(field: ConfigFields): number {
  field.expect('partial_rotary_factor', [1], 1);
  const sets = [field];
  // transformers 4: null, or a RoPE type's scaling ({"rope_type": "default"} is plain RoPE).
  if (field.raw('rope_scaling') !== undefined && field.raw('rope_scaling') !== null) sets.push(field.object('rope_scaling'));
  // transformers 5: one object, or one per layer type when its keys are all layer types.
  if (field.raw('rope_parameters') !== undefined && field.raw('rope_parameters') !== null) {
    const parameters = field.object('rope_parameters');
    const layerTypes = field.raw('layer_types');
    const keys = parameters.keys();
    const perLayerType = Array.isArray(layerTypes) && keys.length > 0 && keys.every((k) => layerTypes.includes(k));
    sets.push(...(perLayerType ? keys.map((k) => parameters.object(k)) : [parameters]));
  }
  let first: { value: number; where: string } | undefined;
  for (const set of sets) {
    if (set !== field) plainRope(set);
    if (!set.has('rope_theta')) continue;
    const value = set.positive('rope_theta', LLAMA_DEFAULT_ROPE_THETA);
    if (first !== undefined && value !== first.value) {
      set.fail(
        'rope_theta',
        `${value}, but ${first.where} is ${first.value}`,
        'one θ: transformers 4 reads the top-level rope_theta, transformers 5 the one in rope_parameters, and this engine runs one RoPE for every layer; keep one of them',
      );
    }
    first ??= { value, where: set.path('rope_theta') };
  }
  return first?.value ?? LLAMA_DEFAULT_ROPE_THETA;
}

/** A RoPE settings object (rope_scaling, rope_parameters) that asks for plain RoPE over whole heads. */
function plainRope(set: ConfigFields): void {
  // standardize_rope_params: rope_type, else the legacy "type", else "default".
  const name = set.has('rope_type') ? 'rope_type' : 'type';
  set.expect(name, ['default'], 'default', `this engine implements plain RoPE only, none of ${SCALED_ROPE_TYPES}`);
  set.expect('partial_rotary_factor', [1], 1);
}

/** transformers' layer_types, when given, must make every layer full attention (no sliding windows). */
function onlyFullAttention(field: ConfigFields, layers: number): void {
  const types = field.raw('layer_types');
  if (types === undefined || types === null) return;
  if (!Array.isArray(types) || types.length !== layers) {
    field.fail('layer_types', describeJson(types), `a list of ${layers} layer types (num_hidden_layers)`);
  }
  const other = types.findIndex((t) => t !== 'full_attention');
  if (other >= 0) {
    field.fail('layer_types', `${describeJson(types[other])} at layer ${other}`, '"full_attention" for every layer; this engine implements no sliding-window attention');
  }
}

/** Typed reads of config.json's fields; each failure names the field and what it should be. */
class ConfigFields {
  constructor(
    private readonly json: Record<string, unknown>,
    private readonly failIn: Fail,
    /** The object's own path in config.json, e.g. "rope_parameters." ('' at the top). */
    private readonly prefix = '',
  ) {}

  /** The field's path as messages give it: "rope_parameters.rope_type". */
  path(name: string): string {
    return `${this.prefix}${name}`;
  }

  keys(): string[] {
    return Object.keys(this.json);
  }

  /** A nested object's fields. */
  object(name: string): ConfigFields {
    const v = this.json[name];
    if (!isPlainObject(v)) this.fail(name, describeJson(v), 'an object');
    return new ConfigFields(v, this.failIn, `${this.path(name)}.`);
  }

  has(name: string): boolean {
    return this.json[name] !== undefined;
  }

  raw(name: string): unknown {
    return this.json[name];
  }

  fail(name: string, found: string, expected: string): never {
    return this.failIn(`field "${this.path(name)}"`, found, expected);
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
  expect(name: string, allowed: unknown[], absentMeans: unknown, why = 'this engine implements no other'): void {
    const v = this.json[name];
    if (v === undefined || allowed.includes(v)) return;
    const wanted = allowed.map((a) => JSON.stringify(a)).join(' or ');
    this.fail(name, describeJson(v), `${wanted} (absent means ${JSON.stringify(absentMeans)}); ${why}`);
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
