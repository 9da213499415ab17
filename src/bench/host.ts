// Host overhead of a training step: what the CPU spends recording and submitting one step
// (forward, backward, AdamW) of a whole model with adapters on q, k, v, o, and what the runtime
// creates on the device per step once warm (it should create nothing, and submit once).
//
// Run on Dawn's null backend, which validates every call and executes nothing, the whole step's
// wall time is host time; on a real adapter, the recording time (trainStep up to its first
// await: batch, dispatches, submit) is host time and the rest is waiting for the GPU. The
// read-backs of a null device hold garbage, so the step figures the trainer reports are
// meaningless there and its divergence watch is not consulted: only the time and the counts are.

import type { AdapterConfig } from '../adapters/config';
import type { CreationCounts, GpuContext } from '../gpu/context';
import { validateModelConfig, type ModelConfig, type WeightMap } from '../model/config';
import { GpuModel } from '../model/gpu-model';
import type { TokenizedExample } from '../train/batching';
import { Trainer, TrainingDivergedError } from '../train/trainer';
import { defaultAdapterConfig, defaultTrainConfig } from '../run/spec';
import { Rng } from '../util/rng';
import { SMOLLM2_135M_SHAPE } from './training';

export interface HostBenchRow {
  model: string;
  method: string;
  batch: number;
  seq: number;
  /** Median wall time of a step (trainStep resolved and the GPU idle). */
  wallMs: number;
  /** Median time trainStep spends before its first await: recording and submitting the step. */
  recordMs: number;
  /** Median CPU time of the process over that same span (a busy machine inflates recordMs, not this). */
  recordCpuMs: number | null;
  /** Device objects created and command buffers submitted per step after the first two, on average. */
  perStep: CreationCounts;
  /** Steps timed (after two warm-up steps). */
  steps: number;
}

/**
 * SmolLM2-135M's topology at an eighth of its width: its 30 layers, 9 query and 3 key-value
 * heads, vocabulary of 49152 and tied classifier, so that a step at batch 8 × 256 records the
 * same dispatches, bindings and loss chunks, with head size 8 (hidden 72, MLP 192). The null
 * backend holds at most 512 MiB of buffers: the real width needs 540 MB of weights and about
 * 2 GB of saved activations. Host work depends on what is dispatched, not on how wide it is.
 */
export const SMOLLM2_135M_TOPOLOGY: ModelConfig = validateModelConfig(
  { ...SMOLLM2_135M_SHAPE, hiddenSize: 72, headDim: 8, intermediateSize: 192 },
  'SmolLM2-135M topology at 1/8 width',
);

export const HOST_BENCH_METHODS: readonly [string, Partial<AdapterConfig>][] = [
  ['LoRA r=8', { method: 'lora', r: 8, alpha: 16 }],
  ['DoRA r=8', { method: 'dora', r: 8, alpha: 16 }],
  ['D2-LoRA r=8', { method: 'd2lora', r: 8, alpha: 16 }],
];

function difference(after: CreationCounts, before: CreationCounts, steps: number): CreationCounts {
  const out = { ...after };
  for (const k of Object.keys(out) as (keyof CreationCounts)[]) out[k] = (after[k] - before[k]) / steps;
  return out;
}

/** Runs one step, ignoring a divergence (a null device's read-backs are garbage). */
async function step(trainer: Trainer, onSync: () => void = () => undefined): Promise<void> {
  try {
    const pending = trainer.trainStep();
    onSync();
    await pending;
  } catch (e) {
    if (!(e instanceof TrainingDivergedError)) throw e;
  }
}

export async function benchHost(
  ctx: GpuContext,
  model: { name: string; config: ModelConfig; weights: WeightMap },
  opts: {
    batch?: number;
    seq?: number;
    steps?: number;
    methods?: readonly [string, Partial<AdapterConfig>][];
    /** The process's CPU time in ms (Node: process.cpuUsage), for recordCpuMs. */
    cpuClock?: () => number;
    onRow?: (r: HostBenchRow) => void;
  } = {},
): Promise<HostBenchRow[]> {
  const batch = opts.batch ?? 8;
  const seq = Math.min(opts.seq ?? 256, model.config.maxPositions);
  const steps = opts.steps ?? 10;
  const rng = new Rng(13);
  const examples: TokenizedExample[] = Array.from({ length: batch }, () => ({
    tokens: Array.from({ length: seq }, () => 3 + Math.floor(rng.nextFloat() * (model.config.vocabSize - 3))),
    targetStart: 1,
  }));
  const rows: HostBenchRow[] = [];
  for (const [method, adapter] of opts.methods ?? HOST_BENCH_METHODS) {
    const gpuModel = new GpuModel(ctx, model.config, model.weights, { config: defaultAdapterConfig(adapter), targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
    const trainer = new Trainer(gpuModel, Array.from({ length: steps + 2 }, () => examples).flat(), defaultTrainConfig({
      batchSize: batch,
      epochs: 1,
      lr: 1e-4,
      warmupRatio: 0,
      decay: 'constant',
    }));
    try {
      // Warm-up: the first step creates pipelines, buffers and bind groups; the second one more
      // read-back staging buffer, since its read is in flight beside the first's.
      await step(trainer);
      await step(trainer);
      await ctx.sync();
      const before = ctx.created;
      const wall: number[] = [];
      const record: number[] = [];
      const recordCpu: number[] = [];
      const cpuClock = opts.cpuClock;
      for (let s = 0; s < steps; s++) {
        const cpu0 = cpuClock?.() ?? 0;
        const t0 = performance.now();
        await step(trainer, () => {
          record.push(performance.now() - t0);
          if (cpuClock) recordCpu.push(cpuClock() - cpu0);
        });
        await ctx.sync();
        wall.push(performance.now() - t0);
      }
      const perStep = difference(ctx.created, before, steps);
      await trainer.settle().catch((e: unknown) => {
        if (!(e instanceof TrainingDivergedError)) throw e;
      });
      const row: HostBenchRow = { model: model.name, method, batch, seq, wallMs: median(wall), recordMs: median(record), recordCpuMs: cpuClock ? median(recordCpu) : null, perStep, steps };
      rows.push(row);
      opts.onRow?.(row);
    } finally {
      trainer.destroy();
      gpuModel.destroy();
    }
  }
  return rows;
}

function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
