// The model-size checks of src/model/model-size.ts: the parameter count (against the weights the
// loaders expect), and whether a model's largest buffer fits a device's limits, with messages in
// the config file's own field names.

import { describe, expect, it } from 'vitest';
import { hfConfigSource, parseHfConfig } from '../../src/io/hf-config';
import { LLAMA2C_CONFIG_SOURCE_FIELDS } from '../../src/io/llama2c';
import type { ModelConfig } from '../../src/model/config';
import { checkModelFitsDevice, DeviceLimitError, parameterCounts, type ConfigSource, type DeviceBufferLimits } from '../../src/model/model-size';
import { expectedWeights } from '../../src/model/names';
import { GPT2_CONFIG, jsonBytes, LLAMA_CONFIG, QWEN2_CONFIG } from './hf-fixtures';
import { STORIES260K_CONFIG } from './mirror';

/** WebGPU's default limits, what a device gets when the adapter offers no more. */
const WEBGPU_DEFAULTS: DeviceBufferLimits = { maxBufferSize: 268_435_456, maxStorageBufferBindingSize: 134_217_728 };

const hf = (json: object): { config: ModelConfig; source: ConfigSource } => {
  const config = parseHfConfig(jsonBytes(json), 'config.json');
  return { config, source: hfConfigSource(config.family, 'config.json') };
};

/** Qwen2.5-0.5B's shape (its config.json's sizes) on the tiny fixture's other fields. */
const QWEN25_05B = {
  ...QWEN2_CONFIG,
  vocab_size: 151936,
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  max_position_embeddings: 32768,
  tie_word_embeddings: true,
};

function deviceError(run: () => void): string {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(DeviceLimitError);
    return (e as Error).message;
  }
  throw new Error('expected a DeviceLimitError');
}

describe('parameterCounts', () => {
  it('counts exactly the weights the loaders expect', () => {
    const configs = [LLAMA_CONFIG, QWEN2_CONFIG, GPT2_CONFIG, QWEN25_05B].map((json) => hf(json).config);
    for (const c of [...configs, STORIES260K_CONFIG]) {
      const counted = [...expectedWeights(c).values()].reduce((n, shape) => n + shape.reduce((a, b) => a * b, 1), 0);
      expect(parameterCounts(c).total).toBe(counted);
    }
    // Qwen2.5-0.5B: 494,032,768 parameters, as its model card and transformers count them.
    expect(parameterCounts(hf(QWEN25_05B).config).total).toBe(494_032_768);
  });
});

describe('checkModelFitsDevice', () => {
  it('passes models whose every buffer fits', () => {
    const stories: ConfigSource = { file: 'stories260K.bin', fieldKind: 'header field', fields: LLAMA2C_CONFIG_SOURCE_FIELDS };
    checkModelFitsDevice(STORIES260K_CONFIG, stories, WEBGPU_DEFAULTS);
    const { config, source } = hf(QWEN25_05B);
    checkModelFitsDevice(config, source, { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 31 });
  });

  it("names the embedding table's fields when it is over the device's binding size", () => {
    const { config, source } = hf(QWEN25_05B);
    expect(deviceError(() => checkModelFitsDevice(config, source, WEBGPU_DEFAULTS))).toBe(
      'config.json: this device allows at most 134217728 bytes per buffer (maxStorageBufferBindingSize); the embedding table vocab_size × hidden_size ' +
        '(151936 × 896 f32) needs 544538624. Use a GPU or browser that allows larger buffers, or a model with a smaller vocab_size or hidden_size',
    );
  });

  it('says how far to lower the context when the RoPE table is what does not fit', () => {
    const { config, source } = hf({ ...LLAMA_CONFIG, max_position_embeddings: 4_194_304, head_dim: 128, hidden_size: 512, num_attention_heads: 4 });
    const limits = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 31 };
    expect(deviceError(() => checkModelFitsDevice(config, source, limits))).toBe(
      'config.json: this device allows at most 1073741824 bytes per buffer (maxBufferSize); the RoPE table max_position_embeddings × head_dim ' +
        '(4194304 × 128 f32) needs 2147483648. Use a GPU or browser that allows larger buffers, or lower max_position_embeddings in config.json ' +
        "to at most 2097152 (a run uses only its longest sequence's positions)",
    );
  });

  it("speaks GPT-2's and llama2.c's names, and lists the other buffers that do not fit", () => {
    const gpt2 = hf({ ...GPT2_CONFIG, n_embd: 4096, n_head: 32, n_positions: 65536 });
    expect(deviceError(() => checkModelFitsDevice(gpt2.config, gpt2.source, WEBGPU_DEFAULTS))).toBe(
      'config.json: this device allows at most 134217728 bytes per buffer (maxStorageBufferBindingSize); the position embedding table n_positions × n_embd ' +
        '(65536 × 4096 f32) needs 1073741824 (and an MLP weight, the fused q/k/v weight (c_attn) too). Use a GPU or browser that allows larger buffers, ' +
        'or a model with fewer n_positions (its learned positions cannot be cut in the config)',
    );
    const stories: ConfigSource = { file: 'stories260K.bin', fieldKind: 'header field', fields: LLAMA2C_CONFIG_SOURCE_FIELDS };
    expect(deviceError(() => checkModelFitsDevice(STORIES260K_CONFIG, stories, { maxBufferSize: 16000, maxStorageBufferBindingSize: 16000 }))).toBe(
      'stories260K.bin: this device allows at most 16000 bytes per buffer (maxStorageBufferBindingSize); the embedding table vocab_size × dim ' +
        '(512 × 64 f32) needs 131072 (and an MLP weight, the query and output weights, the RoPE table too). Use a GPU or browser that allows larger buffers, ' +
        'or a model with a smaller vocab_size or dim',
    );
  });
});
