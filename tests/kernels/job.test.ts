// The main job end to end, shortened: stories260K fine-tuned on the built-in story task (a few
// hundred examples), evaluated before and after, merged, exported in Hugging Face format,
// reloaded from those files and evaluated again; and `compare` on a small setting.

import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareCommand } from '../../src/cli/compare';
import { parseSafetensors } from '../../src/io/safetensors';
import { loadModel } from '../../src/io/load';
import { loadModelInNode } from '../../src/io/node-source';
import { expectedWeights } from '../../src/model/names';
import { GpuModel } from '../../src/model/gpu-model';
import { generateStoryTask } from '../../src/tasks/story';
import { prepareTask, tokenizeMultipleChoiceItems } from '../../src/tasks/protocol';
import { scoreMultipleChoice } from '../../src/train/eval';
import { runJob } from '../../src/train/job';
import { gpu } from './gpu';
import { SHORT_JOB } from './job-settings';

describe('the main job, shortened', () => {
  it('learns the story task above chance, and the merged export reloads with the same accuracy', async () => {
    const ctx = await gpu();
    const model = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
    const task = generateStoryTask(SHORT_JOB.story);
    const result = await runJob(ctx, model, task, SHORT_JOB.job);
    const m = result.metrics;
    console.log(
      `story (shortened): ${m.train.steps} steps; accuracy ${(100 * m.before.accuracy).toFixed(1)}% → ${(100 * m.after.accuracy).toFixed(1)}% ` +
        `(merged ${(100 * m.merged.accuracy).toFixed(1)}%), chance ${(100 * m.chance).toFixed(1)}%, merge gap ${m.mergeGapPoints.toFixed(2)} pp`,
    );
    // Learned: clearly above chance (SHORT_JOB.margin points) and above the untrained model.
    expect(m.after.accuracy).toBeGreaterThan(m.chance + SHORT_JOB.margin);
    expect(m.after.accuracy).toBeGreaterThan(m.before.accuracy);
    // Merged in memory vs adapters live: the same predictions but for float rounding (≤ 1 item).
    expect(Math.abs(m.merged.accuracy - m.after.accuracy)).toBeLessThanOrEqual(1 / m.after.items + 1e-12);

    // The files: every tensor of the base, named and shaped as the Hugging Face export of it.
    const files = result.artifacts;
    for (const name of ['model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'adapter_model.safetensors', 'adapter_config.json', 'metrics.json', 'report.md', 'loss-curve.svg']) {
      expect(files.has(name), name).toBe(true);
    }
    const st = parseSafetensors(files.get('model.safetensors')!, 'model.safetensors');
    const reloaded = await loadModel({ kind: 'files', name: 'merged', files: [...files].map(([name, bytes]) => ({ name, bytes: async () => bytes })) });
    const expected = expectedWeights(reloaded.config);
    expect(new Set(st.tensors.keys())).toEqual(new Set(expected.keys()));
    for (const [name, shape] of expected) {
      expect(st.tensors.get(name)!.shape, name).toEqual(shape);
      expect(st.tensors.get(name)!.dtype, name).toBe('F32');
    }
    // Reloaded from the files (Hugging Face layout: rotate-half RoPE, permuted q/k): the same
    // accuracy as the merged model in memory, within one item (float summation order only).
    const prepared = prepareTask(task, { seed: SHORT_JOB.job.train.seed ?? 0, maxTrain: SHORT_JOB.job.maxTrain, maxEval: SHORT_JOB.job.maxEval });
    if (prepared.kind !== 'multiple-choice') throw new Error('story is multiple-choice');
    const evalItems = tokenizeMultipleChoiceItems(prepared.eval, prepared.template, reloaded.tokenizer, 256).items;
    const fromDisk = new GpuModel(ctx, reloaded.config, reloaded.weights);
    const r = await scoreMultipleChoice(fromDisk, evalItems);
    fromDisk.destroy();
    expect(Math.abs(r.accuracySum - m.merged.accuracySum)).toBeLessThanOrEqual(1 / r.items + 1e-12);
  }, 900_000);
});

describe('compare', () => {
  it('runs every method over a seed and writes its table', async () => {
    const out = mkdtempSync(join(tmpdir(), 'd2lora-compare-'));
    const code = await compareCommand({
      model: 'stories260K',
      task: 'story',
      r: 2,
      alpha: 4,
      tau: 0.5,
      targets: 'q_proj,v_proj',
      lr: 3e-3,
      batch: 8,
      'seq-len': 128,
      epochs: 1,
      'max-train': 24,
      'max-eval': 12,
      scoring: 'sum',
      decay: 'linear',
      warmup: 0,
      seeds: '0',
      out,
    });
    expect(code).toBe(0);
    const table = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as { rows: { method: string; runs: number; msPerStep: number }[] };
    expect(table.rows.map((r) => r.method)).toEqual(['LoRA r=2', 'LoRA r=4', 'DoRA r=2', 'D2-LoRA r=2']);
    for (const row of table.rows) {
      expect(row.runs).toBe(1);
      expect(row.msPerStep).toBeGreaterThan(0);
    }
    expect(readdirSync(out).filter((f) => f.endsWith('.metrics.json'))).toHaveLength(4);
  }, 600_000);
});
