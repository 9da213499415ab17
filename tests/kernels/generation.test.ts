// KV-cached inference against recomputing the whole sequence (GpuModel.nextTokenLogits): the
// logits after every position for tiny random Llama, Qwen2 and GPT-2 models (base and with live
// adapters) and for stories260K, the prompt prefilled in one pass or position by position;
// generation from live adapters against the merged view; the views' sharing and lifetime rules;
// and generate()'s errors and counts.
//
// Tolerance: both paths compute the same f32 function with the same kernels except attention
// (attention_decode* against the cache vs attention_forward* over the sequence) and the row
// counts of the products; on a CPU driver the thread-per-row kernels even share their
// arithmetic. Logits of the tiny models are O(1) and of stories260K O(10): |cached − recompute|
// ≤ 2e-5 and 5e-5 absolute, the bounds the model tests hold each path to against the f64
// reference. Measured worst (printed after the suite): 0 on lavapipe for every model (the same
// bits), which the bound does not require of a GPU.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdapterConfig } from '../../src/adapters/config';
import type { GpuContext } from '../../src/gpu/context';
import { loadModelInNode } from '../../src/io/node-source';
import { generate } from '../../src/model/generate';
import { GpuModel } from '../../src/model/gpu-model';
import { KvCache } from '../../src/model/kv-cache';
import { randomWeights } from '../../src/model/random';
import { defaultAdapterConfig } from '../../src/run/spec';
import { makeBatch } from '../../src/train/batching';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';
import { tinyConfig } from './tiny-models';

const worst: Record<string, number> = {};
afterAll(() => console.log(`KV cache vs recompute, worst |Δlogit|: ${JSON.stringify(worst)}`));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function expectClose(name: string, got: Float32Array, want: Float32Array, tol: number): void {
  const d = maxAbsDiff(got, want);
  worst[name] = Math.max(worst[name] ?? 0, Number(d.toPrecision(2)));
  expect(d, name).toBeLessThanOrEqual(tol);
}

function loadStories() {
  return loadModelInNode({ kind: 'preset', name: 'stories260K' });
}

/** Adds U(±0.2) to every adapter factor, so that the adapters change the model's output. */
async function perturbAdapters(model: GpuModel, seed: number): Promise<void> {
  const rng = new Rng(seed);
  for (const { layer } of model.adapters()) {
    const p = await layer.readParams();
    for (const t of Object.values(p.tensors)) for (let i = 0; i < t.data.length; i++) t.data[i] = t.data[i]! + rng.uniform(-0.2, 0.2);
    layer.writeParams(p);
  }
}

/**
 * Runs `tokens` through a cache, the first `promptLength` in one prefill and the rest one step
 * each, and checks the logits after every position against the recompute path.
 */
async function compareWithRecompute(model: GpuModel, tokens: readonly number[], promptLength: number, name: string, tol: number): Promise<void> {
  const cache = new KvCache(model, tokens.length);
  expectClose(name, await cache.prefill(tokens.slice(0, promptLength)), await model.nextTokenLogits(tokens.slice(0, promptLength)), tol);
  for (let n = promptLength + 1; n <= tokens.length; n++) {
    expectClose(name, await cache.step(tokens[n - 1]!), await model.nextTokenLogits(tokens.slice(0, n)), tol);
  }
  expect(cache.position).toBe(tokens.length);
  cache.destroy();
}

function randomTokens(vocab: number, n: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Math.floor(rng.nextFloat() * vocab));
}

const ADAPTERS: Record<string, { adapter: Partial<AdapterConfig>; targets?: string[] }> = {
  llama: { adapter: { method: 'd2lora', r: 2, alpha: 4 } },
  qwen2: { adapter: { method: 'dora', r: 2, alpha: 4 }, targets: ['q_proj', 'v_proj', 'down_proj'] },
  gpt2: { adapter: { method: 'lora', r: 2, alpha: 4 }, targets: ['c_attn', 'c_proj', 'c_fc'] },
};

describe.each(['llama', 'qwen2', 'gpt2'] as const)('tiny random %s, KV cache', (family) => {
  it('gives the logits of the recompute path after every position (prompt in one pass, or one position at a time)', async () => {
    const ctx = await gpu();
    const config = tinyConfig(family);
    const model = new GpuModel(ctx, config, randomWeights(config, 3));
    const tokens = randomTokens(config.vocabSize, config.maxPositions, 4); // the whole context
    await compareWithRecompute(model, tokens, 11, `tiny ${family}`, 2e-5);
    await compareWithRecompute(model, tokens.slice(0, 9), 1, `tiny ${family}`, 2e-5);
    model.destroy();
  });

  it('runs live adapters (no merge) as the recompute path does', async () => {
    const ctx = await gpu();
    const config = tinyConfig(family);
    const { adapter, targets } = ADAPTERS[family]!;
    const model = new GpuModel(ctx, config, randomWeights(config, 5), { config: defaultAdapterConfig(adapter), ...(targets ? { targets } : {}) });
    await perturbAdapters(model, 6);
    const tokens = randomTokens(config.vocabSize, 20, 7);
    await compareWithRecompute(model, tokens, 6, `tiny ${family} with ${adapter.method}`, 2e-5);
    model.destroy();
  });
});

describe('stories260K, KV cache', () => {
  const fixture = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'stories260K-greedy.json'), 'utf8')) as {
    cases: { prompt: string; steps: number; tokens: number[]; text: string }[];
  };

  it('gives the logits of the recompute path after every position of run.c\'s greedy story (96 positions)', async () => {
    const ctx = await gpu();
    const { config, weights } = await loadStories();
    const model = new GpuModel(ctx, config, weights);
    const tokens = fixture.cases.find((c) => c.prompt === 'Once upon a time')!.tokens.slice(0, 96);
    await compareWithRecompute(model, tokens, 5, 'stories260K', 5e-5);
    model.destroy();
  }, 120_000);

  it('a prompt prefilled in one pass continues as run.c does, token for token (256 steps)', async () => {
    const ctx = await gpu();
    const { config, weights, tokenizer } = await loadStories();
    const model = new GpuModel(ctx, config, weights);
    const expected = fixture.cases.find((c) => c.prompt === 'Once upon a time')!;
    let streamed = '';
    const out = await generate(model, tokenizer, expected.prompt, { steps: expected.steps, onToken: (_id, text) => (streamed += text) });
    expect(out.tokens).toEqual(expected.tokens);
    expect(out.text + '\n').toBe(expected.text);
    expect(streamed).toBe(out.text); // the prompt's tokens are streamed too, as run.c prints them
    expect(out.promptTokens).toEqual(tokenizer.encode(expected.prompt, { bos: true }));
    expect(out.generatedTokens).toEqual(expected.tokens.slice(out.promptTokens.length));
    model.destroy();
  }, 120_000);

  it('sampled generation (temperature, top-p, seed) chooses the same tokens cached and recomputed', async () => {
    const ctx = await gpu();
    const { config, weights, tokenizer } = await loadStories();
    const model = new GpuModel(ctx, config, weights);
    const opts = { steps: 80, temperature: 0.9, topP: 0.9, seed: 5 };
    const cached = await generate(model, tokenizer, 'Tom had a', opts);
    const recomputed = await generate(model, tokenizer, 'Tom had a', { ...opts, kvCache: false });
    expect(cached.tokens).toEqual(recomputed.tokens);
    expect(cached.generatedTokens.length).toBeGreaterThan(0);
    model.destroy();
  }, 120_000);

  it('generation with live adapters equals generation from the merged view (greedy, 128 steps)', async () => {
    const ctx = await gpu();
    const { config, weights, tokenizer } = await loadStories();
    const model = new GpuModel(ctx, config, weights, { config: defaultAdapterConfig({ method: 'd2lora', r: 4, alpha: 8 }) });
    await perturbAdapters(model, 11);
    const base = model.baseView();
    const merged = model.mergedView();
    const live = await generate(model, tokenizer, 'Lily had a', { steps: 128 });
    const fromMerged = await generate(merged, tokenizer, 'Lily had a', { steps: 128 });
    const fromBase = await generate(base, tokenizer, 'Lily had a', { steps: 128 });
    expect(live.generatedTokens.length).toBeGreaterThan(20);
    expect(live.tokens).toEqual(fromMerged.tokens);
    expect(fromBase.tokens).not.toEqual(live.tokens); // the perturbed adapters do change the story
    for (const m of [merged, base, model]) m.destroy();
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------

/** Per-loss-row NLL bits of a model on a fixed batch. */
async function lossBits(ctx: GpuContext, model: GpuModel, seed: number): Promise<Uint32Array> {
  const rng = new Rng(seed);
  const examples = [9, 5, 12].map((len) => ({ tokens: Array.from({ length: len }, () => Math.floor(rng.nextFloat() * model.config.vocabSize)), targetStart: 1 }));
  const losses = model.run(makeBatch(examples), false);
  const bits = new Uint32Array(await ctx.readBytes(losses));
  losses.release();
  return bits;
}

describe('views of one model', () => {
  it('baseView computes the base model and mergedView the model built from mergedWeights(), bit for bit, sharing the base tensors', async () => {
    const ctx = await gpu();
    const config = tinyConfig('llama');
    const weights = randomWeights(config, 8);
    const model = new GpuModel(ctx, config, weights, { config: defaultAdapterConfig({ method: 'd2lora', r: 2, alpha: 4 }), targets: ['q_proj', 'o_proj', 'up_proj'] });
    await perturbAdapters(model, 9);
    const plain = new GpuModel(ctx, config, weights);
    const exported = new GpuModel(ctx, config, await model.mergedWeights(weights));
    const memory = ctx.memory.current;
    const base = model.baseView();
    const merged = model.mergedView();
    expect(ctx.memory.current - memory).toBeLessThan(64 * 1024); // three merged matrices, no copy of the base
    expect(base.weights).toBe(model.weights);
    expect(merged.weights).toBe(model.weights);
    expect(merged.adapters()).toEqual([]);
    expect(await lossBits(ctx, base, 10)).toEqual(await lossBits(ctx, plain, 10));
    expect(await lossBits(ctx, merged, 10)).toEqual(await lossBits(ctx, exported, 10));
    expect(await lossBits(ctx, merged, 10)).not.toEqual(await lossBits(ctx, base, 10));

    // A view's destroy frees only its own tensors: the owner and the other view still run.
    const before = await lossBits(ctx, model, 10);
    merged.destroy();
    expect(await lossBits(ctx, model, 10)).toEqual(before);
    expect(await lossBits(ctx, base, 10)).toEqual(await lossBits(ctx, plain, 10));

    // The owner's destroy frees the base weights: a view left over refuses to run, and says why.
    model.destroy();
    expect(() => base.run(makeBatch([{ tokens: [3, 4, 5], targetStart: 1 }]), false)).toThrow(/GpuModel.run: the base weights of this model were destroyed.*destroy views before their owner/);
    await expect(base.nextTokenLogits([1])).rejects.toThrow(/base weights of this model were destroyed/);
    expect(() => new KvCache(base)).toThrow(/base weights of this model were destroyed/);
    expect(() => model.mergedView()).toThrow(/GpuModel.mergedView: the model was destroyed/);
    base.destroy();
    for (const m of [plain, exported]) m.destroy();
  });

  it('a model over a shared GpuWeights of another configuration is refused', async () => {
    const ctx = await gpu();
    const llama = new GpuModel(ctx, tinyConfig('llama'), randomWeights(tinyConfig('llama'), 1));
    expect(() => new GpuModel(ctx, tinyConfig('qwen2'), llama.weights)).toThrow(/shared weights are of another configuration/);
    llama.destroy();
  });
});

describe('generate and KvCache, limits', () => {
  it('a prompt over steps or over the context is an error saying by how much; counts never go negative', async () => {
    const ctx = await gpu();
    const { config, weights, tokenizer } = await loadStories();
    const model = new GpuModel(ctx, config, weights);
    const prompt = 'Once upon a time'; // BOS + 4 tokens
    expect(tokenizer.encode(prompt, { bos: true }).length).toBe(5);
    await expect(generate(model, tokenizer, prompt, { steps: 3 })).rejects.toThrow(/the prompt is 5 tokens, over steps = 3 .* by 2; raise steps to at least 5/);
    const long = Array.from({ length: 200 }, () => 'Tom ran.').join(' ');
    const length = tokenizer.encode(long, { bos: true }).length;
    await expect(generate(model, tokenizer, long, { steps: 1000 })).rejects.toThrow(
      new RegExp(`the prompt is ${length} tokens, over the model's context of 512 positions by ${length - 512}`),
    );
    const exact = await generate(model, tokenizer, prompt, { steps: 5 }); // the prompt's last position predicts one token
    expect(exact.promptTokens.length).toBe(5);
    expect(exact.generatedTokens.length).toBe(1);
    expect(exact.tokens).toEqual([...exact.promptTokens, ...exact.generatedTokens]);

    const cache = new KvCache(model, 4);
    await cache.prefill([1, 400, 300]);
    await expect(cache.prefill([5, 6])).rejects.toThrow(/KvCache: 2 more positions do not fit: 3 of 4 are used, 1 too many/);
    expect(() => new KvCache(model, 513)).toThrow(/capacity 513 must be an integer in 1…512/);
    cache.reset();
    expect(cache.position).toBe(0);
    cache.destroy();
    await expect(cache.step(1)).rejects.toThrow(/KvCache: used after destroy/);
    model.destroy();
  }, 120_000);
});
