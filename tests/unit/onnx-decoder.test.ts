// The exported ONNX decoder run by onnxruntime-web (WASM, in Node) against the f64 reference
// model (src/ref/model.ts): tiny random models of 64 positions (src/model/random.ts) — Llama (GQA,
// untied classifier), Qwen2 (q/k/v biases, tied), GPT-2 (fused qkv, learned positions, LayerNorm,
// GELU) — and stories260K (a llama2.c model, exported in Hugging Face form: q/k rows permuted to
// rotate-half RoPE). Each is checked at every position of a 64-token input in one pass, and the
// KV-cached passes (a prompt, then one position at a time, feeding present.* back) against that
// pass; fp16 weights against the reference run on the same weights rounded to fp16; external data
// against the weights inside.
//
// Tolerance: the decoder computes in float32, so its logits differ from the f64 reference by
// float32 rounding through a few layers: max|Δ| ≤ 1e-4·max|logit| at each position (measured
// worst printed after the suite). The cached passes compute the same function in another order
// of rows: 1e-5·max|logit|.

import { afterAll, describe, expect, it } from 'vitest';
import { exportOnnx, onnxFileName } from '../../src/export/onnx';
import { loadModelInNode } from '../../src/io/node-source';
import { f16BitsToF32Bits, f32BitsToF16Bits } from '../../src/io/safetensors';
import type { ModelConfig, WeightMap } from '../../src/model/config';
import type { TokenBatch } from '../../src/model/gpu-model';
import { randomWeights, tinyRandomConfig } from '../../src/model/random';
import { buildDecoder } from '../../src/onnx/decoder';
import { serializeGraph } from '../../src/onnx/model-file';
import { OnnxDecoder } from '../../src/onnx/session';
import { modelForwardRef } from '../../src/ref/model';
import { Rng } from '../../src/util/rng';
import { worstRelative } from './logits';

const PRODUCER = { name: 'd2lora-playground tests', version: '0' };
const worst: Record<string, number> = {};
afterAll(() => console.log(`ONNX decoder vs f64 reference, worst max|Δ|/max|logit|: ${JSON.stringify(worst)}`));

function randomTokens(vocab: number, n: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Math.floor(rng.nextFloat() * vocab));
}

/** The reference's logits after every position of one sequence (n × V). */
function referenceLogits(config: ModelConfig, weights: WeightMap, tokens: readonly number[]): Float64Array {
  const n = tokens.length;
  const batch: TokenBatch = {
    batch: 1,
    seq: n,
    tokens: Uint32Array.from(tokens),
    lengths: Uint32Array.of(n),
    lossRows: Uint32Array.from({ length: n }, (_, i) => i),
    targets: new Uint32Array(n),
    weights: new Float32Array(n),
  };
  return modelForwardRef(config, weights, batch).logits;
}

function record(name: string, r: number): number {
  worst[name] = Math.max(worst[name] ?? 0, Number(r.toPrecision(2)));
  return r;
}

async function decoderOf(config: ModelConfig, weights: WeightMap, weightType: 'fp32' | 'fp16' = 'fp32', externalData = false): Promise<OnnxDecoder> {
  const file = serializeGraph(buildDecoder(config, weights, { weightType }), { dataFile: 'model.onnx_data', externalData, producer: PRODUCER });
  expect(file.data === null).toBe(!externalData);
  return OnnxDecoder.create({ model: file.model, ...(file.data ? { externalData: { path: 'model.onnx_data', data: file.data } } : {}) }, config, ['wasm']);
}

/** The logits of one pass over `tokens`, then of `prompt` tokens and one position at a time, fed back through the cache. */
async function cachedAgainstFull(decoder: OnnxDecoder, tokens: readonly number[], prompt: number, vocab: number): Promise<{ full: Float32Array; cachedWorst: number }> {
  const full = await decoder.sequence().run(tokens);
  const s = decoder.sequence();
  const parts = [await s.run(tokens.slice(0, prompt))];
  for (let i = prompt; i < tokens.length; i++) parts.push(await s.run([tokens[i]!]));
  s.release();
  const cached = new Float32Array(full.length);
  let at = 0;
  for (const p of parts) {
    cached.set(p, at);
    at += p.length;
  }
  return { full, cachedWorst: worstRelative(cached, full, vocab) };
}

describe.each(['llama', 'qwen2', 'gpt2'] as const)('the ONNX decoder of a tiny random %s (onnxruntime-web, WASM)', (family) => {
  const config = tinyRandomConfig(family, 64);
  const weights = randomWeights(config, 21);
  const tokens = randomTokens(config.vocabSize, 64, 22);

  it('gives the reference logits at every position of a 64-token input, and the same through its KV cache', async () => {
    const decoder = await decoderOf(config, weights);
    expect(decoder.provider).toBe('wasm');
    const { full, cachedWorst } = await cachedAgainstFull(decoder, tokens, 11, config.vocabSize);
    expect(record(`tiny ${family}`, worstRelative(full, referenceLogits(config, weights, tokens), config.vocabSize))).toBeLessThanOrEqual(1e-4);
    expect(record(`tiny ${family} cached`, cachedWorst)).toBeLessThanOrEqual(1e-5);
    await decoder.release();
  }, 60_000); // the first session compiles onnxruntime's WASM module

  it('with fp16 weights computes the reference of the weights rounded to fp16', async () => {
    const rounded: WeightMap = new Map(
      [...weights].map(([name, t]) => [name, { shape: t.shape, data: new Float32Array(Uint32Array.from(new Uint32Array(t.data.buffer), (b) => f16BitsToF32Bits(f32BitsToF16Bits(b))).buffer) }]),
    );
    const decoder = await decoderOf(config, weights, 'fp16');
    const full = await decoder.sequence().run(tokens.slice(0, 16));
    expect(record(`tiny ${family} fp16`, worstRelative(full, referenceLogits(config, rounded, tokens.slice(0, 16)), config.vocabSize))).toBeLessThanOrEqual(1e-4);
    await decoder.release();
  });
});

describe('the ONNX decoder with external data', () => {
  it('reads its weights from the data file as it reads them inside the model', async () => {
    const config = tinyRandomConfig('qwen2', 64);
    const weights = randomWeights(config, 23);
    const tokens = randomTokens(config.vocabSize, 20, 24);
    const inside = await decoderOf(config, weights);
    const outside = await decoderOf(config, weights, 'fp32', true);
    expect(await outside.sequence().run(tokens)).toEqual(await inside.sequence().run(tokens));
    await inside.release();
    await outside.release();
  });
});

describe('the ONNX export of stories260K (llama2.c, converted to rotate-half RoPE)', () => {
  it('gives the reference logits of the llama2.c model at every position of 64 tokens, and the same through its KV cache', async () => {
    const model = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
    const files = exportOnnx(model, model.weights, { producer: PRODUCER });
    const decoder = await OnnxDecoder.create({ model: files.get(onnxFileName('fp32'))! }, model.config, ['wasm']);
    const tokens = [1, ...randomTokens(model.config.vocabSize, 63, 25)];
    const { full, cachedWorst } = await cachedAgainstFull(decoder, tokens, 5, model.config.vocabSize);
    expect(record('stories260K', worstRelative(full, referenceLogits(model.config, model.weights, tokens), model.config.vocabSize))).toBeLessThanOrEqual(1e-4);
    expect(record('stories260K cached', cachedWorst)).toBeLessThanOrEqual(1e-5);
    await decoder.release();
  });
});
