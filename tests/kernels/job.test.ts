// The main job end to end, shortened: a Run of stories260K on the built-in story task (a few
// hundred examples), evaluated before and after, merged, exported in Hugging Face format,
// reloaded from those files and evaluated again; bit for bit the figures recorded in
// tests/fixtures/short-job-d2lora.json. The comparison is tests/kernels/compare.test.ts.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors';
import { loadModel } from '../../src/io/load';
import { expectedWeights } from '../../src/model/names';
import { GpuModel } from '../../src/model/gpu-model';
import { nodeRunEnvironment } from '../../src/run/node-env';
import { scoreItem } from '../../src/run/inspect';
import { selectArtifacts } from '../../src/run/output-files';
import { heldOutSplit, Run, RUN_STAGES, type RunEvent } from '../../src/run/run';
import { runSpecWith } from '../../src/run/spec';
import { generate } from '../../src/model/generate';
import { tokenizeMultipleChoiceItems } from '../../src/tasks/protocol';
import { scoreMultipleChoice } from '../../src/train/eval';
import { gpu } from './gpu';
import { SHORT_JOB } from './job-settings';

const recorded = JSON.parse(readFileSync(new URL('../fixtures/short-job-d2lora.json', import.meta.url), 'utf8')) as {
  steps: { loss: number; gradNorm: number }[];
  accuracy: Record<'before' | 'after' | 'merged', { sum: number; mean: number }>;
  mergedTensorsSha256: string;
};

/** sha256 over each tensor's name and f32 values, names sorted (the fixture's definition). */
function tensorsSha256(bytes: Uint8Array): string {
  const st = parseSafetensors(bytes, 'model.safetensors');
  const h = createHash('sha256');
  for (const name of [...st.tensors.keys()].sort()) {
    const d = st.getF32(name);
    h.update(name);
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

describe('the main job, shortened', () => {
  it('reproduces the recorded run bit for bit, learns above chance, and the merged export reloads with the same accuracy', async () => {
    const ctx = await gpu();
    const run = new Run(nodeRunEnvironment(ctx), SHORT_JOB.spec, { keepModels: true });
    const events: RunEvent[] = [];
    run.events.on((e) => events.push(e));
    const result = await run.start();
    const m = result.metrics;
    console.log(
      `story (shortened): ${m.train.steps} steps; accuracy ${(100 * m.before.accuracy).toFixed(1)}% → ${(100 * m.after.accuracy).toFixed(1)}% ` +
        `(merged ${(100 * m.merged.accuracy).toFixed(1)}%), chance ${(100 * m.chance).toFixed(1)}%, merge gap ${m.mergeGapPoints.toFixed(2)} pp`,
    );
    // The recorded run, exactly: the trainer is deterministic.
    expect(m.steps.map((s) => ({ loss: s.loss, gradNorm: s.gradNorm }))).toEqual(recorded.steps);
    for (const phase of ['before', 'after', 'merged'] as const) {
      expect({ sum: m[phase].accuracySum, mean: m[phase].accuracyMean }, phase).toEqual(recorded.accuracy[phase]);
    }
    expect(tensorsSha256(result.artifacts.get('model.safetensors')!)).toBe(recorded.mergedTensorsSha256);

    // Every stage announced once, in order; the step events are the history.
    expect(events.filter((e) => e.type === 'stage').map((e) => (e as { stage: string }).stage)).toEqual([...RUN_STAGES]);
    expect(events.filter((e) => e.type === 'step')).toHaveLength(m.train.steps);
    // A held-out loss about ten times an epoch (75 steps: every 8), and after the last step.
    const heldOutSteps = events.flatMap((e) => (e.type === 'held-out' ? [e.step] : []));
    expect(heldOutSteps).toEqual([...Array.from({ length: 18 }, (_, i) => 8 * (i + 1)), 150]);
    expect(m.heldOut.map((h) => h.step)).toEqual(heldOutSteps);
    expect(m.heldOut.at(-1)!.loss).toBeLessThan(m.heldOut[0]!.loss);
    expect(m.earlyStopping).toBeNull();
    expect(events.filter((e) => e.type === 'eval').map((e) => (e as { phase: string }).phase)).toEqual(['before', 'after', 'merged']);
    expect(events.at(-1)!.type).toBe('done');

    // Learned: clearly above chance (SHORT_JOB.margin points) and above the untrained model.
    expect(m.after.accuracy).toBeGreaterThan(m.chance + SHORT_JOB.margin);
    expect(m.after.accuracy).toBeGreaterThan(m.before.accuracy);

    // The files: the spec, the merged checkpoint, the adapter in its own folder, the metrics.
    const files = result.artifacts;
    for (const name of ['run.json', 'model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'metrics.json', 'report.md', 'loss-curve.svg']) {
      expect(files.has(name), name).toBe(true);
    }
    expect([...files.keys()].filter((n) => n.startsWith('adapter/')).length).toBeGreaterThanOrEqual(2);
    expect([...files.keys()].filter((n) => !n.includes('/')).some((n) => n.startsWith('adapter'))).toBe(false);
    expect(JSON.parse(new TextDecoder().decode(files.get('run.json')))).toEqual(SHORT_JOB.spec);

    const st = parseSafetensors(files.get('model.safetensors')!, 'model.safetensors');
    const topLevel = [...files].filter(([name]) => !name.includes('/'));
    const reloaded = await loadModel({ kind: 'files', name: 'merged', files: topLevel.map(([name, bytes]) => ({ name, bytes: async () => bytes })) });
    const expected = expectedWeights(reloaded.config);
    expect(new Set(st.tensors.keys())).toEqual(new Set(expected.keys()));
    for (const [name, shape] of expected) {
      expect(st.tensors.get(name)!.shape, name).toEqual(shape);
      expect(st.tensors.get(name)!.dtype, name).toBe('F32');
    }
    // Reloaded from the files (Hugging Face layout: rotate-half RoPE, permuted q/k): the same
    // accuracy as the merged model in memory, within one item (float summation order only).
    const prepared = run.prepared!;
    if (prepared.kind !== 'multiple-choice') throw new Error('story is multiple-choice');
    const evalItems = tokenizeMultipleChoiceItems(prepared.eval, prepared.template, reloaded.tokenizer, 256).items;
    const fromDisk = new GpuModel(ctx, reloaded.config, reloaded.weights);
    const r = await scoreMultipleChoice(fromDisk, evalItems);
    fromDisk.destroy();
    expect(Math.abs(r.accuracySum - m.merged.accuracySum)).toBeLessThanOrEqual(1 / r.items + 1e-12);

    // Trying the finished run: an item scored before (the base weights, no adapters) and after
    // (adapters live): "before" equals a separate upload of the base model bit for bit, "after"
    // the merged model within f32 rounding (log-likelihoods of a few tokens, |ll| < 20).
    const item = run.evalItems[3]!;
    const scored = await scoreItem(run, 3);
    expect(scored.answer).toBe(item.answer);
    expect(scored.choices.map((c) => c.tokens)).toEqual(item.choices.map((c) => c.length));
    const base = new GpuModel(ctx, run.model!.config, run.model!.weights);
    const baseLl = (await scoreMultipleChoice(base, [item])).logLikelihoods[0]!;
    base.destroy();
    expect(scored.choices.map((c) => c.before)).toEqual(baseLl);
    const mergedLl = (await scoreMultipleChoice(run.mergedModel!, [item])).logLikelihoods[0]!;
    scored.choices.forEach((c, k) => expect(Math.abs(c.after - mergedLl[k]!), `choice ${k}`).toBeLessThanOrEqual(1e-4));
    expect(scored.choices.some((c, k) => c.after !== baseLl[k])).toBe(true);
    // The same item given as text is tokenized as the run's evaluation items are.
    expect(await scoreItem(run, prepared.eval.find((e) => e.id === item.id)!)).toEqual(scored);
    await expect(scoreItem(run, run.evalItems.length)).rejects.toThrow(/not among the run's 100 evaluation items/);

    // Generating from the finished run: greedy text with the adapters live equals the merged model's.
    const tokenizer = run.model!.tokenizer;
    const live = await generate(run.gpuModel!, tokenizer, 'Lily had a red ball.', { steps: 48 });
    const fromMerged = await generate(run.mergedModel!, tokenizer, 'Lily had a red ball.', { steps: 48 });
    expect(live.generatedTokens.length).toBeGreaterThan(0);
    expect(live.tokens).toEqual(fromMerged.tokens);

    // The output folder's parts, as the page exports them.
    expect(selectArtifacts(files, 'adapter').map(([n]) => n).sort()).toEqual(['adapter/d2lora_config.json', 'adapter/d2lora_model.safetensors']);
    expect(selectArtifacts(files, 'checkpoint').every(([n]) => !n.includes('/'))).toBe(true);
    expect(() => selectArtifacts(files, ['nope.bin'])).toThrow(/has no file nope.bin/);
    run.dispose();
  }, 900_000);
});

describe('early stopping', () => {
  it('stops when the held-out loss stops improving, on items held out of training, and keeps the best adapters', async () => {
    const ctx = await gpu();
    const spec = runSpecWith({
      task: { kind: 'story', trainSize: 160, testSize: 24 },
      training: { epochs: 3, batch: 8, lr: 3e-2, heldOutEvery: 2, earlyStopping: { patience: 2, devItems: 32 } },
      limits: { maxTrain: 160, maxEval: 24 },
    });
    const run = new Run(nodeRunEnvironment(ctx), spec, { keepModels: true });
    const events: RunEvent[] = [];
    run.events.on((e) => events.push(e));
    const { metrics: m } = await run.start();
    const stopped = events.find((e) => e.type === 'stopped-early');
    if (stopped?.type !== 'stopped-early') throw new Error(`no early stop: held-out losses ${m.heldOut.map((h) => h.loss.toFixed(3)).join(', ')}`);
    console.log(`early stopping: stopped at step ${stopped.step} of ${m.train.steps}, kept step ${stopped.bestStep} (held-out loss ${stopped.bestLoss.toFixed(4)})`);
    // 160 items less 32 held out: 128 training examples, 16 steps an epoch.
    const tokenized = events.find((e) => e.type === 'tokenized');
    expect(tokenized?.type === 'tokenized' && tokenized.trainExamples).toBe(128);
    expect(m.steps.length).toBe(stopped.step);
    expect(stopped.step).toBeLessThan(m.train.steps);
    expect(m.earlyStopping).toEqual({ stoppedAtStep: stopped.step, bestStep: stopped.bestStep, bestLoss: stopped.bestLoss });
    // The patience ran out: the last two held-out losses did not beat the best one before them.
    expect(m.heldOut.slice(-2).every((h) => h.loss >= stopped.bestLoss)).toBe(true);
    // The kept adapters are the best step's: their held-out loss is the best loss, exactly.
    const { heldOut } = heldOutSplit(run.spec, tokenizeForTest(run), run.evalItems);
    expect(await run.trainer!.evaluateLoss(heldOut, spec.limits.evalBatch)).toBe(stopped.bestLoss);
    run.dispose();
  }, 600_000);
});

/** The run's training items as it tokenized them (the held-out split is drawn from these). */
function tokenizeForTest(run: Run) {
  const prepared = run.prepared!;
  if (prepared.kind !== 'multiple-choice') throw new Error('multiple-choice only');
  const maxLength = Math.min(run.spec.limits.maxLength, run.model!.config.maxPositions);
  return tokenizeMultipleChoiceItems(prepared.train, prepared.template, run.model!.tokenizer, maxLength).items;
}
