// Tiny Hugging Face checkpoints made in the tests: config.json, random weights in the family's
// real tensor names and shapes (values k/64, exact in F32, F16 and BF16), and a byte-level BPE
// tokenizer.json with a handful of merges. Nothing here touches the network or large files.

import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ModelConfig } from '../../src/model/config';
import { expectedWeights } from '../../src/model/names';
import { writeSafetensors, type SafetensorsFloatDtype, type SafetensorsTensorInput } from '../../src/io/safetensors';
import { FormatError } from '../../src/io/errors';
import { Rng } from '../../src/util/rng';

export const VOCAB_SIZE = 272;

export const LLAMA_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: VOCAB_SIZE,
  hidden_size: 16,
  intermediate_size: 40,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  rope_scaling: null,
  hidden_act: 'silu',
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'bfloat16',
};

export const QWEN2_CONFIG = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  vocab_size: VOCAB_SIZE,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  sliding_window: 128,
  use_sliding_window: false,
  max_window_layers: 3,
  hidden_act: 'silu',
  tie_word_embeddings: false,
  bos_token_id: 0,
  eos_token_id: 2,
};

export const GPT2_CONFIG = {
  architectures: ['GPT2LMHeadModel'],
  model_type: 'gpt2',
  vocab_size: VOCAB_SIZE,
  n_embd: 16,
  n_layer: 2,
  n_head: 4,
  n_positions: 32,
  n_ctx: 32,
  n_inner: null,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  bos_token_id: 0,
  eos_token_id: 0,
};

/** Every weight of the config, values k/64 with k in [−64, 64]. */
export function randomWeights(config: ModelConfig, seed: number): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of expectedWeights(config)) {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.floor(rng.uniform(-64, 65)) / 64);
    out.set(name, { shape, data });
  }
  return out;
}

export function tensorsOf(
  weights: Map<string, { shape: number[]; data: Float32Array }>,
  dtype: SafetensorsFloatDtype,
  rename: (name: string) => string = (n) => n,
): SafetensorsTensorInput[] {
  return [...weights].map(([name, w]) => ({ name: rename(name), dtype, shape: w.shape, data: w.data }));
}

/** The tensors split into `shards` files, with the index that lists them. */
export function shardedFiles(tensors: SafetensorsTensorInput[], shards: number): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let s = 0; s < shards; s++) {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.filter((_, i) => i % shards === s);
    files[name] = writeSafetensors(part, { format: 'pt' });
    for (const t of part) {
      weightMap[t.name] = name;
      totalSize += t.data.length * (t.dtype === 'F32' ? 4 : 2);
    }
  }
  files['model.safetensors.index.json'] = jsonBytes({ metadata: { total_size: totalSize }, weight_map: weightMap });
  return files;
}

export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2));
}

// ---------------------------------------------------------------------------------------------
// A byte-level BPE tokenizer.json (the GPT-2 / SmolLM2 / Qwen2 kind), tiny.

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards. */
function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
/** Merged pieces the tiny tokenizer knows, in merge order (Ġ is the byte-level space). */
const MERGES: [string, string][] = [
  ['h', 'e'],
  ['l', 'l'],
  ['he', 'll'],
  ['hell', 'o'],
  ['Ġ', 'w'],
  ['o', 'r'],
  ['Ġw', 'or'],
  ['Ġwor', 'l'],
  ['Ġworl', 'd'],
];

/** ids: the 3 special tokens, the 256 byte pieces, then one per merge (268 tokens). */
export function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (vocab[t] = i));
  for (const piece of byteLevelAlphabet()) vocab[piece] = Object.keys(vocab).length;
  for (const [a, b] of MERGES) vocab[a + b] = Object.keys(vocab).length;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: MERGES.map(([a, b]) => `${a} ${b}`),
    },
  };
}

export function tinyTokenizerConfig(bos: string | null, eos: string | null): Record<string, unknown> {
  return { add_prefix_space: false, bos_token: bos, eos_token: eos, clean_up_tokenization_spaces: false, model_max_length: 64 };
}

// ---------------------------------------------------------------------------------------------
// Folders and errors

export async function tempFolder(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `d2lora-${prefix}-`));
}

export async function writeFolder(folder: string, files: Record<string, Uint8Array>): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(folder, name), bytes);
}

/** The FormatError the promise rejects with (failing the test on success or another error). */
export async function formatErrorOf(promise: Promise<unknown>): Promise<FormatError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError, but loading succeeded');
}
