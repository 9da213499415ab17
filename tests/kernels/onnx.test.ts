// The merged model exported to ONNX (src/export/onnx.ts) against our engine on the GPU: tiny
// random Llama, Qwen2 and GPT-2 with adapters trained a little (random factors) and merged, and
// stories260K. onnxruntime-web (WASM, in Node) runs the ONNX file; transformers.js loads the
// exported folder from disk (no network) and generates with it.
//
//   - logits at every position of a 64-token input in one pass, against the engine's KV-cached
//     logits after each position: max|Δ| ≤ 1e-4·max|logit| at each position (both compute in
//     float32 in other orders; each is within 2e-5..5e-5 of the f64 reference, the kernel tests
//     and tests/unit/onnx-decoder.test.ts show);
//   - the KV-cached ONNX passes (a prompt, then one token at a time) against its one pass;
//   - greedy stories260K through the ONNX model: run.c's tokens, token for token;
//   - transformers.js: the same tokens and text as the engine's generation of the merged model.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdapterConfig } from '../../src/adapters/config';
import { exportOnnx, onnxFileName } from '../../src/export/onnx';
import { parseHfConfig } from '../../src/io/hf-config';
import { loadModel, type LoadedModel } from '../../src/io/load';
import { loadModelInNode } from '../../src/io/node-source';
import { writeSafetensors } from '../../src/io/safetensors';
import type { ModelConfig, WeightMap } from '../../src/model/config';
import { generate, generateWith } from '../../src/model/generate';
import { GpuModel } from '../../src/model/gpu-model';
import { KvCache } from '../../src/model/kv-cache';
import { randomWeights, tinyRandomConfig } from '../../src/model/random';
import { OnnxDecoder } from '../../src/onnx/session';
import { defaultAdapterConfig } from '../../src/run/spec';
import { Rng } from '../../src/util/rng';
import { GPT2_CONFIG, jsonBytes, LLAMA_CONFIG, QWEN2_CONFIG, tinyTokenizerConfig, tinyTokenizerJson } from '../unit/hf-fixtures';
import { gpu } from './gpu';
import { worstRelative } from '../unit/logits';

/** The tiny tokenizer's ids: 3 special tokens, 256 bytes, 9 merges (tests/unit/hf-fixtures.ts). */
const TINY_TOKENIZER_SIZE = Object.keys((tinyTokenizerJson().model as { vocab: object }).vocab).length;

const PRODUCER = { name: 'd2lora-playground tests', version: '0' };
const worst: Record<string, number> = {};
afterAll(() => console.log(`ONNX (onnxruntime-web WASM) vs the engine, worst max|Δ|/max|logit|: ${JSON.stringify(worst)}`));

const ADAPTERS: Record<ModelConfig['family'], { adapter: Partial<AdapterConfig>; targets?: string[] }> = {
  llama: { adapter: { method: 'd2lora', r: 2, alpha: 4 }, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'down_proj'] },
  qwen2: { adapter: { method: 'dora', r: 2, alpha: 4 }, targets: ['q_proj', 'v_proj', 'up_proj'] },
  gpt2: { adapter: { method: 'lora', r: 2, alpha: 4 }, targets: ['c_attn', 'c_proj', 'c_fc'] },
};

function randomTokens(vocab: number, n: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Math.floor(rng.nextFloat() * vocab));
}

/** A model with adapters whose factors are random (so that the merge changes the weights); the caller destroys it. */
async function adaptedModel(config: ModelConfig, weights: WeightMap, seed: number): Promise<GpuModel> {
  const { adapter, targets } = ADAPTERS[config.family];
  const model = new GpuModel(await gpu(), config, weights, { config: defaultAdapterConfig(adapter), ...(targets ? { targets } : {}) });
  const rng = new Rng(seed);
  for (const { layer } of model.adapters()) {
    const p = await layer.readParams();
    for (const t of Object.values(p.tensors)) for (let i = 0; i < t.data.length; i++) t.data[i] = t.data[i]! + rng.uniform(-0.2, 0.2);
    layer.writeParams(p);
  }
  return model;
}

/** The engine's logits after each position of `tokens` (n × V), through its KV cache. */
async function engineLogits(model: GpuModel, tokens: readonly number[]): Promise<Float32Array> {
  const V = model.config.vocabSize;
  const cache = new KvCache(model, tokens.length);
  const out = new Float32Array(tokens.length * V);
  out.set(await cache.prefill(tokens.slice(0, 1)), 0);
  for (let i = 1; i < tokens.length; i++) out.set(await cache.step(tokens[i]!), i * V);
  cache.destroy();
  return out;
}

/** worstRelative, kept per comparison for the figures this file prints. */
function worstRelativeOf(name: string, got: Float32Array, want: Float32Array, vocab: number): number {
  const w = worstRelative(got, want, vocab);
  worst[name] = Math.max(worst[name] ?? 0, Number(w.toPrecision(2)));
  return w;
}

/** The ONNX passes of `tokens`: one, and a prompt then one token at a time; both n × V. */
async function onnxLogits(decoder: OnnxDecoder, tokens: readonly number[], prompt: number): Promise<{ full: Float32Array; cached: Float32Array }> {
  const full = await decoder.sequence().run(tokens);
  const s = decoder.sequence();
  const cached = new Float32Array(full.length);
  cached.set(await s.run(tokens.slice(0, prompt)), 0);
  for (let i = prompt; i < tokens.length; i++) cached.set(await s.run([tokens[i]!]), i * decoder.dims.vocabSize);
  s.release();
  return { full, cached };
}

/** A stand-in for the loaded model the export reads: the random weights as F32 tensors, no tokenizer files. */
function randomSource(config: ModelConfig, weights: WeightMap) {
  return { config, weights, name: `tiny ${config.family}`, files: {}, stored: new Map([...weights.keys()].map((n) => [n, { name: n, dtype: 'F32' as const }])) };
}

describe.each(['llama', 'qwen2', 'gpt2'] as const)('a tiny random %s, adapters merged, exported to ONNX', (family) => {
  it("gives the engine's logits at every position of 64 tokens, and the same through its KV cache", async () => {
    const config = tinyRandomConfig(family, 64);
    const weights = randomWeights(config, 31);
    const model = await adaptedModel(config, weights, 32);
    const merged = await model.mergedWeights(weights);
    const view = model.mergedView();
    const tokens = randomTokens(config.vocabSize, 64, 33);
    const files = exportOnnx(randomSource(config, weights), merged, { producer: PRODUCER });
    const decoder = await OnnxDecoder.create({ model: files.get(onnxFileName('fp32'))! }, config, ['wasm']);
    const { full, cached } = await onnxLogits(decoder, tokens, 9);
    const engine = await engineLogits(view, tokens);
    expect(worstRelativeOf(`tiny ${family}`, full, engine, config.vocabSize)).toBeLessThanOrEqual(1e-4);
    expect(worstRelativeOf(`tiny ${family} cached vs one pass`, cached, full, config.vocabSize)).toBeLessThanOrEqual(1e-5);
    // The merge changed the model: the ONNX file holds the merged weights, not the base ones.
    expect(worstRelativeOf(`tiny ${family} base (must differ)`, full, await engineLogits(model.baseView(), tokens), config.vocabSize)).toBeGreaterThan(1e-3);
    await decoder.release();
    view.destroy();
    model.destroy();
  }, 120_000);
});

describe('stories260K exported to ONNX', () => {
  const fixture = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'stories260K-greedy.json'), 'utf8')) as {
    cases: { prompt: string; steps: number; tokens: number[]; text: string }[];
  };
  let loaded: Promise<{ model: LoadedModel; decoder: OnnxDecoder; files: Map<string, Uint8Array> }> | null = null;
  const exported = () =>
    (loaded ??= (async () => {
      const model = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
      const files = exportOnnx(model, model.weights, { producer: PRODUCER });
      return { model, files, decoder: await OnnxDecoder.create({ model: files.get(onnxFileName('fp32'))! }, model.config, ['wasm']) };
    })());

  it("gives the engine's logits at every position of run.c's greedy story (64 tokens)", async () => {
    const { model, decoder } = await exported();
    const tokens = fixture.cases.find((c) => c.prompt === 'Once upon a time')!.tokens.slice(0, 64);
    const engine = new GpuModel(await gpu(), model.config, model.weights);
    const { full, cached } = await onnxLogits(decoder, tokens, 5);
    expect(worstRelativeOf('stories260K', full, await engineLogits(engine, tokens), model.config.vocabSize)).toBeLessThanOrEqual(1e-4);
    expect(worstRelativeOf('stories260K cached vs one pass', cached, full, model.config.vocabSize)).toBeLessThanOrEqual(1e-5);
    engine.destroy();
  }, 120_000);

  it.each(['', 'Once upon a time'])('generates greedily as run.c does, token for token (256 steps, prompt "%s")', async (prompt) => {
    const { model, decoder } = await exported();
    const expected = fixture.cases.find((c) => c.prompt === prompt)!;
    const out = await generateWith(() => decoder.logitsSource(), model.config.maxPositions, model.tokenizer, prompt, { steps: expected.steps });
    expect(out.tokens).toEqual(expected.tokens);
    expect(out.text + '\n').toBe(expected.text);
  }, 120_000);

  it('loads in transformers.js from its folder on disk and writes the engine\'s text (greedy, 200 steps)', async () => {
    const { model, files } = await exported();
    const engine = new GpuModel(await gpu(), model.config, model.weights);
    const ours = await generate(engine, model.tokenizer, 'Lily had a', { steps: 200 });
    engine.destroy();
    const theirs = await transformersJsGenerate(files, 'Lily had a', ours.promptTokens.length, 200);
    expect(theirs.promptTokens).toEqual(ours.promptTokens); // its tokenizer encodes as ours
    expect(theirs.generatedTokens).toEqual(ours.generatedTokens);
    expect(theirs.text).toBe(ours.text);
  }, 120_000);
});

/** A tiny Hugging Face folder of `family` (config.json, random F32 weights, a byte-level BPE tokenizer), loaded as picked files. */
async function tinyHfModel(family: ModelConfig['family']): Promise<LoadedModel> {
  // The vocabulary as large as the tokenizer's (the fixtures' 272 pad it), so that every id the model picks decodes.
  const configFile = jsonBytes({ ...{ llama: LLAMA_CONFIG, qwen2: QWEN2_CONFIG, gpt2: GPT2_CONFIG }[family], vocab_size: TINY_TOKENIZER_SIZE });
  const config = parseHfConfig(configFile, 'config.json');
  const weights = randomWeights(config, 41);
  const files: Record<string, Uint8Array> = {
    'config.json': configFile,
    'model.safetensors': writeSafetensors([...weights].map(([name, w]) => ({ name, dtype: 'F32', shape: w.shape, data: w.data })), { format: 'pt' }),
    'tokenizer.json': jsonBytes(tinyTokenizerJson()),
    'tokenizer_config.json': jsonBytes(tinyTokenizerConfig(null, '<|endoftext|>')),
  };
  return loadModel({ kind: 'files', name: `tiny-${family}`, files: Object.entries(files).map(([name, bytes]) => ({ name, bytes: async () => bytes })) });
}

describe.each(['llama', 'qwen2', 'gpt2'] as const)('transformers.js on a tiny random %s (tokenizer and all), adapters merged', (family) => {
  it("loads the exported folder from disk and generates the engine's tokens and text (greedy)", async () => {
    const base = await tinyHfModel(family);
    const model = await adaptedModel(base.config, base.weights, 42);
    const merged = await model.mergedWeights(base.weights);
    const view = model.mergedView();
    const prompt = 'Tom and Sue played';
    const steps = Math.min(40, base.config.maxPositions);
    const ours = await generate(view, base.tokenizer, prompt, { steps });
    const theirs = await transformersJsGenerate(exportOnnx(base, merged, { producer: PRODUCER }), prompt, ours.promptTokens.length, steps);
    expect(ours.generatedTokens.length).toBe(steps - ours.promptTokens.length + 1); // to the last position, no stop token on the way
    expect(theirs.promptTokens).toEqual(ours.promptTokens);
    expect(theirs.generatedTokens).toEqual(ours.generatedTokens);
    expect(theirs.text).toBe(ours.text);
    view.destroy();
    model.destroy();
  }, 120_000);
});

/**
 * transformers.js's greedy generation from the folder `files`, written to a temporary folder and
 * loaded from there with remote models off: at most `steps` positions in all, as generate() counts.
 */
async function transformersJsGenerate(files: ReadonlyMap<string, Uint8Array>, prompt: string, promptLength: number, steps: number) {
  const folder = await mkdtemp(join(tmpdir(), 'd2lora-onnx-'));
  try {
    for (const [name, bytes] of files) {
      await mkdir(dirname(join(folder, name)), { recursive: true });
      await writeFile(join(folder, name), bytes);
    }
    const { AutoModelForCausalLM, AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = `${dirname(folder)}/`;
    const tokenizer = await AutoTokenizer.from_pretrained(basename(folder));
    const model = await AutoModelForCausalLM.from_pretrained(basename(folder), { dtype: 'fp32' });
    const inputs = tokenizer(prompt);
    const promptTokens = (inputs.input_ids.tolist() as bigint[][])[0]!.map(Number);
    // generate() runs positions 0 … steps−1: the prompt's last one predicts the first new token.
    const output = (await model.generate({ ...inputs, max_new_tokens: steps - promptLength + 1, do_sample: false })) as { tolist(): bigint[][] };
    const sequence = output.tolist()[0]!.map(Number);
    const stops = new Set([model.generation_config?.eos_token_id].flat().filter((id): id is number => typeof id === 'number'));
    const generatedTokens = sequence.slice(promptTokens.length);
    if (generatedTokens.length > 0 && stops.has(generatedTokens.at(-1)!)) generatedTokens.pop(); // generate() leaves the stop token out
    await model.dispose();
    return { promptTokens, generatedTokens, text: tokenizer.decode([...promptTokens, ...generatedTokens], { skip_special_tokens: true }) };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
