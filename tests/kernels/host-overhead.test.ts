// What a warm training step asks of the host (src/gpu/context.ts, CreationCounts): once two steps
// of a shape have run (the first creates everything, the second one more read-back staging
// buffer, its read being in flight beside the first's), a step creates no buffer, bind group,
// pipeline or shader module, and encodes and submits one command buffer, for every method. These
// are counts, not timings: `d2lora bench --suite host` prints the time. And the two paths that
// keep a step in one submission stay in order with the recorded work: a write while work is
// recorded (through the upload ring), and a batch with more dispatches than the uniform ring has
// slots (submitted when the ring is full).

import { describe, expect, it } from 'vitest';
import type { AdapterConfig } from '../../src/adapters/config';
import type { CreationCounts } from '../../src/gpu/context';
import { loadModelInNode } from '../../src/io/node-source';
import { GpuModel } from '../../src/model/gpu-model';
import { addInto } from '../../src/ops/activations';
import { defaultAdapterConfig, defaultTrainConfig } from '../../src/run/spec';
import { Trainer } from '../../src/train/trainer';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

const WARM_STEPS = 2;
const COUNTED_STEPS = 3;

function difference(after: CreationCounts, before: CreationCounts): CreationCounts {
  const out = { ...after };
  for (const k of Object.keys(out) as (keyof CreationCounts)[]) out[k] = after[k] - before[k];
  return out;
}

describe('host work of a training step', () => {
  for (const method of ['lora', 'dora', 'd2lora'] as const satisfies readonly AdapterConfig['method'][]) {
    it(`${method}: a warm step creates nothing on the device and submits one command buffer`, async () => {
      const ctx = await gpu();
      const { config, weights } = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
      // Every batch of one shape (8 sequences of 24 tokens), so that no step meets a new size.
      const rng = new Rng(7);
      const examples = Array.from({ length: 8 * (WARM_STEPS + COUNTED_STEPS) }, () => ({
        tokens: Array.from({ length: 24 }, () => 3 + Math.floor(rng.nextFloat() * (config.vocabSize - 3))),
        targetStart: 4,
      }));
      const model = new GpuModel(ctx, config, weights, { config: defaultAdapterConfig({ method, r: 4, alpha: 8 }) });
      const trainer = new Trainer(model, examples, defaultTrainConfig({ epochs: 1, batchSize: 8, lr: 1e-3, warmupRatio: 0 }));
      try {
        for (let s = 0; s < WARM_STEPS; s++) await trainer.trainStep();
        const before = ctx.created;
        const dispatches: number[] = [];
        for (let s = 0; s < COUNTED_STEPS; s++) {
          const d0 = ctx.created.dispatches;
          await trainer.trainStep();
          dispatches.push(ctx.created.dispatches - d0);
        }
        const { dispatches: all, ...perRun } = difference(ctx.created, before);
        expect(perRun).toEqual({ buffers: 0, bindGroups: 0, pipelines: 0, shaderModules: 0, commandEncoders: COUNTED_STEPS, submissions: COUNTED_STEPS });
        // Every warm step records the same dispatches (the count the host benchmark prints).
        expect(dispatches.every((d) => d === dispatches[0]) && dispatches[0]! > 0).toBe(true);
        expect(all).toBe(COUNTED_STEPS * dispatches[0]!);
        await trainer.settle();
        expect(trainer.history.every((h) => Number.isFinite(h.loss))).toBe(true);
      } finally {
        trainer.destroy();
        model.destroy();
      }
    }, 120_000);
  }
});

describe('one submission, in order', () => {
  it('a write while work is recorded reaches only the work recorded after it, also past the upload ring\'s first size', async () => {
    const ctx = await gpu();
    // 40 000 values (160 kB): more than the upload ring's first 64 KiB, so it grows mid-batch.
    for (const n of [7, 40_000]) {
      const a = ctx.upload(Float32Array.from({ length: n }, (_, i) => i), [n], 'a');
      const before = ctx.zeros([n], 'f32', 'a + a before the write');
      addInto(ctx, { acc: before, x: a }, { n });
      addInto(ctx, { acc: before, x: a }, { n });
      const submissions = ctx.created.submissions;
      ctx.write(a, Float32Array.from({ length: n }, (_, i) => -3 * i));
      expect(ctx.created.submissions, 'the write did not submit the recorded work').toBe(submissions);
      const after = ctx.zeros([n], 'f32', 'a + a after the write');
      addInto(ctx, { acc: after, x: a }, { n });
      addInto(ctx, { acc: after, x: a }, { n });
      const [x, y] = await ctx.readAll([before, after]);
      // Small integers: every sum is exact in f32 (and 0 + −0 is +0).
      expect(Array.from(x!)).toEqual(Array.from({ length: n }, (_, i) => 2 * i));
      expect(Array.from(y!)).toEqual(Array.from({ length: n }, (_, i) => 0 - 6 * i));
      for (const t of [a, before, after]) t.release();
    }
  });

  it('a batch of more dispatches than the uniform ring has slots gives every one its own parameters', async () => {
    const ctx = await gpu();
    await ctx.sync();
    // 16384 slots of 256 bytes (UNIFORM_RING_BYTES); each addInto has n in its uniform. The
    // lengths alternate, so a dispatch that read another's slot would add the wrong count.
    const dispatches = 17_000;
    const acc = ctx.zeros([8], 'f32', 'acc');
    const one = ctx.upload(new Float32Array(8).fill(1), [8], 'ones');
    const submissions = ctx.created.submissions;
    for (let i = 0; i < dispatches; i++) addInto(ctx, { acc, x: one }, { n: i % 2 === 0 ? 8 : 3 });
    const values = await ctx.read(acc);
    // acc[j] = number of dispatches that covered j: all 17 000 for j < 3, the 8 500 even ones above.
    expect(Array.from(values)).toEqual([17_000, 17_000, 17_000, 8_500, 8_500, 8_500, 8_500, 8_500]);
    expect(ctx.created.submissions - submissions, 'one submission when the ring filled, one for the read').toBe(2);
    acc.release();
    one.release();
  }, 120_000);
});
