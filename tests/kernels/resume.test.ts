// Checkpoints and resume: a Run that writes checkpoints ends exactly as one that does not; a run
// resumed from any of them (an interval's, an epoch's, a pause's) ends bit for bit as the run
// that wrote it carried on — the merged weights, every step's loss, the held-out losses and the
// accuracies — with early stopping's kept adapters carried across; a diverging run keeps the
// last good checkpoint. The command line's --checkpoint, Ctrl-C and --resume. And inside the adapter: the run's anatomy in
// metrics.json and report.md.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distribution, layerAnatomy } from '../../src/adapters/anatomy';
import { CHECKPOINT_FILES, decodeRunCheckpoint, type CheckpointReason } from '../../src/run/checkpoint';
import { nodeRunEnvironment } from '../../src/run/node-env';
import { Run, RunDivergedError, type RunEvent, type RunMetrics, type RunResult } from '../../src/run/run';
import { adapterConfigOf, runSpecWith, type RunSpec } from '../../src/run/spec';
import { FormatError } from '../../src/io/errors';
import { d2lora, d2loraInterrupted, expectCleanFailure, expectNothingWritten } from './cli';
import { gpu } from './gpu';

// 96 items, batch 8: 12 steps an epoch, 24 in all; held-out losses every 4 steps.
const SPEC = runSpecWith({
  task: { kind: 'story', trainSize: 96, testSize: 16 },
  training: { lr: 1e-2, batch: 8, epochs: 2, heldOutEvery: 4, heldOutItems: 8 },
  limits: { maxTrain: 96, maxEval: 16 },
});

interface Saved {
  step: number;
  reason: CheckpointReason;
  files: Map<string, Uint8Array>;
}

async function runWith(spec: RunSpec, opts: { everySteps?: number; resumeFrom?: Map<string, Uint8Array>; onEvent?: (e: RunEvent, run: Run) => void } = {}) {
  const env = nodeRunEnvironment(await gpu());
  const saved: Saved[] = [];
  const checkpoints = opts.everySteps === undefined ? undefined : { everySteps: opts.everySteps, everyMs: 0, save: async (files: Map<string, Uint8Array>, info: { step: number; reason: CheckpointReason }) => void saved.push({ ...info, files }) };
  const run = opts.resumeFrom ? Run.resume(env, decodeRunCheckpoint(opts.resumeFrom), { checkpoints }) : new Run(env, spec, { checkpoints });
  const events: RunEvent[] = [];
  run.events.on((e) => {
    events.push(e);
    opts.onEvent?.(e, run);
  });
  const result = await run.start().catch((e: Error) => e);
  return { run, result, events, saved };
}

function expectSameResult(a: RunResult, b: RunResult): void {
  expect(b.artifacts.get('model.safetensors')).toEqual(a.artifacts.get('model.safetensors'));
  expect(b.metrics.steps).toEqual(a.metrics.steps);
  expect(b.metrics.heldOut).toEqual(a.metrics.heldOut);
  for (const phase of ['before', 'after', 'merged'] as const) {
    expect({ sum: b.metrics[phase].accuracySum, mean: b.metrics[phase].accuracyMean }, phase).toEqual({ sum: a.metrics[phase].accuracySum, mean: a.metrics[phase].accuracyMean });
  }
  expect(b.metrics.anatomy).toEqual(a.metrics.anatomy);
}

function resultOf(r: RunResult | Error): RunResult {
  if (r instanceof Error) throw r;
  return r;
}

describe('checkpoints and resume', () => {
  it('a run that writes checkpoints ends as one that does not, and resuming from any of them ends bit for bit the same', async () => {
    const plain = resultOf((await runWith(SPEC)).result);
    const a = await runWith(SPEC, { everySteps: 5 });
    const full = resultOf(a.result);
    expectSameResult(plain, full);
    // When they were written: before the first step, each 5 steps, each epoch's end.
    expect(a.saved.map((s) => `${s.reason}@${s.step}`)).toEqual(['start@0', 'interval@5', 'interval@10', 'epoch@12', 'interval@15', 'interval@20', 'epoch@24']);
    expect(a.events.filter((e) => e.type === 'checkpoint').map((e) => e.type === 'checkpoint' && e.step)).toEqual([0, 5, 10, 12, 15, 20, 24]);

    for (const at of [5, 12, 15, 24]) {
      const files = a.saved.find((s) => s.step === at)!.files;
      const b = await runWith(SPEC, { resumeFrom: files, everySteps: 5 });
      const resumed = resultOf(b.result);
      expectSameResult(full, resumed);
      expect(resumed.metrics.resumedAt).toEqual([at]);
      const restored = b.events.find((e) => e.type === 'restored');
      expect(restored?.type === 'restored' && restored.steps.length).toBe(at);
      // The evaluation before training is the saved one, not run again.
      expect(b.events.some((e) => e.type === 'eval-progress' && e.phase === 'before')).toBe(false);
      // It goes on writing checkpoints after the one it came from.
      expect(b.saved.map((s) => s.step)).toEqual(a.saved.filter((s) => s.step > at).map((s) => s.step));
      console.log(`resumed at step ${at}: ${resumed.metrics.steps.length} steps, merged weights identical to the uninterrupted run's`);
    }
  }, 900_000);

  it('a pause writes a checkpoint; a run cancelled there and resumed from it ends as the uninterrupted one', async () => {
    const full = resultOf((await runWith(SPEC)).result);
    const a = await runWith(SPEC, {
      everySteps: 0,
      onEvent: (e, run) => {
        if (e.type === 'step' && e.step === 6) run.pause();
        if (e.type === 'checkpoint' && e.reason === 'pause') run.cancel();
      },
    });
    expect(a.result).toBeInstanceOf(Error);
    expect((a.result as Error).name).toBe('RunCancelledError');
    const paused = a.saved.find((s) => s.reason === 'pause')!;
    expect(paused.step).toBeGreaterThanOrEqual(7);
    const b = await runWith(SPEC, { resumeFrom: paused.files });
    expectSameResult(full, resultOf(b.result));
    expect(resultOf(b.result).metrics.timings.trainMs).toBeGreaterThan(0);
  }, 600_000);

  it('early stopping: the best adapters kept so far cross the checkpoint', async () => {
    const spec = runSpecWith({
      task: { kind: 'story', trainSize: 160, testSize: 24 },
      training: { epochs: 3, batch: 8, lr: 3e-2, heldOutEvery: 2, earlyStopping: { patience: 2, devItems: 32 } },
      limits: { maxTrain: 160, maxEval: 24 },
    });
    const a = await runWith(spec, { everySteps: 3 });
    const full = resultOf(a.result);
    expect(full.metrics.earlyStopping).not.toBeNull();
    // A checkpoint after a best step whose adapters early stopping kept, before it stopped.
    const best = full.metrics.earlyStopping!.bestStep;
    const at = a.saved.find((s) => s.step > best && s.step < full.metrics.earlyStopping!.stoppedAtStep) ?? a.saved.filter((s) => s.step >= best).at(0)!;
    expect(at.files.has(CHECKPOINT_FILES.best)).toBe(true);
    const b = await runWith(spec, { resumeFrom: at.files });
    const resumed = resultOf(b.result);
    expectSameResult(full, resumed);
    expect(resumed.metrics.earlyStopping).toEqual(full.metrics.earlyStopping);
  }, 600_000);

  it('a run that diverges stops with the explanation and keeps its last good checkpoint', async () => {
    // lr · weightDecay ≥ 1 flips the factors' signs each step: dead within a few steps.
    const spec = runSpecWith({ ...SPEC, training: { ...SPEC.training, lr: 1, weightDecay: 10 } });
    const a = await runWith(spec, { everySteps: 5 });
    expect(a.result).toBeInstanceOf(RunDivergedError);
    expect((a.result as RunDivergedError).message).toMatch(/training\.weightDecay 0\.1 instead of 10/);
    const last = a.saved.at(-1)!;
    const cp = decodeRunCheckpoint(last.files);
    // Every checkpoint it kept is from before the first step whose figures went wrong.
    expect(cp.step).toBeLessThan((a.result as RunDivergedError).divergence.step);
    expect(cp.trainer.history.every((s) => Number.isFinite(s.loss))).toBe(true);
  }, 300_000);

  it('a checkpoint read back names the file and the field that is wrong', async () => {
    const a = await runWith(SPEC, { everySteps: 12 });
    const files = a.saved.find((s) => s.step === 12)!.files;
    const without = new Map(files);
    without.delete(CHECKPOINT_FILES.trainerTensors);
    expect(() => decodeRunCheckpoint(without)).toThrow(FormatError);
    expect(() => decodeRunCheckpoint(without)).toThrow(/state\.safetensors: missing; expected present in the checkpoint/);
    const tampered = new Map(files);
    const json = JSON.parse(new TextDecoder().decode(files.get(CHECKPOINT_FILES.run)!)) as { step: number };
    json.step = 7;
    tampered.set(CHECKPOINT_FILES.run, new TextEncoder().encode(JSON.stringify(json)));
    expect(() => decodeRunCheckpoint(tampered)).toThrow(/state\.json: field "step": 12; expected the step of checkpoint\.json \(7\)/);
    const garbage = new Map(files);
    garbage.set(CHECKPOINT_FILES.run, new TextEncoder().encode('{"format":"d2lora-run-checkpoint","version":9}'));
    expect(() => decodeRunCheckpoint(garbage)).toThrow(/checkpoint\.json: field "version"/);

    // Inside the adapter, in the finished run's metrics and report.
    const m = resultOf(a.result).metrics;
    const targets = m.adapter.targets;
    expect(m.anatomy.entries.length).toBe(m.anatomy.layers * targets.length);
    expect(m.anatomy.modules).toEqual(targets);
    for (const e of m.anatomy.entries) {
      expect(e.updateRatio).toBeGreaterThan(0);
      expect(e.branches!.plus).toBeGreaterThan(0);
      // ρ = 1 re-adds ΔW after the projection, so rows drift; by less than the update itself.
      expect(Number.isFinite(e.rowDrift.median)).toBe(true);
      expect(e.rowScale!.median).toBeGreaterThan(0);
    }
    // The same figures as layerAnatomy on the adapter read back from the checkpoint.
    const cp = decodeRunCheckpoint(a.saved.at(-1)!.files);
    const first = m.anatomy.entries[0]!;
    const params = cp.trainer.adapters.find((x) => x.name === first.name)!.params;
    const env = nodeRunEnvironment(await gpu());
    const { model } = await env.loadModel(SPEC.model, { onProgress: () => undefined, signal: new AbortController().signal });
    const direct = layerAnatomy(adapterConfigOf(SPEC), model.weights.get(`${first.name}.weight`)!.data, params);
    expect(first.updateRatio).toBe(direct.updateRatio);
    expect(first.rowDrift).toEqual(distribution(direct.rowDrift));
    expect(first.rowScale).toEqual(distribution(direct.rowScale!));
    const report = new TextDecoder().decode(resultOf(a.result).artifacts.get('report.md')!);
    expect(report).toContain('## Inside the adapter');
    expect(report).toContain(`| 0.${first.module} | ${first.updateRatio.toPrecision(4)} |`);
  }, 300_000);
});

describe('d2lora train --checkpoint and --resume', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'd2lora-resume-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  // 128 items, batch 8: 16 steps an epoch, 32 in all.
  const SHORT = ['--story-train', '128', '--max-train', '128', '--story-test', '16', '--max-eval', '16', '--epochs', '2', '--batch', '8', '--lr', '0.01'];

  it('Ctrl-C saves the checkpoint and says how to go on; --resume ends with the uninterrupted run\'s weights, byte for byte', async () => {
    const whole = join(scratch, 'whole');
    const first = await d2lora(['train', ...SHORT, '--out', whole]);
    expect(first.code, first.stderr).toBe(0);

    const out = join(scratch, 'resumed');
    const cp = join(scratch, 'checkpoint');
    // Stopped once the checkpoint of step 8 is on disk (the progress lines come every ~5 s, which a fast machine can outrun).
    const savedStep = () => {
      try {
        return (JSON.parse(readFileSync(join(cp, 'checkpoint.json'), 'utf8')) as { step: number }).step;
      } catch {
        return -1; // not written yet, or being replaced
      }
    };
    const stopped = await d2loraInterrupted(['train', ...SHORT, '--out', out, '--checkpoint', cp, '--checkpoint-every', '4'], () => savedStep() >= 8);
    expectCleanFailure(stopped, new RegExp(`the run was cancelled; no output folder was written; the checkpoint of step (\\d+)/32 is in ${cp}: go on with d2lora train --resume ${cp}$`), 130);
    const step = Number(/the checkpoint of step (\d+)\/32/.exec(stopped.stderr)![1]);
    expect(step).toBeGreaterThanOrEqual(8);
    expect(step).toBeLessThan(32);
    expectNothingWritten(out);
    expect(readdirSync(cp).sort()).toEqual(['checkpoint.json', 'state.json', 'state.safetensors']);

    const changed = await d2lora(['train', '--resume', cp, '--lr', '0.5', '--out', out]);
    expectCleanFailure(changed, "d2lora train: --resume goes on with the checkpoint's settings; the flags change training.lr: drop them", 2);

    const resumed = await d2lora(['train', '--resume', cp, '--out', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    // A stop on a step already saved (an epoch's end, every 4th) keeps that checkpoint and its reason.
    expect(resumed.stderr).toMatch(new RegExp(`resuming from the checkpoint of step ${step}/32 \\((pause|epoch|interval), `));
    for (const file of ['model.safetensors', 'adapter/d2lora_model.safetensors']) {
      expect(readFileSync(join(out, file)).equals(readFileSync(join(whole, file))), file).toBe(true);
    }
    const [a, b] = [whole, out].map((d) => JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')) as RunMetrics);
    expect(b!.steps).toEqual(a!.steps);
    expect(b!.resumedAt).toEqual([step]);
    // It kept checkpointing where it resumed from: the last is the end of training.
    expect((JSON.parse(readFileSync(join(cp, 'checkpoint.json'), 'utf8')) as { step: number }).step).toBe(32);
  }, 600_000);
});
