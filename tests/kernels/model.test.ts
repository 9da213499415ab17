// The whole model on the GPU: stories260K against llama2.c's run.c (logits and 256 greedy
// tokens), every family against the f64 CPU reference model, and the adapter gradients of the
// GPU backward against finite differences of the reference loss.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdapterConfig } from '../../src/adapters/config';
import { METHOD_SPECS } from '../../src/adapters';
import type { AdapterParams } from '../../src/adapters/init';
import { loadModelInNode } from '../../src/io/node-source';
import type { ModelConfig } from '../../src/model/config';
import { generate } from '../../src/model/generate';
import { GpuModel, type TokenBatch } from '../../src/model/gpu-model';
import { randomWeights } from '../../src/model/random';
import { modelForwardRef } from '../../src/ref/model';
import { makeBatch } from '../../src/train/batching';
import { evaluateGenerative, rougeL } from '../../src/train/eval';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';
import { tinyConfig } from './tiny-models';
import { defaultAdapterConfig } from '../../src/run/spec';

const fixtures = join(__dirname, '..', 'fixtures');
const worst: Record<string, number> = {};
afterAll(() => console.log(`model checks, worst errors: ${JSON.stringify(worst)}`));
function record(name: string, v: number): number {
  worst[name] = Math.max(worst[name] ?? 0, Number(v.toPrecision(2)));
  return v;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** stories260K through the project's own loader, from the mirror (checked by sha256). */
function loadStories() {
  return loadModelInNode({ kind: 'preset', name: 'stories260K' });
}

describe('stories260K against llama2.c run.c', () => {
  // Logits tolerance: |GPU − run.c| ≤ 2e-4 per logit (logits are O(10); both are f32 programs
  // with different summation orders, and the fixture is rounded to 7 significant digits).
  it('logits of the first positions match run.c and the f64 reference', async () => {
    const ctx = await gpu();
    const { config, weights } = await loadStories();
    const fixture = JSON.parse(readFileSync(join(fixtures, 'stories260K-logits.json'), 'utf8')) as { tokens: number[]; logits: number[][] };
    const model = new GpuModel(ctx, config, weights);
    for (let pos = 0; pos < fixture.tokens.length; pos++) {
      const prefix = fixture.tokens.slice(0, pos + 1);
      const got = await model.nextTokenLogits(prefix);
      expect(record('logits vs run.c', maxAbsDiff(got, fixture.logits[pos]!))).toBeLessThanOrEqual(2e-4);
      const batch = makeBatch([{ tokens: [...prefix, 0], targetStart: prefix.length }]);
      const ref = modelForwardRef(config, weights, batch);
      expect(record('logits vs f64 reference', maxAbsDiff(got, ref.logits))).toBeLessThanOrEqual(5e-5);
    }
    model.destroy();
  });

  it('greedy generation from BOS for 256 steps (KV cache) reproduces run.c token for token', async () => {
    const ctx = await gpu();
    const { config, weights, tokenizer } = await loadStories();
    const fixture = JSON.parse(readFileSync(join(fixtures, 'stories260K-greedy.json'), 'utf8')) as {
      cases: { prompt: string; steps: number; tokens: number[]; text: string }[];
    };
    const model = new GpuModel(ctx, config, weights);
    const expected = fixture.cases.find((c) => c.prompt === '')!;
    const out = await generate(model, tokenizer, '', { steps: expected.steps, temperature: 0 });
    expect(out.tokens).toEqual(expected.tokens);
    expect(out.promptTokens).toEqual([tokenizer.bosId]);
    expect(out.generatedTokens).toEqual(expected.tokens.slice(1));
    expect(out.text + '\n').toBe(expected.text);
    model.destroy();
  }, 300_000);
});

describe('generative evaluation', () => {
  it('greedy continuations score ROUGE-L 1 against run.c\'s own continuation, and less against another text', async () => {
    const ctx = await gpu();
    const { config, weights, tokenizer } = await loadStories();
    const fixture = JSON.parse(readFileSync(join(fixtures, 'stories260K-greedy.json'), 'utf8')) as { cases: { prompt: string; tokens: number[] }[] };
    const run = fixture.cases.find((c) => c.prompt === 'Once upon a time')!;
    const promptLength = tokenizer.encode('Once upon a time', { bos: true }).length;
    const target = tokenizer.decode(run.tokens.slice(promptLength, promptLength + 12));
    const model = new GpuModel(ctx, config, weights);
    const r = await evaluateGenerative(model, tokenizer, [
      { prompt: 'Once upon a time', target },
      { prompt: 'Once upon a time', target: 'a dog ran far away' },
    ], { maxNewTokens: 12 });
    model.destroy();
    expect(r.outputs[0]).toBe(target);
    expect(r.rougeL).toBeCloseTo((1 + rougeL(r.outputs[1]!, 'a dog ran far away')) / 2, 12);
    expect(rougeL(r.outputs[1]!, 'a dog ran far away')).toBeLessThan(0.5);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------

function randomBatch(config: ModelConfig, seed: number): TokenBatch {
  const rng = new Rng(seed);
  const examples = [9, 5, 12].map((len) => {
    const tokens = Array.from({ length: len }, () => Math.floor(rng.nextFloat() * config.vocabSize));
    return { tokens, targetStart: Math.max(1, len - 3) };
  });
  return makeBatch(examples);
}

describe.each(['llama', 'qwen2', 'gpt2'] as const)('tiny random %s', (family) => {
  it('GPU per-token losses match the f64 reference (base model and with D2-LoRA)', async () => {
    const ctx = await gpu();
    const config = tinyConfig(family);
    const weights = randomWeights(config, 3);
    const batch = randomBatch(config, 4);
    const ref = modelForwardRef(config, weights, batch);
    const model = new GpuModel(ctx, config, weights);
    const losses = model.run(batch, false);
    expect(record(`${family} loss vs reference`, maxAbsDiff(await ctx.read(losses), ref.losses))).toBeLessThanOrEqual(2e-5);
    losses.release();
    model.destroy();
  });
});

// ---------------------------------------------------------------------------------------------
// Whole-model gradient check: GPU adapter gradients vs central differences of the f64 loss.

describe('whole-model adapter gradients vs finite differences of the reference loss', () => {
  // A detached norm makes the backward differentiate a different function than the loss (n is
  // held constant), so finite differences of the loss check only the exact gradients: every
  // factor of D2-LoRA and LoRA, and DoRA's magnitude m (n does not depend on m).
  const cases: [ModelConfig['family'], Partial<AdapterConfig>, string[] | undefined, string[] | null][] = [
    ['llama', { method: 'd2lora', r: 2, alpha: 4 }, undefined, null],
    ['llama', { method: 'lora', r: 2, alpha: 4 }, ['q_proj', 'v_proj', 'down_proj'], null],
    ['llama', { method: 'dora', r: 2, alpha: 4 }, ['o_proj', 'up_proj'], ['m']],
    ['gpt2', { method: 'd2lora', r: 2, alpha: 4 }, ['c_attn', 'c_proj', 'c_fc'], null],
    ['qwen2', { method: 'd2lora', r: 2, alpha: 4, readd: 0 }, undefined, null],
  ];
  for (const [family, adapter, targets, checkedTensors] of cases) {
    it(`${family} ${adapter.method} on ${targets?.join(',') ?? 'defaults'}`, async () => {
      const ctx = await gpu();
      const config = tinyConfig(family);
      const weights = randomWeights(config, 5);
      const batch = randomBatch(config, 6);
      const model = new GpuModel(ctx, config, weights, { config: defaultAdapterConfig(adapter), ...(targets ? { targets } : {}) });
      // Non-zero factors everywhere (the init's zeros would hide half the gradient paths).
      const rng = new Rng(7);
      const params = new Map<string, AdapterParams>();
      for (const { name, layer } of model.adapters()) {
        const p = await layer.readParams();
        for (const t of Object.values(p.tensors)) for (let i = 0; i < t.data.length; i++) t.data[i] = t.data[i]! + rng.uniform(-0.2, 0.2);
        layer.writeParams(p);
        params.set(`${name}.weight`, p);
      }
      const losses = model.run(batch, true);
      losses.release();
      let checked = 0;
      for (const { name, layer } of model.adapters()) {
        const packed = Object.fromEntries(await Promise.all(Object.entries(layer.grads).map(async ([k, t]) => [k, await ctx.read(t)] as const)));
        const grads = METHOD_SPECS[layer.method].unpack({ u: packed.U!, d: packed.D!, ...(packed.m ? { m: packed.m } : {}) }, layer.cfg, layer.base);
        const p = params.get(`${name}.weight`)!;
        // Probe a few entries of each tensor: central differences in f64 on the reference loss.
        for (const tensorName of checkedTensors ?? Object.keys(p.tensors)) {
          const f64 = new Map([...params].map(([k, v]) => [k, { ...v, tensors: Object.fromEntries(Object.entries(v.tensors).map(([n, x]) => [n, { shape: x.shape, data: Float64Array.from(x.data) }])) }]));
          const probe = f64.get(`${name}.weight`)!.tensors[tensorName]!.data;
          for (const idx of [0, Math.floor(probe.length / 2), probe.length - 1]) {
            const h = 1e-5;
            const orig = probe[idx]!;
            probe[idx] = orig + h;
            const up = modelForwardRef(config, weights, batch, { config: defaultAdapterConfig(adapter), targets, params: f64 }).loss;
            probe[idx] = orig - h;
            const down = modelForwardRef(config, weights, batch, { config: defaultAdapterConfig(adapter), targets, params: f64 }).loss;
            probe[idx] = orig;
            const fd = (up - down) / (2 * h);
            const g = grads.tensors[tensorName]!.data[idx]!;
            const err = Math.abs(g - fd) / Math.max(1e-3, Math.abs(fd));
            expect(record('grad vs finite differences (relative, floor 1e-3)', err), `${name}.${tensorName}[${idx}]: gpu ${g} fd ${fd}`).toBeLessThanOrEqual(2e-3);
            checked++;
          }
        }
      }
      expect(checked).toBeGreaterThan(0);
      model.destroy();
    }, 120_000);
  }
});
