// End-to-end training throughput: one optimizer step (forward, backward, AdamW) of a whole
// model with adapters on q, k, v, o, timed by wall clock to completion, as tokens per second.
// Two objectives: the loss at every position (what the PyTorch + PEFT reference measured) and
// at the answer tokens only (what fine-tuning on QA does: the classifier runs on those rows).

import type { AdapterConfig } from '../adapters/config';
import type { GpuContext } from '../gpu/context';
import type { ModelConfig, WeightMap } from '../model/config';
import { validateModelConfig } from '../model/config';
import { GpuModel } from '../model/gpu-model';
import type { TokenizedExample } from '../train/batching';
import { Trainer } from '../train/trainer';
import { Rng } from '../util/rng';
import { defaultAdapterConfig, defaultTrainConfig } from '../run/spec';

export interface TrainingBenchRow {
  model: string;
  method: string;
  loss: 'every position' | 'answer only';
  batch: number;
  seq: number;
  msPerStep: number;
  tokensPerSecond: number;
  /** Peak bytes of GPU tensor buffers during the steps. */
  peakBytes: number;
}

/** SmolLM2-135M's architecture (hidden 576, 30 layers, 9 heads, 3 KV heads, vocab 49152, tied). */
export const SMOLLM2_135M_SHAPE: ModelConfig = validateModelConfig(
  {
    family: 'llama',
    vocabSize: 49152,
    hiddenSize: 576,
    intermediateSize: 1536,
    numLayers: 30,
    numHeads: 9,
    numKvHeads: 3,
    headDim: 64,
    maxPositions: 2048,
    normEps: 1e-5,
    ropeTheta: 100000,
    ropeStyle: 'half',
    tiedEmbeddings: true,
    attentionBias: false,
    bosTokenId: 1,
    eosTokenId: 2,
  },
  'SmolLM2-135M shape',
);

/** The methods timed, and D2-LoRA once more recomputing its activations in the backward (the memory option). */
const METHODS: [string, Partial<AdapterConfig>, { recomputeActivations: boolean }][] = [
  ['LoRA r=8', { method: 'lora', r: 8, alpha: 16 }, { recomputeActivations: false }],
  ['DoRA r=8', { method: 'dora', r: 8, alpha: 16 }, { recomputeActivations: false }],
  ['D2-LoRA r=8', { method: 'd2lora', r: 8, alpha: 16 }, { recomputeActivations: false }],
  ['D2-LoRA r=8, recomputing', { method: 'd2lora', r: 8, alpha: 16 }, { recomputeActivations: true }],
];

/** Answer-only objective: the last ANSWER_TOKENS tokens of each sequence carry the loss. */
const ANSWER_TOKENS = 16;

export async function benchTraining(
  ctx: GpuContext,
  model: { name: string; config: ModelConfig; weights: WeightMap },
  opts: { batch?: number; seq?: number; steps?: number; onRow?: (r: TrainingBenchRow) => void } = {},
): Promise<TrainingBenchRow[]> {
  const batch = opts.batch ?? 8;
  const seq = Math.min(opts.seq ?? 256, model.config.maxPositions);
  const steps = opts.steps ?? 5;
  const rng = new Rng(11);
  const sequences = Array.from({ length: batch }, () => Array.from({ length: seq }, () => 3 + Math.floor(rng.nextFloat() * (model.config.vocabSize - 3))));
  const rows: TrainingBenchRow[] = [];
  for (const loss of ['every position', 'answer only'] as const) {
    const examples: TokenizedExample[] = sequences.map((tokens) => ({ tokens, targetStart: loss === 'every position' ? 1 : seq - ANSWER_TOKENS }));
    for (const [method, adapter, options] of METHODS) {
      const gpuModel = new GpuModel(ctx, model.config, model.weights, { config: defaultAdapterConfig(adapter), targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
      // Enough copies of the batch for warm-up + timed steps, one epoch, constant learning rate.
      const trainer = new Trainer(gpuModel, Array.from({ length: steps + 1 }, () => examples).flat(), defaultTrainConfig({
        batchSize: batch,
        epochs: 1,
        lr: 1e-4,
        warmupRatio: 0,
        decay: 'constant',
      }), options);
      await trainer.trainStep(); // warm-up: pipelines, buffer pool
      await trainer.settle();
      ctx.resetPeakMemory();
      const times: number[] = [];
      for (let s = 0; s < steps; s++) {
        const t0 = performance.now();
        await trainer.trainStep();
        await ctx.sync();
        times.push(performance.now() - t0);
      }
      await trainer.settle();
      times.sort((a, b) => a - b);
      const ms = times[Math.floor(times.length / 2)]!;
      const row: TrainingBenchRow = { model: model.name, method, loss, batch, seq, msPerStep: ms, tokensPerSecond: (batch * seq) / (ms / 1000), peakBytes: ctx.memory.peak };
      rows.push(row);
      opts.onRow?.(row);
      trainer.destroy();
      gpuModel.destroy();
    }
  }
  return rows;
}
