// The page's setup against the run it sets up:
//   - inspectModel and inspectTask (src/run/inspect.ts) report what the Run's load-model and
//     tokenize stages report for the same spec — the model summary; the protocol's counts, notes,
//     truncation, chance and previewed items — and the estimates (src/run/estimate.ts) give the
//     trainable parameters and steps of its 'tokenized' event, for every method, all targets and
//     early stopping; a malformed task file fails the inspection as it fails the run;
//   - the memory estimate of a training step against ctx.memory.peak of real steps (forward,
//     backward, AdamW) of stories260K, tiny Llama / Qwen2 / GPT-2 and a random SmolLM2-135M-shaped
//     model: within MEMORY_TOLERANCE.
// Only the training step is compared: over a whole Run the buffer pool also keeps one set of
// buffers per distinct padded batch length, which no estimate from the spec can know.

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SMOLLM2_135M_SHAPE } from '../../src/bench/training';
import type { GpuContext } from '../../src/gpu/context';
import { loadModelInNode } from '../../src/io/node-source';
import type { ModelConfig, WeightMap } from '../../src/model/config';
import { GpuModel } from '../../src/model/gpu-model';
import { randomWeights } from '../../src/model/random';
import { comparedAdapter } from '../../src/run/spec';
import { estimateMemory, resolveTargets, trainableParameters, trainingSteps } from '../../src/run/estimate';
import { inspectModel, inspectTask } from '../../src/run/inspect';
import { nodeRunEnvironment, type NodeRunLocations } from '../../src/run/node-env';
import { Run, type RunEvent } from '../../src/run/run';
import { adapterConfigOf, defaultStoryOptions, runSpecWith, trainConfigOf, type RunSpec, type RunSpecInput } from '../../src/run/spec';
import { generateStoryTask } from '../../src/tasks/story';
import { Trainer } from '../../src/train/trainer';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';
import { tinyConfig } from './tiny-models';

/**
 * The estimate against the measured peak of a training step: ±15%. Measured on this engine
 * (2026-12-02): from −4.3% (unprojected D2-LoRA on the tiny models, where the pool's reuse of
 * equal-sized buffers differs most from the estimate's count) to +0.5%; stories260K −2.3% to
 * +0.5% over 9 settings, the SmolLM2-135M shape +0.02%. An allocation the estimate does not know
 * of (a new saved tensor, a kernel's scratch buffer) shows here first.
 */
const MEMORY_TOLERANCE = 0.15;

type Tokenized = Extract<RunEvent, { type: 'tokenized' }>;

/**
 * What a Run reports up to its tokenize stage: the model and the tokenized task. It is cancelled
 * from the 'tokenized' event itself, with the trainer's zeroed moments still only recorded: the
 * release submits them before freeing the buffers, so the context's next run is unharmed (each
 * test here runs several on one context).
 */
async function runUntilTokenized(ctx: GpuContext, spec: RunSpec, at: NodeRunLocations = {}): Promise<{ model: Extract<RunEvent, { type: 'model' }>; tokenized: Tokenized }> {
  const run = new Run(nodeRunEnvironment(ctx, at), spec);
  let model: Extract<RunEvent, { type: 'model' }> | null = null;
  let tokenized: Tokenized | null = null;
  run.events.on((e) => {
    if (e.type === 'model') model = e;
    if (e.type === 'tokenized') {
      tokenized = e;
      run.cancel();
    }
  });
  await run.start().catch((e: Error) => {
    if (e.name !== 'RunCancelledError') throw e;
  });
  if (model === null || tokenized === null) throw new Error('the run ended before its tokenize stage');
  return { model, tokenized };
}

const sha256Of = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const noHooks = () => ({ onProgress: () => undefined, signal: new AbortController().signal });

describe('the setup inspection is the run\'s own tokenize stage', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'd2lora-setup-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const items = generateStoryTask(defaultStoryOptions({ trainSize: 0, testSize: 60 })).test;
  const jsonl = join(scratch, 'stories.jsonl');
  writeFileSync(jsonl, items.map((it) => JSON.stringify({ ctx: `${it.context} ${it.question}`, endings: it.choices, label: it.answer })).join('\n') + '\n');

  const small = { training: { batch: 8, epochs: 2 }, limits: { maxTrain: 300, maxEval: 40 } } satisfies RunSpecInput;
  const cases: [string, RunSpecInput, NodeRunLocations?][] = [
    ['the story task, D2-LoRA', { ...small, task: { kind: 'story', trainSize: 300, testSize: 40 } }],
    ['ARC-Easy (prompts cut to 128 tokens), LoRA on every linear layer', {
      ...small, task: { kind: 'catalog', name: 'ARC-Easy' }, adapter: { method: 'lora', r: 4 }, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], limits: { ...small.limits, maxLength: 128 },
    }],
    ['PIQA (a dev split), DoRA with early stopping', { ...small, task: { kind: 'catalog', name: 'piqa' }, adapter: { method: 'dora' }, training: { batch: 16, epochs: 1, earlyStopping: { devItems: 40 } } }],
    ['a JSONL file named as hellaswag, LoRA 2r', { ...small, task: { kind: 'file', name: 'hellaswag', test: { name: 'stories.jsonl', sha256: '0'.repeat(64) } }, adapter: comparedAdapter({ method: 'd2lora', r: 8, alpha: 16 }, 'lora2r') }, { taskFiles: { test: jsonl } }],
  ];

  it.each(cases)('%s', async (label, input, at) => {
    const ctx = await gpu();
    let specInput = input;
    if (at?.taskFiles !== undefined) specInput = { ...input, task: { ...(input.task as object), test: { name: 'stories.jsonl', sha256: sha256Of(at.taskFiles.test) } } as RunSpecInput['task'] };
    const spec = runSpecWith(specInput);
    const env = nodeRunEnvironment(ctx, at);
    const model = await inspectModel(env, spec.model, noHooks(), ctx.limits);
    const task = await inspectTask(env, spec, noHooks());
    const run = await runUntilTokenized(ctx, spec, at);

    expect(model.summary).toEqual(run.model.model);
    expect(model.tooLarge).toBeNull();
    const t = run.tokenized;
    expect({ name: task.name, counts: task.counts, notes: task.notes, truncation: task.truncation, chance: task.chance, preview: task.preview }).toEqual({
      name: t.name, counts: t.counts, notes: t.notes, truncation: t.truncation, chance: t.chance, preview: t.preview,
    });
    expect(task.preview).toHaveLength(3);
    // The figures the page shows beside the method, against what the run counted.
    expect(trainableParameters(model.config, spec)).toBe(t.trainableParameters);
    const steps = trainingSteps(spec, Number(task.counts.trainTokenized));
    expect(steps).toEqual({ ok: true, examples: t.trainExamples, stepsPerEpoch: Math.ceil(t.trainExamples / spec.training.batch), totalSteps: t.totalSteps });
    // The lengths the memory estimate takes: the longest sequences the run will pad a batch to.
    expect(task.lengths.train).toBeLessThanOrEqual(task.truncation.train.longest);
    expect(task.lengths.eval).toBe(task.truncation.eval.longest);
    expect(task.maxLength).toBe(Math.min(spec.limits.maxLength, model.config.maxPositions));
    console.log(`${label}: ${t.trainableParameters} trainable, ${t.totalSteps} steps; lengths ${JSON.stringify(task.lengths)}; truncated ${task.truncation.train.truncated}/${task.truncation.train.items}`);
  });

  it("says a model is too large for a device's buffers exactly as the run refuses it", async () => {
    const ctx = await gpu();
    const spec = runSpecWith({});
    // stories260K's embedding table is 512 × 64 f32 = 131,072 bytes.
    const limits = { maxBufferSize: 100_000, maxStorageBufferBindingSize: 2 ** 27 };
    const inspected = await inspectModel(nodeRunEnvironment(ctx), spec.model, noHooks(), limits);
    // The same run on a device with those limits stops at load-model, before anything is uploaded.
    const small = Object.create(ctx, { limits: { value: { ...ctx.limits, ...limits } } }) as GpuContext;
    const refused = await new Run(nodeRunEnvironment(small), spec).start().then(() => null, (e: Error) => e);
    expect(refused?.name).toBe('DeviceLimitError');
    expect(inspected.tooLarge).toBe(refused?.message);
    expect(inspected.tooLarge).toMatch(/\/stories260K\.bin: this device allows at most 100000 bytes per buffer \(maxBufferSize\); the embedding table/);
  });

  it('fails on a malformed task file as the run fails, naming the line and field', async () => {
    const ctx = await gpu();
    const bad = join(scratch, 'bad.jsonl');
    writeFileSync(bad, '{"question":"q","choices":["a","b"],"answer":0}\n{"question":"q2","choices":["a","b"]}\n');
    const spec = runSpecWith({ task: { kind: 'file', test: { name: 'bad.jsonl', sha256: sha256Of(bad) } } });
    const at = { taskFiles: { test: bad } };
    const inspected = await inspectTask(nodeRunEnvironment(ctx, at), spec, noHooks()).then(() => null, (e: Error) => e);
    const run = await new Run(nodeRunEnvironment(ctx, at), spec).start().then(() => null, (e: Error) => e);
    expect(inspected?.name).toBe('FormatError');
    expect(inspected?.message).toBe(`${bad}: line 2, field "answer": nothing; expected a field "answer" (present: question, choices)`);
    expect(inspected?.message).toBe(run?.message);
  });
});

/** Bytes of GPU buffers created while `steps` training steps run (the model's upload, the adapters and optimizer included). */
async function measureSteps(ctx: GpuContext, config: ModelConfig, weights: WeightMap, spec: RunSpec, seq: number, answer: number): Promise<number> {
  ctx.trimPool();
  await ctx.sync();
  const before = ctx.memory.current;
  ctx.resetPeakMemory();
  const rng = new Rng(3);
  const examples = Array.from({ length: 2 * spec.training.batch }, () => ({
    tokens: Array.from({ length: seq }, () => 3 + Math.floor(rng.nextFloat() * (config.vocabSize - 3))),
    targetStart: seq - answer,
  }));
  const model = new GpuModel(ctx, config, weights, { config: adapterConfigOf(spec), targets: resolveTargets(config, spec.targets).targets });
  const trainer = new Trainer(model, examples, trainConfigOf(spec), { recomputeActivations: spec.limits.recomputeActivations });
  try {
    await trainer.trainStep();
    await trainer.trainStep();
    await trainer.settle();
    return ctx.memory.peak - before;
  } finally {
    trainer.destroy();
    model.destroy();
  }
}

describe('the memory estimate against real training steps', () => {
  const everyLinear = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  const check = async (label: string, config: ModelConfig, weights: WeightMap, input: RunSpecInput, seq: number, answer: number) => {
    const ctx = await gpu();
    const spec = runSpecWith(input);
    const measured = await measureSteps(ctx, config, weights, spec, seq, answer);
    const estimated = estimateMemory(config, spec, { train: seq, eval: seq, trainAnswer: answer, evalAnswer: answer }).trainingStep;
    const error = estimated / measured - 1;
    console.log(`${label}: measured ${measured} bytes, estimated ${estimated} (${error >= 0 ? '+' : ''}${(100 * error).toFixed(1)}%)`);
    expect(Math.abs(error)).toBeLessThanOrEqual(MEMORY_TOLERANCE);
  };

  it('stories260K: each method, batches of 16 × 64 and 8 × 200, every linear layer at 4 × 32', async () => {
    const m = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
    for (const method of ['d2lora', 'lora', 'dora'] as const) {
      await check(`stories260K ${method} 16×64`, m.config, m.weights, { adapter: { method }, training: { batch: 16 } }, 64, 2);
      await check(`stories260K ${method} 8×200`, m.config, m.weights, { adapter: { method }, training: { batch: 8 } }, 200, 16);
      await check(`stories260K ${method} 4×32, every linear layer`, m.config, m.weights, { adapter: { method }, training: { batch: 4 }, targets: everyLinear }, 32, 31);
      await check(`stories260K ${method} 8×200, recomputing activations`, m.config, m.weights, { adapter: { method }, training: { batch: 8 }, limits: { recomputeActivations: true } }, 200, 16);
    }
  });

  it('tiny Llama, Qwen2 and GPT-2: D2-LoRA with and without projection, DoRA', async () => {
    for (const family of ['llama', 'qwen2', 'gpt2'] as const) {
      const config = { ...tinyConfig(family), maxPositions: 64 };
      const weights = randomWeights(config, 2);
      const targets = family === 'gpt2' ? ['c_attn', 'c_proj', 'c_fc'] : null;
      for (const adapter of [{ method: 'd2lora' as const }, { method: 'd2lora' as const, project: false }, { method: 'dora' as const }]) {
        await check(`tiny ${family} ${JSON.stringify(adapter)}`, config, weights, { adapter, targets, training: { batch: 3 } }, 37, 5);
      }
    }
  });

  it('a random SmolLM2-135M-shaped model (30 layers, width 576, vocabulary 49152): D2-LoRA at batch 2 × 24', async () => {
    await check('SmolLM2-135M shape d2lora 2×24', SMOLLM2_135M_SHAPE, randomWeights(SMOLLM2_135M_SHAPE, 1), { training: { batch: 2 } }, 24, 4);
  }, 300_000);
});
