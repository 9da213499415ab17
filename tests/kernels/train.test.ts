// Training on the GPU end to end: stories260K learns a fixed prompt → answer mapping with each
// method (the masked loss falls by a stated margin, identically on a second run), and a run
// stopped, saved and resumed in a fresh trainer ends bit for bit where an uninterrupted run does.

import { describe, expect, it } from 'vitest';
import type { AdapterConfig } from '../../src/adapters/config';
import { loadModelInNode } from '../../src/io/node-source';
import { GpuModel } from '../../src/model/gpu-model';
import type { Tokenizer } from '../../src/tokenizer/types';
import type { TokenizedExample } from '../../src/train/batching';
import { decodeTrainerState, encodeTrainerState } from '../../src/train/state-file';
import { Trainer } from '../../src/train/trainer';
import { gpu } from './gpu';
import { defaultAdapterConfig, defaultTrainConfig } from '../../src/run/spec';

/** stories260K through the project's own loader, from the mirror (checked by sha256). */
function loadStories() {
  return loadModelInNode({ kind: 'preset', name: 'stories260K' });
}

/** "<Name> has a ball. The ball is" → " <colour>", each name with its own colour. */
function mappingExamples(tokenizer: Tokenizer, count: number): TokenizedExample[] {
  const names = ['Lily', 'Tom', 'Ben', 'Sue', 'Max', 'Anna', 'Tim', 'Mia'];
  const colors = ['red', 'blue', 'green', 'yellow', 'red', 'blue', 'green', 'yellow'];
  return Array.from({ length: count }, (_, i) => {
    const k = i % names.length;
    const prompt = tokenizer.encode(`${names[k]} has a ball. The ball is`, { bos: true });
    const answer = tokenizer.encode(`${names[k]} has a ball. The ball is ${colors[k]}.`, { bos: true }).slice(prompt.length);
    return { tokens: [...prompt, ...answer], targetStart: prompt.length };
  });
}

const TRAIN = defaultTrainConfig({ epochs: 2, batchSize: 16, lr: 1e-2, warmupRatio: 0.1, seed: 3 });

/** Trains (for `untilStep` steps, default all) and reports the masked loss before and after. */
async function trainOnce(method: AdapterConfig['method'], untilStep?: number) {
  const ctx = await gpu();
  const { config, weights, tokenizer } = await loadStories();
  const examples = mappingExamples(tokenizer, 192);
  const model = new GpuModel(ctx, config, weights, { config: defaultAdapterConfig({ method, r: 4, alpha: 8 }) });
  const trainer = new Trainer(model, examples, TRAIN);
  const before = await trainer.evaluateLoss(examples.slice(0, 32));
  await trainer.run(untilStep === undefined ? {} : { untilStep });
  const after = await trainer.evaluateLoss(examples.slice(0, 32));
  const history = trainer.history.map((h) => h.loss);
  trainer.destroy();
  model.destroy();
  return { before, after, history };
}

describe('training stories260K on a fixed prompt → answer mapping', () => {
  for (const method of ['d2lora', 'lora', 'dora'] as const) {
    it(`${method}: the masked loss falls by more than half, deterministically`, async () => {
      const first = await trainOnce(method);
      console.log(`${method}: masked loss ${first.before.toFixed(3)} → ${first.after.toFixed(3)} over ${first.history.length} steps`);
      expect(first.after).toBeLessThan(0.5 * first.before);
      // Determinism: a second run from the same seed retraces the first one's losses exactly.
      const second = await trainOnce(method, 6);
      expect(second.history).toEqual(first.history.slice(0, 6));
    }, 180_000);
  }
});

describe('saved trainer state', () => {
  it('stopping at step 5, saving and resuming in a fresh trainer ends exactly like an uninterrupted run', async () => {
    const ctx = await gpu();
    const { config, weights, tokenizer } = await loadStories();
    const examples = mappingExamples(tokenizer, 64);
    const cfg = { ...TRAIN, epochs: 1, batchSize: 8 };
    const adapter = { config: defaultAdapterConfig({ method: 'd2lora', r: 4, alpha: 8 }) };

    const straight = new GpuModel(ctx, config, weights, adapter);
    const t1 = new Trainer(straight, examples, cfg);
    await t1.run();
    const endParams = await Promise.all(straight.adapters().map(({ layer }) => layer.readParams()));
    const endHistory = t1.history.map((h) => h.loss);
    t1.destroy();
    straight.destroy();

    const first = new GpuModel(ctx, config, weights, adapter);
    const t2 = new Trainer(first, examples, cfg);
    await t2.run({ untilStep: 5 });
    const file = encodeTrainerState(await t2.saveState());
    t2.destroy();
    first.destroy();

    const resumed = new GpuModel(ctx, config, weights, adapter);
    const t3 = new Trainer(resumed, examples, cfg);
    await t3.loadState(decodeTrainerState(file.tensors, file.json));
    expect(t3.step).toBe(5);
    await t3.run();
    const resumedParams = await Promise.all(resumed.adapters().map(({ layer }) => layer.readParams()));
    expect(t3.history.map((h) => h.loss)).toEqual(endHistory);
    resumedParams.forEach((p, i) => {
      for (const [k, t] of Object.entries(p.tensors)) expect(Array.from(t.data), k).toEqual(Array.from(endParams[i]!.tensors[k]!.data));
    });
    t3.destroy();
    resumed.destroy();
  }, 180_000);
});
