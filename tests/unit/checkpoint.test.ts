import { describe, it, expect, beforeAll } from 'vitest';
import {
  llama2cModelConfig,
  readHfWeights,
  readLlama2cModel,
  toHfLlamaFromLlama2c,
  type CheckpointFiles,
} from '../../src/io/checkpoint';
import { hfConfigJson, parseHfConfig } from '../../src/io/hf-config';
import { permuteQKForHalfRope } from '../../src/io/llama2c';
import { readFileBytes } from '../../src/io/node-files';
import { writeSafetensors, type SafetensorsTensorInput } from '../../src/io/safetensors';
import type { ModelConfig } from '../../src/model/config';
import { expectedWeights } from '../../src/model/names';
import { formatErrorOf, GPT2_CONFIG, jsonBytes, LLAMA_CONFIG, QWEN2_CONFIG, randomWeights, shardedFiles, tensorsOf } from './hf-fixtures';
import { mirrorPath, STORIES260K_CONFIG } from './mirror';

/** A checkpoint held in memory: names are their own labels. */
function memoryFiles(files: Record<string, Uint8Array>): CheckpointFiles {
  return { read: async (name) => files[name] ?? null, label: (name) => name };
}

const parseConfig = (json: unknown): ModelConfig => parseHfConfig(jsonBytes(json), 'config.json');

/** The header text of a .safetensors file with `from` replaced by `to` (same length: offsets stay valid). */
function patchHeader(file: Uint8Array, from: string, to: string): Uint8Array {
  expect(to.length).toBe(from.length);
  const headerLength = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const header = new TextDecoder().decode(file.subarray(8, 8 + headerLength));
  expect(header).toContain(from);
  const out = file.slice();
  out.set(new TextEncoder().encode(header.replace(from, to)), 8);
  return out;
}

describe('Hugging Face safetensors checkpoints', () => {
  const llama = parseConfig(LLAMA_CONFIG);
  const llamaWeights = randomWeights(llama, 1);

  it('reads a single model.safetensors (BF16) as f32, every tensor in its config shape', async () => {
    const files = memoryFiles({ 'model.safetensors': writeSafetensors(tensorsOf(llamaWeights, 'BF16')) });
    const { weights, warnings } = await readHfWeights(llama, files);
    expect(warnings).toEqual([]);
    expect([...weights.keys()].sort()).toEqual([...expectedWeights(llama).keys()].sort());
    for (const [name, w] of llamaWeights) {
      expect(weights.get(name)!.shape).toEqual(w.shape);
      expect(weights.get(name)!.data).toEqual(w.data);
    }
  });

  it('reads a sharded qwen2 checkpoint (F16) through model.safetensors.index.json', async () => {
    const qwen = parseConfig(QWEN2_CONFIG);
    const qwenWeights = randomWeights(qwen, 2);
    expect(qwenWeights.has('model.layers.2.self_attn.k_proj.bias')).toBe(true);
    expect(qwenWeights.has('lm_head.weight')).toBe(true);
    const { weights } = await readHfWeights(qwen, memoryFiles(shardedFiles(tensorsOf(qwenWeights, 'F16'), 3)));
    for (const [name, w] of qwenWeights) expect(weights.get(name)!.data, name).toEqual(w.data);
  });

  it('reads GPT-2 with the transformer. prefix, skipping attention-mask buffers', async () => {
    const gpt2 = parseConfig(GPT2_CONFIG);
    const gpt2Weights = randomWeights(gpt2, 3);
    const tensors = tensorsOf(gpt2Weights, 'F32', (n) => `transformer.${n}`);
    const buffers: SafetensorsTensorInput[] = [0, 1].flatMap((i) => [
      { name: `transformer.h.${i}.attn.bias`, dtype: 'F32', shape: [1, 1, 32, 32], data: new Float32Array(32 * 32) },
      { name: `transformer.h.${i}.attn.masked_bias`, dtype: 'F32', shape: [], data: Float32Array.of(-1e4) },
    ]);
    const { weights, warnings } = await readHfWeights(gpt2, memoryFiles({ 'model.safetensors': writeSafetensors([...tensors, ...buffers]) }));
    expect(warnings).toEqual([]);
    expect(weights.get('h.1.attn.c_attn.weight')!.shape).toEqual([16, 48]);
    for (const [name, w] of gpt2Weights) expect(weights.get(name)!.data, name).toEqual(w.data);
  });

  it('lists unknown tensors and a tied lm_head as warnings', async () => {
    const tensors = tensorsOf(llamaWeights, 'F32');
    const embedding = llamaWeights.get('model.embed_tokens.weight')!;
    const extra: SafetensorsTensorInput[] = [
      { name: 'lm_head.weight', dtype: 'F32', shape: embedding.shape, data: embedding.data },
      { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'F32', shape: [2], data: Float32Array.of(1, 0.01) },
    ];
    const { weights, warnings } = await readHfWeights(llama, memoryFiles({ 'model.safetensors': writeSafetensors([...tensors, ...extra]) }));
    expect(weights.has('lm_head.weight')).toBe(false);
    expect(warnings).toEqual([
      'model.safetensors: tensor "model.layers.0.self_attn.rotary_emb.inv_freq" is not a llama weight; ignored',
      'model.safetensors: tensor "lm_head.weight" is the same as model.embed_tokens.weight; ignored (tie_word_embeddings)',
    ]);
    const otherHead = { ...extra[0], data: embedding.data.map((v) => -v) };
    const differs = await readHfWeights(llama, memoryFiles({ 'model.safetensors': writeSafetensors([...tensors, otherHead]) }));
    expect(differs.warnings).toEqual([
      'model.safetensors: tensor "lm_head.weight" is DIFFERENT from model.embed_tokens.weight; ignored (tie_word_embeddings)',
    ]);
  });

  describe('bad checkpoints: errors name the file, the tensor and what was expected', () => {
    let good: Uint8Array;
    beforeAll(() => {
      good = writeSafetensors(tensorsOf(llamaWeights, 'F32'));
    });
    const single = (bytes: Uint8Array) => readHfWeights(llama, memoryFiles({ 'model.safetensors': bytes }));

    it('a missing tensor', async () => {
      const tensors = tensorsOf(llamaWeights, 'F32').filter((t) => t.name !== 'model.layers.1.mlp.up_proj.weight');
      const e = await formatErrorOf(single(writeSafetensors(tensors)));
      expect(e.message).toBe(
        'model.safetensors: tensor "model.layers.1.mlp.up_proj.weight": not present; expected shape [40, 16] for the model config.json describes',
      );
    });

    it('a shape that disagrees with config.json', async () => {
      // Written for 4 KV heads; config.json says 2.
      const fourKv = randomWeights(parseConfig({ ...LLAMA_CONFIG, num_key_value_heads: 4 }), 4);
      const e = await formatErrorOf(single(writeSafetensors(tensorsOf(fourKv, 'F32'))));
      expect(e.message).toBe('model.safetensors: tensor "model.layers.0.self_attn.k_proj.weight": shape [16, 16]; expected [8, 16] as config.json implies');
    });

    it('a truncated shard', async () => {
      const files = shardedFiles(tensorsOf(llamaWeights, 'F32'), 2);
      const shard = 'model-00002-of-00002.safetensors';
      files[shard] = files[shard].subarray(0, files[shard].length - 10);
      const e = await formatErrorOf(readHfWeights(llama, memoryFiles(files)));
      expect(e.file).toBe(shard);
      expect(e.message).toMatch(
        /^model-00002-of-00002\.safetensors: \d+ bytes, 10 fewer than its header declares; expected \d+ bytes = 8 \(the header length\) \+ \d+ \(the header\) \+ \d+ \(the tensors' data, up to the end of tensor "[^"]+"\)$/,
      );
    });

    it('a shard the index lists but the folder lacks', async () => {
      const files = shardedFiles(tensorsOf(llamaWeights, 'F32'), 2);
      delete files['model-00001-of-00002.safetensors'];
      const e = await formatErrorOf(readHfWeights(llama, memoryFiles(files)));
      expect(e.message).toBe('model-00001-of-00002.safetensors: no such file; expected a shard that model.safetensors.index.json lists');
    });

    it('an unknown dtype, and a known one that is not a float', async () => {
      const unknown = await formatErrorOf(single(patchHeader(good, '"dtype":"F32"', '"dtype":"X32"')));
      expect(unknown.message).toMatch(/^model\.safetensors: tensor "[^"]+": dtype "X32"; expected one of BOOL, U8/);
      const integer = await formatErrorOf(single(patchHeader(good, '"model.norm.weight":{"dtype":"F32"', '"model.norm.weight":{"dtype":"I32"')));
      expect(integer.message).toBe('model.safetensors: tensor "model.norm.weight": dtype I32; expected F32, F16 or BF16');
    });

    it('a header length past the end of the file', async () => {
      const bytes = good.slice();
      new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
      const e = await formatErrorOf(single(bytes));
      expect(e.message).toBe(
        `model.safetensors: header length: ${bytes.length} bytes, but the file has only ${bytes.length - 8} bytes after the length field; expected a header that fits in the file`,
      );
    });

    it('overlapping data offsets', async () => {
      // Two tensors, the second starting inside the first.
      const header = JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } });
      const json = new TextEncoder().encode(header);
      const bytes = new Uint8Array(8 + json.length + 12);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
      bytes.set(json, 8);
      const e = await formatErrorOf(single(bytes));
      expect(e.message).toBe('model.safetensors: tensor "b": data offsets [4, 12) overlap tensor "a" ([0, 8)); expected non-overlapping ranges');
    });

    it('NaN and ±Infinity in F32, F16 and BF16, named by file, tensor and first index', async () => {
      /** The weights with `values` at the given flat indices of one tensor. */
      const spoiled = (name: string, values: Record<number, number>) => {
        const copy = new Map(llamaWeights);
        const data = llamaWeights.get(name)!.data.slice();
        for (const [i, v] of Object.entries(values)) data[Number(i)] = v;
        copy.set(name, { shape: llamaWeights.get(name)!.shape, data });
        return copy;
      };
      const expected = 'expected finite numbers (NaN and ±Infinity come from a training run that diverged, or from a damaged file)';
      const down = 'model.layers.1.mlp.down_proj.weight'; // (16, 40)
      for (const dtype of ['F32', 'F16', 'BF16'] as const) {
        const e = await formatErrorOf(single(writeSafetensors(tensorsOf(spoiled(down, { 45: NaN, 47: Infinity }), dtype))));
        expect([e.file, e.field], dtype).toEqual(['model.safetensors', `tensor "${down}"`]);
        expect(e.message, dtype).toBe(`model.safetensors: tensor "${down}": NaN at [1, 5] (index 45); 2 of its 640 values are NaN or infinite; ${expected}`);
      }
      const norm = await formatErrorOf(single(writeSafetensors(tensorsOf(spoiled('model.norm.weight', { 15: -Infinity }), 'F16'))));
      expect(norm.message).toBe(`model.safetensors: tensor "model.norm.weight": -Infinity at index 15; 1 of its 16 values is NaN or infinite; ${expected}`);
      // A finite F32 value beyond F16's range is written as Infinity, and refused as such.
      const big = await formatErrorOf(single(writeSafetensors(tensorsOf(spoiled('model.embed_tokens.weight', { 0: 1e5 }), 'F16'))));
      expect(big.message).toMatch(/^model\.safetensors: tensor "model\.embed_tokens\.weight": Infinity at \[0, 0\] \(index 0\); 1 of its 4352 values is NaN/);
      // Sharded: the shard that holds the tensor is named.
      const all = await formatErrorOf(readHfWeights(llama, memoryFiles(shardedFiles(tensorsOf(spoiled('model.layers.0.self_attn.o_proj.weight', Object.fromEntries(Array.from({ length: 256 }, (_, i) => [i, NaN]))), 'BF16'), 2))));
      expect(all.file).toMatch(/^model-0000[12]-of-00002\.safetensors$/);
      expect(all.message).toContain('tensor "model.layers.0.self_attn.o_proj.weight": NaN at [0, 0] (index 0); all 256 of its values are NaN or infinite;');
    });

    it('no weights at all', async () => {
      const e = await formatErrorOf(readHfWeights(llama, memoryFiles({})));
      expect(e.message).toBe('model.safetensors: no such file; expected the weights (or model.safetensors.index.json and its shards)');
    });
  });
});

describe('llama2.c checkpoints', () => {
  let files: CheckpointFiles;
  beforeAll(async () => {
    const bin = await readFileBytes(mirrorPath('models/stories260K/stories260K.bin'));
    const tok = await readFileBytes(mirrorPath('models/stories260K/tok512.bin'));
    files = memoryFiles({ 'stories260K.bin': bin, 'tok512.bin': tok });
  });

  it('reads stories260K with run.c constants, finding tok512.bin by the vocab size', async () => {
    const { config, weights, tokenizer, vocabulary } = await readLlama2cModel(files, 'stories260K.bin');
    expect(config).toEqual(STORIES260K_CONFIG);
    expect(vocabulary.name).toBe('tok512.bin');
    expect([...weights.keys()].sort()).toEqual([...expectedWeights(config).keys()].sort());
    expect(tokenizer.encode('Once upon a time', { bos: true })).toEqual([1, 403, 407, 261, 378]);
  });

  it('names the vocabulary it looked for when there is none', async () => {
    const bin = (await files.read('stories260K.bin'))!;
    const e = await formatErrorOf(readLlama2cModel(memoryFiles({ 'stories260K.bin': bin }), 'stories260K.bin'));
    expect(e.message).toBe('tok512.bin: no such file; expected the vocabulary of stories260K.bin (tok512.bin or tokenizer.bin, 512 tokens)');
  });

  it('converts to a Hugging Face Llama whose config.json round-trips through the parser', async () => {
    const { config, weights } = await readLlama2cModel(files, 'stories260K.bin');
    const hf = toHfLlamaFromLlama2c(config, weights);
    expect(hf.config).toEqual({ ...config, ropeStyle: 'half' });
    const q = weights.get('model.layers.2.self_attn.q_proj.weight')!;
    const k = weights.get('model.layers.2.self_attn.k_proj.weight')!;
    expect(hf.weights.get('model.layers.2.self_attn.q_proj.weight')!.data).toEqual(permuteQKForHalfRope(q.data, 8, 8, 64));
    expect(hf.weights.get('model.layers.2.self_attn.k_proj.weight')!.data).toEqual(permuteQKForHalfRope(k.data, 4, 8, 64));
    expect(hf.weights.get('model.layers.2.self_attn.v_proj.weight')).toBe(weights.get('model.layers.2.self_attn.v_proj.weight'));
    // Head 0, pair 1: interleaved rows 2, 3 become half rows 1, 5.
    const row = (w: Float32Array, r: number) => Array.from(w.subarray(r * 64, (r + 1) * 64));
    const permuted = hf.weights.get('model.layers.2.self_attn.q_proj.weight')!.data;
    expect(row(permuted, 1)).toEqual(row(q.data, 2));
    expect(row(permuted, 5)).toEqual(row(q.data, 3));

    const text = hfConfigJson(hf.config);
    expect(JSON.parse(text)).toMatchObject({ architectures: ['LlamaForCausalLM'], hidden_size: 64, num_key_value_heads: 4, rope_theta: 10000, tie_word_embeddings: true });
    expect(parseHfConfig(new TextEncoder().encode(text), 'config.json')).toEqual(hf.config);
  });

  it('keeps an untied classifier untied', () => {
    const c = llama2cModelConfig({ dim: 8, hiddenDim: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 300, seqLen: 32, sharedClassifier: false }, 'x.bin');
    expect([c.tiedEmbeddings, c.headDim, c.maxPositions]).toEqual([false, 4, 32]);
  });

  it('refuses to convert what is not interleaved llama', async () => {
    const { config, weights } = await readLlama2cModel(files, 'stories260K.bin');
    expect(() => toHfLlamaFromLlama2c({ ...config, ropeStyle: 'half' }, weights)).toThrow(/interleaved RoPE/);
  });
});
