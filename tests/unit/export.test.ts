import { describe, it, expect, beforeAll } from 'vitest';
import { readFile } from 'node:fs/promises';
import type { AdapterConfig, AdapterMethod } from '../../src/adapters/config';
import { ADAPTER_FOLDER, buildArtifacts } from '../../src/run/artifacts';
import { isMergedWeights, MERGED_MODEL_FILE, onnxFolderNames } from '../../src/run/output-files';
import { SAFETENSORS_FILE } from '../../src/io/checkpoint';
import type { RunMetrics } from '../../src/run/run';
import { adapterConfigOf, defaultAdapterConfig, runSpecWith, trainConfigOf, type RunSpec } from '../../src/run/spec';
import { adapterTensorShapes, type AdapterParams } from '../../src/adapters/init';
import { FormatError } from '../../src/io/errors';
import { exportAdapter } from '../../src/export/adapter';
import { exportMergedCheckpoint } from '../../src/export/checkpoint';
import { readAdapter } from '../../src/io/adapter';
import {
  ADAPTER_FILES,
  D2LORA_CONFIG_FILE,
  D2LORA_WEIGHTS_FILE,
  PEFT_CONFIG_FILE,
  PEFT_WEIGHTS_FILE,
  type NamedAdapter,
} from '../../src/io/adapter-format';
import { parseHfConfig } from '../../src/io/hf-config';
import { permuteQKForHalfRope } from '../../src/io/llama2c';
import { loadModel, type LoadedModel } from '../../src/io/load';
import { loadModelInNode } from '../../src/io/node-source';
import { parseSafetensors, writeSafetensors } from '../../src/io/safetensors';
import type { ModelConfig, WeightMap } from '../../src/model/config';
import type { TokenBatch } from '../../src/model/gpu-model';
import { linearModules, targetMatches } from '../../src/model/names';
import { mergeRef } from '../../src/ref/adapters';
import { modelForwardRef } from '../../src/ref/model';
import { HfTokenizer } from '../../src/tokenizer/hf';
import type { Llama2cTokenizer } from '../../src/tokenizer/llama2c';
import { Rng } from '../../src/util/rng';
import { shapeSize } from '../../src/util/shape';
import { GPT2_CONFIG, jsonBytes, LLAMA_CONFIG, randomWeights, tensorsOf, tinyTokenizerConfig, tinyTokenizerJson } from './hf-fixtures';
import { mirrorPath } from './mirror';

const MIRROR = mirrorPath('.');
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);
const json = (bytes: Uint8Array | undefined) => JSON.parse(text(bytes)) as Record<string, unknown>;

/** A Hugging Face folder as picked files, loaded as the browser would. */
function loadFolder(files: ReadonlyMap<string, Uint8Array> | Record<string, Uint8Array>): Promise<LoadedModel> {
  const entries = files instanceof Map ? [...files] : Object.entries(files);
  return loadModel({ kind: 'files', name: 'exported', files: entries.map(([name, bytes]) => ({ name, bytes: async () => bytes })) });
}

function header(bytes: Uint8Array | undefined): Map<string, { dtype: string; shape: number[] }> {
  return new Map([...parseSafetensors(bytes!, 'model.safetensors').tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape }]));
}

/** Every factor random and non-zero (m positive), so any mix-up of tensors or rows shows. */
function randomAdapters(config: ModelConfig, cfg: AdapterConfig, targets: string[], seed: number): NamedAdapter[] {
  const rng = new Rng(seed);
  const out: NamedAdapter[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    for (const m of linearModules(config, i)) {
      if (!targets.some((t) => targetMatches(t, m.module))) continue;
      const tensors: AdapterParams['tensors'] = {};
      for (const [name, shape] of Object.entries(adapterTensorShapes(cfg.method, cfg.r, m))) {
        const data = Float32Array.from({ length: shapeSize(shape) }, () => (name === 'm' ? rng.uniform(0.5, 2) : rng.uniform(-0.5, 0.5)));
        tensors[name] = { shape, data };
      }
      out.push({ name: m.weight.replace(/\.weight$/, ''), params: { method: cfg.method, r: cfg.r, out: m.out, in: m.in, tensors } });
    }
  }
  return out;
}

function refAdapters(cfg: AdapterConfig, targets: string[], adapters: NamedAdapter[]) {
  return { config: cfg, targets, params: new Map(adapters.map((a) => [`${a.name}.weight`, a.params])) };
}

/** One sequence of `tokens`, every position a loss row. */
function batchOf(tokens: number[]): TokenBatch {
  const n = tokens.length;
  return {
    batch: 1,
    seq: n,
    tokens: Uint32Array.from(tokens),
    lengths: Uint32Array.of(n),
    lossRows: Uint32Array.from({ length: n - 1 }, (_, i) => i),
    targets: Uint32Array.from(tokens.slice(1)),
    weights: new Float32Array(n - 1).fill(1 / (n - 1)),
  };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThan(tolerance);
}

function formatErrorFrom(f: () => unknown): FormatError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError');
}

// ---------------------------------------------------------------------------------------------

describe('exportMergedCheckpoint: Hugging Face bases', () => {
  it('writes a Llama back under its own names and per-tensor dtypes, with the merged values', async () => {
    const config = parseHfConfig(jsonBytes(LLAMA_CONFIG), 'config.json');
    const weights = randomWeights(config, 3);
    // Mixed precision, as some checkpoints keep norms in F32.
    const tensors = [...weights].map(([name, w]) => ({ name, dtype: name.includes('norm') ? ('F32' as const) : ('BF16' as const), shape: w.shape, data: w.data }));
    const base = await loadFolder({
      'config.json': jsonBytes(LLAMA_CONFIG),
      'tokenizer.json': jsonBytes(tinyTokenizerJson()),
      'tokenizer_config.json': jsonBytes(tinyTokenizerConfig(null, '<|endoftext|>')),
      'model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
    });
    expect(base.stored.get('model.norm.weight')).toEqual({ name: 'model.norm.weight', dtype: 'F32' });
    expect(base.stored.get('model.layers.1.mlp.up_proj.weight')).toEqual({ name: 'model.layers.1.mlp.up_proj.weight', dtype: 'BF16' });

    const merged: WeightMap = new Map(base.weights);
    const q = merged.get('model.layers.0.self_attn.q_proj.weight')!;
    merged.set('model.layers.0.self_attn.q_proj.weight', { shape: q.shape, data: q.data.map((v) => v + 1 / 64) }); // exact in BF16
    const files = exportMergedCheckpoint(base, merged);

    expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(files.get('tokenizer.json')).toEqual(base.files['tokenizer.json']);
    expect(files.get('tokenizer_config.json')).toEqual(base.files['tokenizer_config.json']);
    expect(json(files.get('config.json')).torch_dtype).toBe('bfloat16'); // most values are BF16
    expect(header(files.get('model.safetensors'))).toEqual(new Map(tensors.map((t) => [t.name, { dtype: t.dtype, shape: t.shape }])));
    expect(parseSafetensors(files.get('model.safetensors')!, 'm').metadata.get('format')).toBe('pt');

    const back = await loadFolder(files);
    expect(back.config).toEqual(base.config);
    expect(back.stored).toEqual(base.stored);
    for (const [name, w] of merged) expect(back.weights.get(name)!.data, name).toEqual(w.data);
  });

  it('keeps GPT-2\'s transformer. prefix, Conv1D (in, out) layout and F16; opts.dtype overrides the dtype', async () => {
    const config = parseHfConfig(jsonBytes(GPT2_CONFIG), 'config.json');
    const weights = randomWeights(config, 4);
    const base = await loadFolder({
      'config.json': jsonBytes(GPT2_CONFIG),
      'tokenizer.json': jsonBytes(tinyTokenizerJson()),
      'model.safetensors': writeSafetensors(tensorsOf(weights, 'F16', (n) => `transformer.${n}`)),
    });
    const files = exportMergedCheckpoint(base, base.weights);
    const stored = header(files.get('model.safetensors'));
    expect(stored.get('transformer.h.1.attn.c_attn.weight')).toEqual({ dtype: 'F16', shape: [16, 48] });
    expect(stored.get('transformer.h.0.mlp.c_proj.weight')).toEqual({ dtype: 'F16', shape: [64, 16] });
    expect(stored.size).toBe(weights.size);
    expect(json(files.get('config.json'))).toMatchObject({ architectures: ['GPT2LMHeadModel'], torch_dtype: 'float16' });
    expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);

    const asF32 = exportMergedCheckpoint(base, base.weights, { dtype: 'F32' });
    expect([...header(asF32.get('model.safetensors')).values()].every((t) => t.dtype === 'F32')).toBe(true);
    expect(json(asF32.get('config.json')).torch_dtype).toBe('float32');
    const back = await loadFolder(asF32);
    for (const [name, w] of weights) expect(back.weights.get(name)!.data, name).toEqual(w.data);
  });

  it('refuses merged weights that lack, reshape or add a tensor', async () => {
    const model = await loadModelInNode({ kind: 'preset', name: 'stories260K' }, { mirror: MIRROR });
    const without = new Map(model.weights);
    without.delete('model.norm.weight');
    expect(() => exportMergedCheckpoint(model, without)).toThrow('the merged weights lack "model.norm.weight"');
    const reshaped = new Map(model.weights).set('model.norm.weight', { shape: [8, 8], data: new Float32Array(64) });
    expect(() => exportMergedCheckpoint(model, reshaped)).toThrow('"model.norm.weight" has shape [8,8] (64 values); expected [64]');
    const extra = new Map(model.weights).set('lm_head.weight', model.weights.get('model.embed_tokens.weight')!);
    expect(() => exportMergedCheckpoint(model, extra)).toThrow('"lm_head.weight" is not a weight of this llama model');
  });
});

// ---------------------------------------------------------------------------------------------

/** Task prompts of the mirror's QA sets, a slice of each: long real English with digits and punctuation. */
async function qaTexts(perSet: number): Promise<string[]> {
  const sets = ['ARC-Challenge/train', 'ARC-Easy/train', 'boolq/train', 'openbookqa/train', 'piqa/test', 'social_i_qa/test', 'winogrande/test'];
  const out: string[] = [];
  for (const set of sets) {
    const items = JSON.parse(await readFile(mirrorPath(`data/qa/${set}.json`), 'utf8')) as { instruction: string; output: string }[];
    for (const item of items.slice(0, perSet)) out.push(item.instruction, item.output);
  }
  return out;
}

/** Random strings over a pool that stresses the dummy prefix, spaces, newlines and byte fallback. */
function randomTexts(count: number, seed: number): string[] {
  const pool = [...'abcdefghijklmnopqrstuvwxyzTOLS', ' ', ' ', ' ', '  ', '\n', '\t', ...'.,!?\'"-:;()0123456789', 'é', 'ñ', 'ü', '☃', '中', '🙂', '👍🏽', '\u00a0', '\u200a', '—', '“', '”', '\r\n'];
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const length = Math.floor(rng.uniform(0, 40));
    return Array.from({ length }, () => pool[Math.floor(rng.uniform(0, pool.length))]).join('');
  });
}

const HAND_PICKED = [
  'Once upon a time, there was a little girl named Lily.',
  'Tom and Sue played in the park. They were happy!',
  'Hello, world! How are you? Fine; thanks: (really) [yes] {no} "quoted" \'single\' ... --- ~~~',
  'Numbers 0123456789, 3.14159, 1,000,000 and -42 on 2024-01-01 at 12:30.',
  'line one\nline two\n\nline four\r\nwindows\ttab',
  '\n',
  'café ☃',
  'naïve façade, Ünïcödé, señor, Straße, 中文字符, Ελληνικά, русский',
  'emoji 🙂👍🏽🎉 and a zero-width joiner 👩‍👩‍👧',
  '  two leading spaces and a trailing one ',
  'a  b   c    d     e',
  'non\u00a0breaking and hair\u200aspace',
  'a',
  ' ',
  '   ',
  '',
];

describe('exportMergedCheckpoint: a llama2.c base (stories260K) as a Hugging Face Llama', () => {
  let model: LoadedModel;
  let files: Map<string, Uint8Array>;
  let exported: LoadedModel;
  let llama2c: Llama2cTokenizer;
  let hf: HfTokenizer;
  beforeAll(async () => {
    model = await loadModelInNode({ kind: 'preset', name: 'stories260K' }, { mirror: MIRROR });
    files = exportMergedCheckpoint(model, model.weights);
    exported = await loadFolder(files);
    llama2c = model.tokenizer as Llama2cTokenizer;
    hf = exported.tokenizer as HfTokenizer;
  });

  it('writes config.json, model.safetensors (F32), tokenizer.json, tokenizer_config.json and the vocabulary', async () => {
    expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'tok512.bin', 'tokenizer.json', 'tokenizer_config.json']);
    expect(files.get('tok512.bin')).toEqual(model.files['tok512.bin']);
    expect(json(files.get('config.json'))).toMatchObject({ architectures: ['LlamaForCausalLM'], model_type: 'llama', torch_dtype: 'float32', head_dim: 8 });
    expect(json(files.get('tokenizer_config.json'))).toEqual({
      tokenizer_class: 'LlamaTokenizerFast',
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      pad_token: null,
      add_bos_token: true,
      add_eos_token: false,
      legacy: true,
      clean_up_tokenization_spaces: false,
      model_max_length: 512,
    });
    expect(exported.config).toEqual({ ...model.config, ropeStyle: 'half' });
    expect([...header(files.get('model.safetensors')).values()].every((t) => t.dtype === 'F32')).toBe(true);
    const { numHeads, numKvHeads, headDim, hiddenSize } = model.config;
    for (const [name, w] of model.weights) {
      const heads = name.endsWith('q_proj.weight') ? numHeads : name.endsWith('k_proj.weight') ? numKvHeads : 0;
      expect(exported.weights.get(name)!.data, name).toEqual(heads ? permuteQKForHalfRope(w.data, heads, headDim, hiddenSize) : w.data);
    }
  });

  it('gives the logits of the llama2.c model (rotate-half RoPE on permuted q/k)', () => {
    const batch = batchOf(llama2c.encode('Once upon a time, there was a little dog.', { bos: true }));
    const original = modelForwardRef(model.config, model.weights, batch);
    const converted = modelForwardRef(exported.config, exported.weights, batch);
    expectClose(converted.logits, original.logits, 1e-9);
  });

  it('describes the llama2.c vocabulary as a byte-fallback BPE with the converter\'s merges', () => {
    const tokenizer = json(files.get('tokenizer.json'));
    const bpe = tokenizer.model as { vocab: Record<string, number>; merges: string[] } & Record<string, unknown>;
    expect(bpe).toMatchObject({ type: 'BPE', unk_token: '<unk>', byte_fallback: true, fuse_unk: true, ignore_merges: false });
    expect(Object.keys(bpe.vocab)).toHaveLength(512);
    expect([bpe.vocab['<unk>'], bpe.vocab['<s>'], bpe.vocab['</s>'], bpe.vocab['<0x00>'], bpe.vocab['<0xFF>']]).toEqual([0, 1, 2, 3, 258]);
    expect([bpe.vocab['▁'], bpe.vocab['▁Once'], bpe.vocab['he'], bpe.vocab['\u00a0']]).toEqual([410, 403, 260, 498]);
    // The first merges are those of the best-scoring pieces (ids 259, 260, 261: ' t', 'he', ' a');
    // ' the' (265) has two splits, the longer left part first.
    expect(bpe.merges.slice(0, 3)).toEqual(['▁ t', 'h e', '▁ a']);
    expect(bpe.merges.indexOf('▁th e')).toBe(bpe.merges.indexOf('▁t he') - 1);
    expect(tokenizer.added_tokens).toEqual(['<unk>', '<s>', '</s>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })));
    expect(tokenizer.normalizer).toEqual({
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    });
    expect(tokenizer.decoder).toEqual({
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    });
    expect([hf.bosId, hf.eosId, hf.vocabSize]).toEqual([1, 2, 512]);
  });

  it('encodes exactly as run.c and decodes back: hand-picked, random and task texts', async () => {
    const texts = [...HAND_PICKED, ...randomTexts(500, 7), ...(await qaTexts(150))];
    expect(texts.length).toBeGreaterThan(2500);
    let bytesFallenBack = 0;
    for (const t of texts) {
      const ids = llama2c.encode(t, { bos: true });
      expect(hf.encode(t, { bos: true }), JSON.stringify(t)).toEqual(ids);
      expect(hf.encode(t, { bos: true, eos: true })).toEqual(llama2c.encode(t, { bos: true, eos: true }));
      expect(hf.decode(ids), JSON.stringify(t)).toBe(t);
      expect(llama2c.decode(ids)).toBe(t);
      if (ids.some((id) => id >= 3 && id <= 258)) bytesFallenBack++;
    }
    expect(bytesFallenBack).toBeGreaterThan(100);
    // Empty text: no dummy prefix on either side.
    expect(hf.encode('', { bos: true })).toEqual([1]);
    expect(llama2c.encode('', { bos: true })).toEqual([1]);
    // ' c' 'a' 'f' 'é' (a piece of tok512), ' ', then ☃ as its three UTF-8 bytes E2 98 83 (+3).
    expect(hf.encode('café ☃', { bos: true })).toEqual([1, 280, 412, 431, 485, 410, 229, 155, 134]);
  }, 60_000);

  it('differs from run.c only where the text holds an added token\'s text or a ▁ (as every converted SentencePiece tokenizer does)', () => {
    // run.c spells "<s>" out; the Hugging Face tokenizer matches the added token.
    expect(llama2c.encode('<s>', { bos: true })).toEqual([1, 410, 504, 419, 505]);
    expect(hf.encode('<s>', { bos: true })).toEqual([1, 1]);
    // run.c has no '▁' piece (byte fallback); the Hugging Face tokenizer reads it as a space.
    expect(llama2c.encode('▁x', { bos: true })).toEqual([1, 410, 229, 153, 132, 444]);
    expect(hf.encode('▁x', { bos: true })).toEqual([1, 410, 410, 444]);
  });
});

// ---------------------------------------------------------------------------------------------

const config = (partial: Partial<AdapterConfig>): AdapterConfig => defaultAdapterConfig({ r: 4, alpha: 8, seed: 5, ...partial });

describe('exportAdapter: PEFT LoRA and DoRA', () => {
  const llama = parseHfConfig(jsonBytes(LLAMA_CONFIG), 'config.json');
  const gpt2 = parseHfConfig(jsonBytes(GPT2_CONFIG), 'config.json');
  const source = (c: ModelConfig) => ({ config: c, name: 'base-model' });

  it('LoRA: base_model.model.<module>.lora_A.weight = D (r×in), lora_B.weight = U (out×r), PEFT\'s config', () => {
    const cfg = config({ method: 'lora' });
    const targets = ['q_proj', 'v_proj'];
    const adapters = randomAdapters(llama, cfg, targets, 1);
    const files = exportAdapter(source(llama), adapters, cfg, targets);
    expect([...files.keys()].sort()).toEqual([PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]);
    expect(json(files.get(PEFT_CONFIG_FILE))).toEqual({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: 'base-model',
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj', 'v_proj'],
      lora_dropout: 0,
      bias: 'none',
      use_rslora: false,
      use_dora: false,
      fan_in_fan_out: false,
      init_lora_weights: true,
      inference_mode: true,
      modules_to_save: null,
    });
    const file = parseSafetensors(files.get(PEFT_WEIGHTS_FILE)!, PEFT_WEIGHTS_FILE);
    expect(file.tensors.size).toBe(2 * 2 * 2);
    expect(file.tensors.get('base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight')).toMatchObject({ dtype: 'F32', shape: [4, 16] });
    expect(file.tensors.get('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight')).toMatchObject({ dtype: 'F32', shape: [8, 4] });
    expect(file.getF32('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')).toEqual(adapters[0].params.tensors.d.data);
    expect(file.getF32('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')).toEqual(adapters[0].params.tensors.u.data);
    expect(readAdapter(files, llama)).toEqual({ cfg: { ...cfg, seed: 0, tau: 0, project: false, readd: 0 }, targets, adapters });
  });

  it('DoRA on GPT-2 Conv1D: transformer. in the module path, fan_in_fan_out, lora_magnitude_vector, rsLoRA', () => {
    const cfg = config({ method: 'dora', scaling: 'rslora' });
    const targets = ['c_attn', 'attn.c_proj'];
    const adapters = randomAdapters(gpt2, cfg, targets, 2);
    const files = exportAdapter(source(gpt2), adapters, cfg, targets);
    expect(json(files.get(PEFT_CONFIG_FILE))).toMatchObject({ peft_type: 'LORA', use_dora: true, use_rslora: true, fan_in_fan_out: true, target_modules: targets });
    const file = parseSafetensors(files.get(PEFT_WEIGHTS_FILE)!, PEFT_WEIGHTS_FILE);
    const p = 'base_model.model.transformer.h.0.attn';
    expect(Object.fromEntries([...file.tensors].filter(([key]) => key.startsWith(`${p}.`)).map(([key, t]) => [key.slice(p.length + 1), t.shape]))).toEqual({
      'c_attn.lora_A.weight': [4, 16],
      'c_attn.lora_B.weight': [48, 4],
      'c_attn.lora_magnitude_vector': [48],
      'c_proj.lora_A.weight': [4, 16],
      'c_proj.lora_B.weight': [16, 4],
      'c_proj.lora_magnitude_vector': [16],
    });
    expect(file.tensors.size).toBe(2 * 2 * 3);
    expect(file.getF32(`${p}.c_attn.lora_magnitude_vector`)).toEqual(adapters[0].params.tensors.m.data);
    const back = readAdapter(files, gpt2);
    expect(back.adapters).toEqual(adapters);
    expect(back.cfg).toMatchObject({ method: 'dora', r: 4, alpha: 8, scaling: 'rslora', detachNorm: true });
  });

  it('refuses adapters that miss a targeted layer, add one, or disagree with the config', () => {
    const cfg = config({ method: 'lora' });
    const adapters = randomAdapters(llama, cfg, ['q_proj'], 3);
    expect(() => exportAdapter(source(llama), adapters.slice(1), cfg, ['q_proj'])).toThrow('no adapter for "model.layers.0.self_attn.q_proj" (1 of 2 targeted layers missing)');
    expect(() => exportAdapter(source(llama), adapters, cfg, ['k_proj'])).toThrow('"model.layers.0.self_attn.q_proj" is not a layer that targets k_proj select');
    expect(() => exportAdapter(source(llama), [adapters[0], ...adapters], cfg, ['q_proj'])).toThrow('appears twice');
    expect(() => exportAdapter(source(llama), adapters, { ...cfg, r: 2 }, ['q_proj'])).toThrow('holds lora r=4 for 16×16; expected lora r=2 for 16×16');
  });
});

describe('exportAdapter: D2-LoRA\'s own format', () => {
  const llama = parseHfConfig(jsonBytes(LLAMA_CONFIG), 'config.json');
  const cfg = config({ method: 'd2lora', tau: 0.25, readd: 0, detachNorm: true, eps: 1e-10 });
  const targets = ['o_proj', 'down_proj'];
  const adapters = randomAdapters(llama, cfg, targets, 4);
  const files = exportAdapter({ config: llama, name: 'tiny' }, adapters, cfg, targets);

  it('writes d2lora_config.json and d2lora_model.safetensors, nothing named like PEFT\'s files', () => {
    expect([...files.keys()].sort()).toEqual([D2LORA_CONFIG_FILE, D2LORA_WEIGHTS_FILE]);
    expect([D2LORA_CONFIG_FILE, D2LORA_WEIGHTS_FILE]).toEqual(['d2lora_config.json', 'd2lora_model.safetensors']);
    expect(files.has(PEFT_CONFIG_FILE) || files.has(PEFT_WEIGHTS_FILE)).toBe(false);
    expect(json(files.get(D2LORA_CONFIG_FILE)).peft_type).toBeUndefined();
  });

  it('writes <module>.d2lora.{u_plus,d_plus,u_minus,d_minus}, every setting, the shapes and the formula', () => {
    const down = 'model.layers.1.mlp.down_proj.d2lora';
    const written = json(files.get(D2LORA_CONFIG_FILE));
    expect(written).toMatchObject({
      format: 'd2lora',
      format_version: 1,
      base_model_name_or_path: 'tiny',
      method: 'd2lora',
      r: 4,
      alpha: 8,
      tau: 0.25,
      readd: 0,
      project: true,
      detachNorm: true,
      scaling: 'standard',
      eps: 1e-10,
      init: 'paper',
      seed: 5,
      target_modules: targets,
      formula: 'ΔW = s(U₊D₊ − τU₋D₋); W = diag(c/‖W0+ΔW‖)(W0+ΔW) + ρΔW',
    });
    expect((written.shapes as Record<string, number[]>)[`${down}.u_plus`]).toEqual([16, 4]);
    expect((written.shapes as Record<string, number[]>)[`${down}.d_minus`]).toEqual([4, 40]);
    expect(Object.keys(written.shapes as object)).toHaveLength(2 * 2 * 4);
    const file = parseSafetensors(files.get(D2LORA_WEIGHTS_FILE)!, D2LORA_WEIGHTS_FILE);
    expect(file.getF32(`${down}.u_minus`)).toEqual(adapters[3].params.tensors.uMinus.data);
    expect(readAdapter(files, llama)).toEqual({ cfg, targets, adapters });
  });

  it('reads a format version 1 adapter saved under PEFT\'s file names, as before D2-LoRA had its own', () => {
    const legacy = new Map([
      [PEFT_CONFIG_FILE, files.get(D2LORA_CONFIG_FILE)!],
      [PEFT_WEIGHTS_FILE, files.get(D2LORA_WEIGHTS_FILE)!],
    ]);
    expect(readAdapter(legacy, llama)).toEqual({ cfg, targets, adapters });
  });
});

describe('adapters of a llama2.c base, for its Hugging Face export', () => {
  let model: LoadedModel;
  let exported: LoadedModel;
  let batch: TokenBatch;
  beforeAll(async () => {
    model = await loadModelInNode({ kind: 'preset', name: 'stories260K' }, { mirror: MIRROR });
    exported = await loadFolder(exportMergedCheckpoint(model, model.weights));
    batch = batchOf(model.tokenizer.encode('Lily saw a big red ball.', { bos: true }));
  });

  for (const method of ['lora', 'dora', 'd2lora'] as AdapterMethod[]) {
    it(`${method}: q/k output rows permuted like the weights, same logits on the exported model, read back exactly`, () => {
      const cfg = config({ method });
      const targets = ['q_proj', 'k_proj', 'v_proj'];
      const adapters = randomAdapters(model.config, cfg, targets, 9);
      const files = exportAdapter(model, adapters, cfg, targets);

      const q = adapters[0];
      expect(q.name).toBe('model.layers.0.self_attn.q_proj');
      const up = method === 'd2lora' ? 'uPlus' : 'u';
      const stored = readAdapter(files, exported.config); // the exported model's own (rotate-half) order
      expect(stored.adapters[0].params.tensors[up].data).toEqual(permuteQKForHalfRope(q.params.tensors[up].data, 8, 8, 4));
      expect(stored.adapters[0].params.tensors[method === 'd2lora' ? 'dPlus' : 'd'].data).toEqual(q.params.tensors[method === 'd2lora' ? 'dPlus' : 'd'].data);
      expect(stored.adapters[2].params.tensors[up].data).toEqual(adapters[2].params.tensors[up].data); // v_proj: unpermuted

      const original = modelForwardRef(model.config, model.weights, batch, refAdapters(cfg, targets, adapters));
      const viaExport = modelForwardRef(exported.config, exported.weights, batch, refAdapters(stored.cfg, stored.targets, stored.adapters));
      expectClose(viaExport.logits, original.logits, 1e-9);
      expect(readAdapter(files, model.config).adapters).toEqual(adapters);
    });
  }

  it('merged, exported and reloaded: the logits of the unmerged adapted model', async () => {
    const cfg = config({ method: 'd2lora' });
    const targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
    const adapters = randomAdapters(model.config, cfg, targets, 11);
    const merged: WeightMap = new Map(model.weights);
    for (const { name, params } of adapters) {
      const w = model.weights.get(`${name}.weight`)!;
      merged.set(`${name}.weight`, { shape: w.shape, data: Float32Array.from(mergeRef(cfg, w.data, params)) });
    }
    const reloaded = await loadFolder(exportMergedCheckpoint(model, merged));
    const unmerged = modelForwardRef(model.config, model.weights, batch, refAdapters(cfg, targets, adapters));
    expectClose(modelForwardRef(reloaded.config, reloaded.weights, batch).logits, unmerged.logits, 1e-4);
  });
});

describe('readAdapter: bad input', () => {
  const llama = parseHfConfig(jsonBytes(LLAMA_CONFIG), 'config.json');
  const source = { config: llama, name: 'tiny' };
  const lora = config({ method: 'lora' });
  const loraFiles = exportAdapter(source, randomAdapters(llama, lora, ['q_proj'], 1), lora, ['q_proj']);
  const d2 = config({ method: 'd2lora' });
  const d2Files = exportAdapter(source, randomAdapters(llama, d2, ['v_proj'], 1), d2, ['v_proj']);
  /** The files with the config file (whichever of PEFT's and D2-LoRA's they hold) edited. */
  const withConfig = (files: Map<string, Uint8Array>, edit: (c: Record<string, unknown>) => void) => {
    const name = files.has(D2LORA_CONFIG_FILE) ? D2LORA_CONFIG_FILE : PEFT_CONFIG_FILE;
    const c = json(files.get(name));
    edit(c);
    return new Map(files).set(name, jsonBytes(c));
  };
  const withWeights = (files: Map<string, Uint8Array>, edit: (t: { name: string; shape: number[]; data: Float32Array }[]) => void) => {
    const name = files.has(D2LORA_WEIGHTS_FILE) ? D2LORA_WEIGHTS_FILE : PEFT_WEIGHTS_FILE;
    const file = parseSafetensors(files.get(name)!, name);
    const tensors = [...file.tensors].map(([key, t]) => ({ name: key, shape: t.shape, data: file.getF32(key) }));
    edit(tensors);
    return new Map(files).set(name, writeSafetensors(tensors.map((t) => ({ ...t, dtype: 'F32' as const }))));
  };
  const without = (files: Map<string, Uint8Array>, name: string) => {
    const rest = new Map(files);
    rest.delete(name);
    return rest;
  };
  const message = (files: Map<string, Uint8Array>) => formatErrorFrom(() => readAdapter(files, llama)).message;

  it('names the missing file, and refuses a folder with both formats\' configs', () => {
    expect(message(without(loraFiles, PEFT_CONFIG_FILE))).toBe(
      'adapter_config.json: no such file, nor d2lora_config.json; expected the adapter configuration: ' +
        'adapter_config.json for LoRA and DoRA (PEFT\'s format) or d2lora_config.json for D2-LoRA',
    );
    expect(message(without(loraFiles, PEFT_WEIGHTS_FILE))).toBe('adapter_model.safetensors: no such file; expected the adapter weights, beside adapter_config.json');
    expect(message(without(d2Files, D2LORA_WEIGHTS_FILE))).toBe('d2lora_model.safetensors: no such file; expected the adapter weights, beside d2lora_config.json');
    // PEFT's weights do not stand in for D2-LoRA's.
    expect(message(without(d2Files, D2LORA_WEIGHTS_FILE).set(PEFT_WEIGHTS_FILE, d2Files.get(D2LORA_WEIGHTS_FILE)!))).toBe(
      'd2lora_model.safetensors: no such file; expected the adapter weights, beside d2lora_config.json',
    );
    expect(message(new Map([...loraFiles, ...d2Files]))).toBe(
      'd2lora_config.json: beside adapter_config.json; expected one adapter per folder: ' +
        'adapter_config.json for LoRA and DoRA (PEFT\'s format) or d2lora_config.json for D2-LoRA',
    );
    expect(message(new Map(loraFiles).set(PEFT_CONFIG_FILE, new TextEncoder().encode('{"peft_type"')))).toMatch(/^adapter_config\.json: bytes that are not UTF-8 JSON/);
  });

  it('names the bad config field', () => {
    expect(message(withConfig(loraFiles, (c) => (c.peft_type = 'IA3')))).toBe(
      'adapter_config.json: format nothing and peft_type string "IA3"; expected peft_type "LORA" (PEFT\'s LoRA or DoRA; a D2-LoRA adapter is d2lora_config.json)',
    );
    expect(message(withConfig(loraFiles, (c) => (c.r = 0)))).toBe('adapter_config.json: field "r": number 0; expected a positive integer');
    expect(message(withConfig(loraFiles, (c) => (c.lora_alpha = 'big')))).toBe('adapter_config.json: field "lora_alpha": string "big"; expected a finite number > 0');
    expect(message(withConfig(loraFiles, (c) => (c.use_dora = 'yes')))).toBe('adapter_config.json: field "use_dora": string "yes"; expected true or false');
    expect(message(withConfig(loraFiles, (c) => (c.target_modules = 'q_proj')))).toBe(
      'adapter_config.json: field "target_modules": string "q_proj"; expected a list of module names',
    );
    expect(message(withConfig(loraFiles, (c) => (c.target_modules = ['c_attn'])))).toBe(
      'adapter_config.json: field "target_modules": ["c_attn"]; expected names of llama layers (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)',
    );
    expect(message(withConfig(d2Files, (c) => delete c.format))).toBe('d2lora_config.json: field "format": nothing; expected "d2lora"');
    expect(message(withConfig(d2Files, (c) => delete c.tau))).toBe('d2lora_config.json: field "tau": nothing; expected every adapter setting of the d2lora format');
    expect(message(withConfig(d2Files, (c) => (c.format_version = 2)))).toBe('d2lora_config.json: field "format_version": number 2; expected 1');
    expect(message(withConfig(d2Files, (c) => (c.method = 'lora')))).toBe(
      'd2lora_config.json: field "method": string "lora"; expected "d2lora" (LoRA and DoRA use PEFT\'s format, adapter_config.json)',
    );
    expect(message(withConfig(d2Files, (c) => (c.project = 1)))).toBe('d2lora_config.json: field "project": number 1; expected true or false');
    expect(message(withConfig(d2Files, (c) => ((c.shapes as Record<string, unknown>)['model.layers.0.self_attn.v_proj.d2lora.u_plus'] = [8, 5])))).toBe(
      'd2lora_config.json: field "shapes": "model.layers.0.self_attn.v_proj.d2lora.u_plus": an array; expected [8, 4], as d2lora_model.safetensors holds it',
    );
  });

  it('names the missing, misshapen or extra tensor', () => {
    const a = 'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight';
    expect(message(withWeights(loraFiles, (t) => t.splice(t.findIndex((x) => x.name === a), 1)))).toBe(
      `adapter_model.safetensors: tensor "${a}": not present; expected the lora factors of every layer adapter_config.json targets`,
    );
    expect(message(withWeights(loraFiles, (t) => (t.find((x) => x.name === a)!.shape = [16, 4])))).toBe(
      `adapter_model.safetensors: tensor "${a}": shape [16, 4]; expected [4, 16] for r = 4 on a 16×16 layer`,
    );
    expect(message(withWeights(loraFiles, (t) => t.push({ name: 'base_model.model.lm_head.lora_A.weight', shape: [1], data: new Float32Array(1) })))).toBe(
      'adapter_model.safetensors: tensor "base_model.model.lm_head.lora_A.weight": a tensor of no targeted layer; expected only the lora factors of the layers adapter_config.json targets',
    );
    const d = 'model.layers.0.self_attn.v_proj.d2lora.d_minus';
    expect(message(withWeights(d2Files, (t) => t.splice(t.findIndex((x) => x.name === d), 1)))).toBe(
      `d2lora_model.safetensors: tensor "${d}": not present; expected the d2lora factors of every layer d2lora_config.json targets`,
    );
  });

  it('refuses NaN and ±Infinity in a factor, naming the tensor and its first bad value (in the file\'s layout)', () => {
    const spoil = (files: Map<string, Uint8Array>, name: string, values: Record<number, number>) =>
      withWeights(files, (t) => {
        const data = t.find((x) => x.name === name)!.data;
        for (const [i, v] of Object.entries(values)) data[Number(i)] = v;
      });
    const expected = 'expected finite numbers (NaN and ±Infinity come from a training run that diverged, or from a damaged file)';
    const b = 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight'; // (16, 4)
    expect(message(spoil(loraFiles, b, { 9: NaN }))).toBe(`adapter_model.safetensors: tensor "${b}": NaN at [2, 1] (index 9); 1 of its 64 values is NaN or infinite; ${expected}`);
    const u = 'model.layers.1.self_attn.v_proj.d2lora.u_minus'; // (8, 4)
    expect(message(spoil(d2Files, u, { 30: -Infinity, 31: Infinity }))).toBe(
      `d2lora_model.safetensors: tensor "${u}": -Infinity at [7, 2] (index 30); 2 of its 32 values are NaN or infinite; ${expected}`,
    );
    const all = formatErrorFrom(() => readAdapter(withWeights(d2Files, (t) => t.forEach((x) => x.data.fill(NaN))), llama));
    expect([all.file, all.field]).toEqual(['d2lora_model.safetensors', 'tensor "model.layers.0.self_attn.v_proj.d2lora.u_plus"']);
  });
});

// ---------------------------------------------------------------------------------------------

/** What buildArtifacts reads of a run's metrics, with made-up figures. */
function metricsOf(spec: RunSpec, targets: string[]): RunMetrics {
  const evaluation = { accuracy: 0.5, accuracySum: 0.5, accuracyMean: 0.5, items: 4, ms: 1, itemsPerSecond: 4 };
  const truncation = { items: 4, truncated: 0, how: 'nothing cut', dropped: 0, droppedIds: [], longest: 8 };
  return {
    spec,
    model: { name: 'stories260K', family: 'llama', parameters: 1 },
    task: { name: 'story', source: 'built in', counts: { train: 4, eval: 4 }, notes: [], truncation: { train: truncation, eval: truncation } },
    adapter: { ...adapterConfigOf(spec), targets, trainableParameters: 1 },
    train: { ...trainConfigOf(spec), steps: 1 },
    scoring: spec.scoring,
    chance: 0.25,
    before: evaluation,
    after: evaluation,
    merged: evaluation,
    mergeGapPoints: 0,
    mergedThroughputRatio: 1,
    steps: [{ step: 1, epoch: 1, loss: 1, lr: 1e-3, gradNorm: 1, tokens: 8 }],
    heldOut: [{ step: 1, loss: 1 }],
    earlyStopping: null,
    anatomy: { method: spec.adapter.method, modules: [], layers: 0, entries: [] },
    resumedAt: [],
    timings: { trainMs: 1, msPerStep: 1, tokensPerSecond: 1, totalMs: 1 },
    device: { vendor: 'test', architecture: 'test', description: 'test' },
    versions: { format: 1, engine: 'test' },
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

describe('a run\'s output folder (buildArtifacts)', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadModelInNode({ kind: 'preset', name: 'stories260K' }, { mirror: MIRROR });
  });
  const targets = ['q_proj', 'v_proj'];
  const peftFiles = [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE].map((name) => `${ADAPTER_FOLDER}/${name}`);
  const d2loraFiles = [D2LORA_CONFIG_FILE, D2LORA_WEIGHTS_FILE].map((name) => `${ADAPTER_FOLDER}/${name}`);

  for (const [method, adapterFolder] of [['lora', peftFiles], ['dora', peftFiles], ['d2lora', d2loraFiles]] as const) {
    it(`${method}: the merged model alone at the top, the adapter in ${ADAPTER_FOLDER}/ as ${adapterFolder.join(', ')}`, async () => {
      const spec = runSpecWith({ adapter: { method, r: 2, alpha: 4 }, targets });
      const adapters = randomAdapters(model.config, adapterConfigOf(spec), targets, 13);
      const files = buildArtifacts({ spec, metrics: metricsOf(spec, targets), model, merged: model.weights, adapters, withCheckpoint: true });

      const top = [...files.keys()].filter((name) => !name.includes('/'));
      expect(top.sort()).toEqual(['config.json', 'loss-curve.svg', 'metrics.json', 'model.safetensors', 'report.md', 'run.json', 'tok512.bin', 'tokenizer.json', 'tokenizer_config.json']);
      expect(top.filter((name) => (ADAPTER_FILES as readonly string[]).includes(name))).toEqual([]);
      // The name the page's history leaves out to keep a run small is the merged weights' file.
      expect(MERGED_MODEL_FILE).toBe(SAFETENSORS_FILE);
      const inFolder = [...files.keys()].filter((name) => name.includes('/'));
      expect(inFolder.sort()).toEqual([...adapterFolder]);
      if (method === 'd2lora') expect(inFolder.some((name) => name.endsWith(`/${PEFT_CONFIG_FILE}`) || name.endsWith(`/${PEFT_WEIGHTS_FILE}`))).toBe(false);

      // The adapter folder reads back exactly; the top level loads as a plain Hugging Face model.
      const adapterFiles = new Map(inFolder.map((name) => [name.slice(ADAPTER_FOLDER.length + 1), files.get(name)!]));
      const back = readAdapter(adapterFiles, model.config);
      expect(back.adapters).toEqual(adapters);
      expect(back.targets).toEqual(targets);
      expect(back.cfg.method).toBe(method);
      const merged = await loadFolder(new Map(top.map((name) => [name, files.get(name)!])));
      expect(merged.config).toEqual({ ...model.config, ropeStyle: 'half' });
    });
  }

  it('with onnx/: the ONNX folder is onnx/ and what transformers.js reads beside it, and the history leaves out both forms of the merged weights', () => {
    const spec = runSpecWith({ adapter: { method: 'd2lora', r: 2, alpha: 4 }, targets });
    const adapters = randomAdapters(model.config, adapterConfigOf(spec), targets, 13);
    const files = buildArtifacts({ spec, metrics: metricsOf(spec, targets), model, merged: model.weights, adapters, withCheckpoint: true, onnx: { weightTypes: ['fp32'], producer: { name: 'test', version: '0' } } });
    const names = [...files.keys()];
    expect(onnxFolderNames(names).sort()).toEqual(['config.json', 'generation_config.json', 'onnx/model.onnx', 'tok512.bin', 'tokenizer.json', 'tokenizer_config.json']);
    expect(names.filter(isMergedWeights).sort()).toEqual(['model.safetensors', 'onnx/model.onnx']);
    // A run without the export has no ONNX folder (not a folder of config and tokenizer alone).
    expect(onnxFolderNames(names.filter((n) => !n.startsWith('onnx/')))).toEqual([]);
  });
});
