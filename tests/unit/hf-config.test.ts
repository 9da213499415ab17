import { describe, it, expect } from 'vitest';
import { FormatError } from '../../src/io/errors';
import { hfConfigJson, parseHfConfig } from '../../src/io/hf-config';
import { GPT2_CONFIG, jsonBytes, LLAMA_CONFIG, QWEN2_CONFIG } from './hf-fixtures';

const parse = (json: unknown) => parseHfConfig(jsonBytes(json), 'config.json');

function thrown(make: () => unknown): FormatError {
  try {
    make();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError');
}

describe('config.json → ModelConfig', () => {
  it('reads a llama config (SmolLM2-like: tied, GQA)', () => {
    expect(parse(LLAMA_CONFIG)).toEqual({
      family: 'llama',
      vocabSize: 272,
      hiddenSize: 16,
      intermediateSize: 40,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 4,
      maxPositions: 64,
      normEps: 1e-5,
      ropeTheta: 100000,
      ropeStyle: 'half',
      tiedEmbeddings: true,
      attentionBias: false,
      bosTokenId: 1,
      eosTokenId: 2,
    });
  });

  it('applies transformers defaults: kv heads = heads, head_dim = hidden / heads, θ 10000, untied', () => {
    const { num_key_value_heads: _kv, rope_theta: _theta, tie_word_embeddings: _tie, rms_norm_eps: _eps, bos_token_id: _b, ...rest } = LLAMA_CONFIG;
    const c = parse(rest);
    expect([c.numKvHeads, c.headDim, c.ropeTheta, c.tiedEmbeddings, c.normEps, c.bosTokenId]).toEqual([4, 4, 10000, false, 1e-6, null]);
    expect(parse({ ...LLAMA_CONFIG, head_dim: 8 }).headDim).toBe(8);
    expect(parse({ ...LLAMA_CONFIG, eos_token_id: [7, 8] }).eosTokenId).toBe(7);
  });

  it('reads qwen2 with q/k/v biases', () => {
    const c = parse(QWEN2_CONFIG);
    expect(c).toMatchObject({ family: 'qwen2', attentionBias: true, tiedEmbeddings: false, numKvHeads: 1, headDim: 4, ropeTheta: 1e6, ropeStyle: 'half' });
  });

  it('reads gpt2: n_inner defaults to 4·n_embd, always tied, biases everywhere', () => {
    const c = parse(GPT2_CONFIG);
    expect(c).toMatchObject({
      family: 'gpt2',
      hiddenSize: 16,
      intermediateSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 4,
      maxPositions: 32,
      normEps: 1e-5,
      tiedEmbeddings: true,
      attentionBias: true,
      bosTokenId: 0,
      eosTokenId: 0,
    });
    expect(parse({ ...GPT2_CONFIG, n_inner: 48 }).intermediateSize).toBe(48);
  });

  it('names config.json and the field in every error', () => {
    const { hidden_size: _h, ...noHidden } = LLAMA_CONFIG;
    expect(thrown(() => parse(noHidden)).message).toBe('config.json: field "hidden_size": nothing; expected a positive integer');
    expect(thrown(() => parse({ ...LLAMA_CONFIG, model_type: 'mistral' })).message).toBe(
      'config.json: field "model_type": string "mistral"; expected "llama", "qwen2" or "gpt2"',
    );
    expect(thrown(() => parse({ ...LLAMA_CONFIG, num_key_value_heads: 3 })).message).toBe(
      'config.json: field "num_attention_heads": 4; expected a multiple of num_key_value_heads (3)',
    );
    expect(thrown(() => parse({ ...LLAMA_CONFIG, rope_scaling: { rope_type: 'llama3', factor: 8 } })).message).toBe(
      'config.json: field "rope_scaling.rope_type": string "llama3"; expected "default" (absent means "default"); ' +
        'this engine implements plain RoPE only, none of linear, dynamic, yarn, longrope or llama3',
    );
    expect(thrown(() => parse({ ...LLAMA_CONFIG, attention_bias: true })).message).toContain('field "attention_bias"');
    expect(thrown(() => parse({ ...QWEN2_CONFIG, use_sliding_window: true })).message).toContain('field "use_sliding_window"');
    expect(thrown(() => parse({ ...GPT2_CONFIG, activation_function: 'relu' })).message).toContain('field "activation_function": string "relu"');
    expect(thrown(() => parse({ ...GPT2_CONFIG, n_embd: 18 })).message).toBe('config.json: field "n_embd": 18; expected a multiple of n_head (4)');
    expect(thrown(() => parse({ ...LLAMA_CONFIG, rms_norm_eps: -1 })).message).toBe('config.json: field "rms_norm_eps": number -1; expected a number > 0');
    expect(thrown(() => parse([1])).message).toBe('config.json: JSON an array; expected a JSON object');
  });
});

// config.json as transformers saves it, for a tiny Qwen2 (θ = 10⁶) and Llama (θ = 10⁵), keys
// sorted as PreTrainedConfig.to_json_string writes them. transformers 4.57 keeps rope_theta and
// rope_scaling at the top level (huggingface/transformers, src/transformers/models/qwen2/
// configuration_qwen2.py); transformers 5 moves both into rope_parameters and saves dtype instead
// of torch_dtype (src/transformers/configuration_utils.py, PreTrainedConfig.__post_init__ →
// RotaryEmbeddingConfigMixin.convert_rope_params_to_dict / standardize_rope_params in
// src/transformers/modeling_rope_utils.py).
const QWEN2_COMMON = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 0,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 16,
  initializer_range: 0.02,
  intermediate_size: 24,
  layer_types: ['full_attention', 'full_attention', 'full_attention'],
  max_position_embeddings: 128,
  max_window_layers: 3,
  model_type: 'qwen2',
  num_attention_heads: 4,
  num_hidden_layers: 3,
  num_key_value_heads: 1,
  rms_norm_eps: 1e-6,
  sliding_window: null,
  tie_word_embeddings: false,
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 272,
};
const QWEN2_V4 = { ...QWEN2_COMMON, rope_scaling: null, rope_theta: 1000000.0, torch_dtype: 'float32', transformers_version: '4.57.1' };
const QWEN2_V5 = { ...QWEN2_COMMON, dtype: 'float32', pad_token_id: null, rope_parameters: { rope_theta: 1000000.0, rope_type: 'default' }, transformers_version: '5.17.0' };
const LLAMA_COMMON = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 1,
  eos_token_id: 2,
  head_dim: 4,
  hidden_act: 'silu',
  hidden_size: 16,
  initializer_range: 0.02,
  intermediate_size: 40,
  max_position_embeddings: 64,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 2,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: true,
  use_cache: true,
  vocab_size: 272,
};
const LLAMA_V4 = { ...LLAMA_COMMON, rope_scaling: null, rope_theta: 100000.0, torch_dtype: 'bfloat16', transformers_version: '4.57.1' };
const LLAMA_V5 = { ...LLAMA_COMMON, dtype: 'bfloat16', rope_parameters: { rope_theta: 100000.0, rope_type: 'default' }, transformers_version: '5.17.0' };
const without = <T extends object>(json: T, key: keyof T) => Object.fromEntries(Object.entries(json).filter(([k]) => k !== key));

describe('both generations of config.json: transformers 4 and 5', () => {
  it('reads the same model from either generation', () => {
    const qwen = parse(QWEN2_V4);
    expect(qwen).toMatchObject({ family: 'qwen2', ropeTheta: 1e6, numLayers: 3, headDim: 4 });
    expect(parse(QWEN2_V5)).toEqual(qwen);
    const llama = parse(LLAMA_V4);
    expect(llama).toMatchObject({ family: 'llama', ropeTheta: 1e5 });
    expect(parse(LLAMA_V5)).toEqual(llama);
    expect(llama).toEqual(parse(LLAMA_CONFIG));
  });

  it('applies transformers 5 defaults and legacy spellings: θ 10000, "type" for rope_type, one dict per layer type', () => {
    expect(parse({ ...QWEN2_V5, rope_parameters: { rope_type: 'default' } }).ropeTheta).toBe(10000);
    expect(parse({ ...QWEN2_V5, rope_parameters: { type: 'default', rope_theta: 5e5 } }).ropeTheta).toBe(5e5);
    expect(parse({ ...QWEN2_V5, rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 2e5 } } }).ropeTheta).toBe(2e5);
    // transformers 4 accepted rope_scaling {"rope_type": "default"} as plain RoPE.
    expect(parse({ ...QWEN2_V4, rope_scaling: { rope_type: 'default' } }).ropeTheta).toBe(1e6);
  });

  it('refuses every RoPE scaling type by name, in either generation', () => {
    const expected = 'expected "default" (absent means "default"); this engine implements plain RoPE only, none of linear, dynamic, yarn, longrope or llama3';
    const llama3 = { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' };
    expect(thrown(() => parse({ ...LLAMA_V4, rope_scaling: llama3 })).message).toBe(`config.json: field "rope_scaling.rope_type": string "llama3"; ${expected}`);
    expect(thrown(() => parse({ ...LLAMA_V5, rope_parameters: { ...llama3, rope_theta: 500000.0 } })).message).toBe(
      `config.json: field "rope_parameters.rope_type": string "llama3"; ${expected}`,
    );
    // Qwen2.5's long-context recipe, with the legacy "type" key.
    expect(thrown(() => parse({ ...QWEN2_V4, rope_scaling: { type: 'yarn', factor: 4.0, original_max_position_embeddings: 32768 } })).message).toBe(
      `config.json: field "rope_scaling.type": string "yarn"; ${expected}`,
    );
    expect(thrown(() => parse({ ...QWEN2_V4, rope_scaling: { type: 'linear', factor: 2.0 } })).message).toBe(`config.json: field "rope_scaling.type": string "linear"; ${expected}`);
    expect(thrown(() => parse({ ...QWEN2_V5, rope_parameters: { rope_type: 'dynamic', factor: 2.0, rope_theta: 1e6 } })).message).toBe(
      `config.json: field "rope_parameters.rope_type": string "dynamic"; ${expected}`,
    );
    expect(thrown(() => parse({ ...QWEN2_V5, rope_parameters: { full_attention: { rope_type: 'yarn', factor: 4.0 } } })).message).toBe(
      `config.json: field "rope_parameters.full_attention.rope_type": string "yarn"; ${expected}`,
    );
  });

  it('refuses partial RoPE, disagreeing θs, sliding-window layers and a rope_parameters that is no object', () => {
    expect(thrown(() => parse({ ...LLAMA_V5, rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.5 } })).message).toBe(
      'config.json: field "rope_parameters.partial_rotary_factor": number 0.5; expected 1 (absent means 1); this engine implements no other',
    );
    expect(thrown(() => parse({ ...LLAMA_V4, partial_rotary_factor: 0.25 })).message).toContain('field "partial_rotary_factor": number 0.25; expected 1');
    expect(thrown(() => parse({ ...QWEN2_V5, rope_theta: 10000 })).message).toBe(
      'config.json: field "rope_parameters.rope_theta": 1000000, but rope_theta is 10000; expected one θ: transformers 4 reads the top-level rope_theta, ' +
        'transformers 5 the one in rope_parameters, and this engine runs one RoPE for every layer; keep one of them',
    );
    const twoThetas = { full_attention: { rope_type: 'default', rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } };
    expect(thrown(() => parse({ ...QWEN2_V5, layer_types: ['full_attention', 'sliding_attention', 'full_attention'], rope_parameters: twoThetas })).message).toContain(
      'field "rope_parameters.sliding_attention.rope_theta": 10000, but rope_parameters.full_attention.rope_theta is 1000000',
    );
    expect(thrown(() => parse({ ...QWEN2_V4, layer_types: ['full_attention', 'full_attention', 'sliding_attention'] })).message).toBe(
      'config.json: field "layer_types": string "sliding_attention" at layer 2; expected "full_attention" for every layer; this engine implements no sliding-window attention',
    );
    expect(thrown(() => parse({ ...QWEN2_V4, layer_types: ['full_attention'] })).message).toBe(
      'config.json: field "layer_types": an array; expected a list of 3 layer types (num_hidden_layers)',
    );
    expect(thrown(() => parse({ ...without(QWEN2_V5, 'rope_parameters'), rope_parameters: 1e6 })).message).toBe(
      'config.json: field "rope_parameters": number 1000000; expected an object',
    );
  });
});

describe('config.json sizes: an absurd model is refused at once, naming the field', () => {
  it('refuses 10⁸ layers and 2⁴⁰ positions before anything is allocated', () => {
    const t0 = performance.now();
    expect(thrown(() => parse({ ...LLAMA_V5, num_hidden_layers: 100_000_000 })).message).toBe(
      'config.json: field "num_hidden_layers": 100000000; expected at most 1024, far more than any published model has; a larger value means a broken config',
    );
    expect(thrown(() => parse({ ...QWEN2_V5, max_position_embeddings: 2 ** 40 })).message).toBe(
      'config.json: field "max_position_embeddings": 1099511627776; expected at most 4194304, far more than any published model has; a larger value means a broken config',
    );
    expect(thrown(() => parse({ ...GPT2_CONFIG, n_positions: 2 ** 40 })).message).toContain('field "n_positions": 1099511627776; expected at most 4194304');
    expect(thrown(() => parse({ ...LLAMA_V4, vocab_size: 2 ** 31 })).message).toContain('field "vocab_size": 2147483648; expected at most 1048576');
    expect(thrown(() => parse({ ...LLAMA_V4, hidden_size: 2 ** 20, head_dim: 4 })).message).toContain('field "hidden_size": 1048576; expected at most 65536');
    expect(thrown(() => parse({ ...LLAMA_V4, intermediate_size: 2 ** 30 })).message).toContain('field "intermediate_size"');
    expect(thrown(() => parse({ ...LLAMA_V4, num_attention_heads: 4096, num_key_value_heads: 4096, head_dim: 4 })).message).toContain('field "num_attention_heads": 4096');
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it('refuses a parameter count past 10¹⁰ from fields that are each plausible', () => {
    // 1000 layers of a Llama-405B-wide block: 1000 × (2·16384² + 2·16384·1024 + 3·16384·53248 + 2·16384) parameters and more.
    const huge = { ...LLAMA_V5, num_hidden_layers: 1000, hidden_size: 16384, intermediate_size: 53248, num_attention_heads: 128, num_key_value_heads: 8, head_dim: 128 };
    const perLayer = 2 * 16384 ** 2 + 2 * 16384 * 1024 + 3 * 16384 * 53248 + 2 * 16384;
    const outside = 272 * 16384 + 16384;
    expect(thrown(() => parse(huge)).message).toBe(
      `config.json: a model of ${(outside + 1000 * perLayer).toExponential(2)} parameters (num_hidden_layers 1000 × ${perLayer} per layer, ${outside} in the embeddings and the final norm); ` +
        'expected at most 1e+10 parameters, 40 GB in f32 on the host and again on the GPU (check num_hidden_layers, hidden_size, intermediate_size and vocab_size)',
    );
    // Qwen2.5-0.5B itself is far inside every bound.
    const qwen05 = { ...QWEN2_V5, hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, max_position_embeddings: 32768, vocab_size: 151936 };
    qwen05.layer_types = Array(24).fill('full_attention');
    expect(parse(qwen05).numLayers).toBe(24);
  });
});

describe('ModelConfig → config.json', () => {
  it('round-trips llama, qwen2 and gpt2 configs through the parser', () => {
    for (const json of [LLAMA_CONFIG, QWEN2_CONFIG, GPT2_CONFIG]) {
      const config = parse(json);
      expect(parseHfConfig(new TextEncoder().encode(hfConfigJson(config)), 'out/config.json')).toEqual(config);
    }
  });

  it('writes the fields transformers reads for each architecture', () => {
    const llama = JSON.parse(hfConfigJson(parse(LLAMA_CONFIG), 'bfloat16'));
    expect(llama).toMatchObject({ architectures: ['LlamaForCausalLM'], model_type: 'llama', head_dim: 4, attention_bias: false, torch_dtype: 'bfloat16' });
    const qwen = JSON.parse(hfConfigJson(parse(QWEN2_CONFIG)));
    expect(qwen).toMatchObject({ architectures: ['Qwen2ForCausalLM'], use_sliding_window: false, tie_word_embeddings: false });
    expect(qwen.head_dim).toBeUndefined();
    const gpt2 = JSON.parse(hfConfigJson(parse(GPT2_CONFIG)));
    expect(gpt2).toMatchObject({ architectures: ['GPT2LMHeadModel'], n_embd: 16, n_inner: 64, n_positions: 32, tie_word_embeddings: true });
  });

  it('refuses to write interleaved RoPE as a Hugging Face llama', () => {
    expect(() => hfConfigJson({ ...parse(LLAMA_CONFIG), ropeStyle: 'interleaved' })).toThrow(/ropeStyle "interleaved"/);
  });
});
