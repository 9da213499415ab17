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
