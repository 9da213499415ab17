// Recomputing activations (GpuModel.run's `recompute`, the run's limits.recomputeActivations):
// each layer's forward runs again just before its backward instead of keeping its activations.
// The kernels are deterministic, so training must give the same losses and adapter parameters,
// bit for bit, while the step's peak GPU memory falls (one layer's saved tensors instead of
// every layer's).

import { describe, expect, it } from 'vitest';
import type { AdapterConfig } from '../../src/adapters/config';
import { loadModelInNode } from '../../src/io/node-source';
import { GpuModel } from '../../src/model/gpu-model';
import { defaultAdapterConfig, defaultTrainConfig } from '../../src/run/spec';
import { Trainer } from '../../src/train/trainer';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

describe('recomputing activations in the backward', () => {
  for (const method of ['lora', 'dora', 'd2lora'] as const satisfies readonly AdapterConfig['method'][]) {
    it(`${method}: the same losses and adapters bit for bit, and a lower peak`, async () => {
      const ctx = await gpu();
      const { config, weights } = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
      const rng = new Rng(11);
      const examples = Array.from({ length: 8 * 3 }, () => ({
        tokens: Array.from({ length: 96 }, () => 3 + Math.floor(rng.nextFloat() * (config.vocabSize - 3))),
        targetStart: 80,
      }));
      const train = async (recomputeActivations: boolean) => {
        ctx.trimPool();
        await ctx.sync();
        const before = ctx.memory.current;
        ctx.resetPeakMemory();
        const model = new GpuModel(ctx, config, weights, { config: defaultAdapterConfig({ method, r: 4, alpha: 8 }) });
        const trainer = new Trainer(model, examples, defaultTrainConfig({ epochs: 1, batchSize: 8, lr: 1e-2, warmupRatio: 0 }), { recomputeActivations });
        try {
          for (let s = 0; s < 3; s++) await trainer.trainStep();
          await trainer.settle();
          const params = await Promise.all(model.adapters().map(({ layer }) => layer.readParams()));
          return { losses: trainer.history.map((h) => h.loss), params, peak: ctx.memory.peak - before };
        } finally {
          trainer.destroy();
          model.destroy();
        }
      };
      const kept = await train(false);
      const recomputed = await train(true);
      expect(recomputed.losses).toEqual(kept.losses);
      expect(kept.losses[2]).not.toBe(kept.losses[0]); // the steps did train
      expect(recomputed.params).toEqual(kept.params);
      console.log(`${method}: peak ${kept.peak} bytes keeping the activations, ${recomputed.peak} recomputing them (${(recomputed.peak / kept.peak).toFixed(2)}×)`);
      expect(recomputed.peak).toBeLessThan(0.8 * kept.peak);
    });
  }
});
