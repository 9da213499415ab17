// Going on after a stop, in the page's state (src/state/run.ts, history.ts, form.ts) and its
// wording (src/ui/train/): which checkpoint a diverged run keeps (the newest from before the
// stretch of bad steps that stopped it), a checkpoint resumed with other training settings (the
// spec changed, the trainer state byte for byte the same), the suggested change a diverged run's
// record keeps, the picked files a local run waits for, Discard (the run kept as cancelled,
// its checkpoint gone), the sender's result a link carries into the form, and the sentence that
// compares a run with the sender's.

import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_FILES, decodeRunCheckpoint, encodeRunCheckpoint, type RunCheckpoint } from '../../src/run/checkpoint';
import { runSpecWith, trainConfigOf, type RunSpec } from '../../src/run/spec';
import { encodeRunLink } from '../../src/share/link';
import { compareWithSender, type ResultSource, type ResultSummary } from '../../src/share/result';
import { useForm } from '../../src/state/form';
import { RunRecorder, runStore, useHistory, type RunSnapshot } from '../../src/state/history';
import { CheckpointKeeper, firstBadStep, localFilesMissing, recordedChange, suggestedChange, withTrainingChange } from '../../src/state/run';
import { describeChange } from '../../src/ui/train/describe';
import { describeAgreement } from '../../src/ui/train/sender';

const SPEC = runSpecWith({ task: { kind: 'story', trainSize: 96, testSize: 16 }, training: { lr: 1, weightDecay: 10, batch: 8, epochs: 2 }, limits: { maxTrain: 96, maxEval: 16 } });

/** A run checkpoint after `step` steps whose divergence watch counts `watch` bad steps in a row. */
function checkpointAt(step: number, watch = { aboveCeiling: 0, zeroGradient: 0 }, spec: RunSpec = SPEC): RunCheckpoint {
  const tensor = (seed: number) => ({ shape: [2, 1], data: Float32Array.of(seed + 0.25, -seed - 0.5) });
  return {
    spec,
    reason: 'interval',
    savedAt: `2026-12-01T10:00:${String(step).padStart(2, '0')}.000Z`,
    step,
    totalSteps: 24,
    before: { accuracy: 0.25, accuracySum: 0.25, accuracyMean: 0.25, items: 16, ms: 10, itemsPerSecond: 1600 },
    heldOut: { history: [], bestLoss: Infinity, bestStep: 0, sinceBest: 0, kept: null },
    trainMs: 100 * step,
    resumedAt: [],
    engine: 'test',
    trainer: {
      step,
      config: trainConfigOf(spec),
      adapters: [{ name: 'layers.0.q_proj', params: { method: 'lora', r: 1, out: 2, in: 1, tensors: { a: tensor(step), b: tensor(step + 1) } } }],
      moments: new Map([['layers.0.q_proj.a', { m: Float32Array.of(step, 1), v: Float32Array.of(2, step) }]]),
      history: Array.from({ length: step }, (_, i) => ({ step: i, epoch: 0, loss: 3 + i, lr: 1, gradNorm: 1, tokens: 100 })),
      watch,
    },
  };
}

const meta = (step: number) => ({ step, totalSteps: 24, reason: 'interval' as const, savedAt: `2026-12-01T10:00:${String(step).padStart(2, '0')}.000Z` });
const held = (step: number, watch?: RunCheckpoint['trainer']['watch']) => ({ files: encodeRunCheckpoint(checkpointAt(step, watch)), meta: meta(step) });

describe('the checkpoint a stopped run keeps', () => {
  it('the first bad step of each kind of divergence: the whole stretch the watch counted', () => {
    expect(firstBadStep({ kind: 'non-finite', step: 9 })).toBe(9);
    expect(firstBadStep({ kind: 'zero-gradient', step: 9 })).toBe(7);
    expect(firstBadStep({ kind: 'above-uniform', step: 20 })).toBe(5);
  });

  it('a divergence keeps the newest sound checkpoint whose next step came before the bad stretch, and the history gets it back', () => {
    // The run of the diverging e2e link, checkpointed every step: the loss above ln V from step 2,
    // then a dead gradient on steps 7-9 (measured on lavapipe).
    const keeper = new CheckpointKeeper(null);
    const written = [held(0), held(1), ...[1, 2, 3, 4, 5].map((n, i) => held(i + 2, { aboveCeiling: n, zeroGradient: 0 })), held(7, { aboveCeiling: 0, zeroGradient: 1 }), held(8, { aboveCeiling: 0, zeroGradient: 2 })];
    for (const c of written) keeper.written(c.files, c.meta);
    const { keep, save } = keeper.afterDivergence({ kind: 'zero-gradient', step: 9 });
    expect(keep?.meta.step).toBe(1);
    expect(keep?.files).toBe(written[1]!.files);
    expect(save).toBe(true);
    expect(keeper.holdsOne).toBe(true);
  });

  it('a sound checkpoint right before the bad step is passed over: its adapters computed that step', () => {
    const keeper = new CheckpointKeeper(null);
    const written = [held(0), held(4), held(5)];
    for (const c of written) keeper.written(c.files, c.meta);
    // A NaN at step 6 came from the adapters of step 5: going on from there gives it again.
    expect(keeper.afterDivergence({ kind: 'non-finite', step: 6 })).toEqual({ keep: written[1], save: true });
    // A NaN at step 7: step 5's adapters computed a good step 6, and the history holds it already.
    expect(keeper.afterDivergence({ kind: 'non-finite', step: 7 })).toEqual({ keep: written[2], save: false });
  });

  it('nothing to keep when the stretch began at the first step, or no checkpoint came before it', () => {
    const keeper = new CheckpointKeeper(null);
    expect(keeper.holdsOne).toBe(false);
    keeper.written(held(0).files, meta(0));
    expect(keeper.afterDivergence({ kind: 'non-finite', step: 1 }).keep).toBeNull();
    // A checkpoint that cannot be read is never one to go back to.
    const damaged = new Map(held(3).files);
    damaged.delete(CHECKPOINT_FILES.trainerTensors);
    keeper.written(damaged, meta(3));
    expect(keeper.afterDivergence({ kind: 'non-finite', step: 9 }).keep?.meta.step).toBe(0);
  });

  it('a resumed run goes back to the checkpoint it went on from; with changed settings the history is given those', () => {
    const from = held(4);
    const asStored = new CheckpointKeeper({ ...from, asStored: true });
    expect(asStored.holdsOne).toBe(true);
    expect(asStored.afterDivergence({ kind: 'non-finite', step: 9 })).toEqual({ keep: from, save: false });
    const changed = new CheckpointKeeper({ ...from, asStored: false });
    expect(changed.afterDivergence({ kind: 'non-finite', step: 9 })).toEqual({ keep: from, save: true });
  });
});

describe('resuming with other training settings', () => {
  it('writes the change into the spec and leaves the trainer state byte for byte as it was', () => {
    const cp = decodeRunCheckpoint(encodeRunCheckpoint(checkpointAt(4)));
    const { spec, files } = withTrainingChange(cp, { weightDecay: 0.1, lr: 0.1 });
    expect(spec.training).toEqual({ ...SPEC.training, weightDecay: 0.1, lr: 0.1 });
    expect({ ...spec, training: null }).toEqual({ ...SPEC, training: null });
    const original = encodeRunCheckpoint(cp);
    expect(files.get(CHECKPOINT_FILES.trainerTensors)).toEqual(original.get(CHECKPOINT_FILES.trainerTensors));
    expect(files.get(CHECKPOINT_FILES.trainerJson)).toEqual(original.get(CHECKPOINT_FILES.trainerJson));
    const read = decodeRunCheckpoint(files);
    expect(read.spec).toEqual(spec);
    expect(read.step).toBe(4);
  });

  it('refuses a value the spec refuses, naming the field', () => {
    const cp = decodeRunCheckpoint(encodeRunCheckpoint(checkpointAt(4)));
    expect(() => withTrainingChange(cp, { lr: -1 })).toThrow(/the changed training settings.*training\.lr/s);
  });

  it('a diverged run keeps its suggested change in the record: read back as it was; anything else is none', () => {
    const change = suggestedChange({ suggestions: [{ setting: 'weightDecay', current: 10, value: 0.1, path: ['training', 'weightDecay'] }, { setting: 'lr', current: 1, value: 0.1, path: ['training', 'lr'] }] });
    expect(change).toEqual({ weightDecay: 0.1, lr: 0.1 });
    expect(recordedChange({ result: { stopped: 'x', suggestedChange: change } })).toEqual(change);
    expect(recordedChange({ result: { stopped: 'x' } })).toBeNull();
    expect(recordedChange({})).toBeNull();
    expect(recordedChange({ result: { suggestedChange: { batch: 2 } } })).toBeNull();
    expect(recordedChange({ result: { suggestedChange: { lr: '0.1' } } })).toBeNull();
    expect(describeChange(change)).toBe('Weight decay 0.1 and Learning rate 0.1');
    expect(describeChange({ maxGradNorm: 1 })).toBe('Gradient clip 1');
  });
});

describe('the files a local run waits for', () => {
  const sha = (c: string) => c.repeat(64);
  const local = runSpecWith({
    model: { kind: 'files', name: 'my-model', files: [{ name: 'config.json', sha256: sha('a') }, { name: 'model.safetensors', sha256: sha('b') }] },
    task: { kind: 'file', test: { name: 'test.jsonl', sha256: sha('c') } },
  });
  const blob = new Blob(['x']);

  it('names the model folder and the task file until the form holds them', () => {
    const none = { spec: runSpecWith({}), modelFiles: [], taskFiles: { test: null, train: null } };
    expect(localFilesMissing(runSpecWith({}), none)).toEqual([]);
    expect(localFilesMissing(local, none)).toEqual(['the model folder my-model', 'the task file test.jsonl']);
    const partly = { spec: local, modelFiles: [{ name: 'config.json', file: blob }], taskFiles: { test: { name: 'test.jsonl', file: blob }, train: null } };
    expect(localFilesMissing(local, partly)).toEqual(['the model folder my-model']);
    const all = { ...partly, modelFiles: [...partly.modelFiles, { name: 'model.safetensors', file: blob }] };
    expect(localFilesMissing(local, all)).toEqual([]);
    // The same name with another file picked (its sha256 in the form differs): still missing.
    const other = runSpecWith({ ...local, task: { kind: 'file', test: { name: 'test.jsonl', sha256: sha('d') } } });
    expect(localFilesMissing(local, { ...all, spec: other })).toEqual(['the task file test.jsonl']);
  });
});

describe('Discard and why a run stopped, in the history', () => {
  const snapshot = (done: number): RunSnapshot => ({
    totalSteps: 24,
    steps: Array.from({ length: done }, (_, i) => ({ step: i, epoch: 0, loss: 3, lr: 1, gradNorm: 1, tokens: 10 })),
    heldOut: [],
    before: 0.25,
    after: null,
    merged: null,
    durationMs: 10 * done,
  });

  it('a stopped run keeps why and its suggested change; Discard keeps it as cancelled, without its checkpoint', async () => {
    const recorder = (await RunRecorder.begin(SPEC))!;
    await recorder.checkpoint(held(4).files, meta(4), snapshot(4));
    await recorder.stopped('training diverged: …', snapshot(9), { suggestedChange: { lr: 0.1 } });
    const store = await runStore();
    expect((await store.getRun(recorder.id))!.result).toEqual({ stopped: 'training diverged: …', suggestedChange: { lr: 0.1 } });
    const entry = useHistory.getState().interrupted.find((r) => r.id === recorder.id)!;
    // The checkpoint keeps the time it was written.
    expect(entry.checkpoint).toMatchObject({ step: 4, savedAt: meta(4).savedAt });

    await useHistory.getState().discard(recorder.id);
    const kept = (await store.getRun(recorder.id))!;
    expect(kept.status).toBe('cancelled');
    expect(kept.curves.loss).toHaveLength(9);
    expect(kept.result).toEqual({ stopped: 'training diverged: …', suggestedChange: { lr: 0.1 } });
    expect(await store.loadCheckpoint(recorder.id)).toBeNull();
    expect(useHistory.getState().interrupted.some((r) => r.id === recorder.id)).toBe(false);
    expect(useHistory.getState().runs.some((r) => r.id === recorder.id)).toBe(true);
  });
});

describe("the sender's result", () => {
  const result: ResultSummary = { version: 1, accuracy: { before: 0.25, after: 0.5, merged: 0.5 }, items: 24, steps: 20, loss: [3, 2.5, 2], device: 'mesa llvmpipe' };
  const mine = (after: number, merged = after, items = 24, steps = 20): ResultSource => ({
    before: { accuracy: 0.25, items },
    after: { accuracy: after },
    merged: { accuracy: merged },
    steps: Array.from({ length: steps }, () => ({ loss: 1 })),
    device: { vendor: 'mesa', architecture: 'llvmpipe' },
  });

  it('comes into the form with the link that carries it, and goes with a link that does not', () => {
    useForm.getState().loadLink(`http://localhost/${encodeRunLink(SPEC, result)}`);
    expect(useForm.getState().sender).toEqual({ result, spec: SPEC });
    useForm.getState().loadLink(`http://localhost/${encodeRunLink(SPEC)}`);
    expect(useForm.getState().sender).toBeNull();
  });

  it('is compared in a sentence: the same items right, or each accuracy that differs by points and items', () => {
    expect(describeAgreement(compareWithSender(result, mine(0.5)), 24)).toBe("Your run agrees with the sender's: 50.0% after training, item for item.");
    expect(describeAgreement(compareWithSender(result, mine(11 / 24, 0.5)), 24)).toBe(
      "Your run differs from the sender's: after training 45.8% against their 50.0% (−4.2 pts, 1 item fewer right); the same before training and merged.",
    );
    expect(describeAgreement(compareWithSender(result, mine(0.5, 0.5, 24, 19)), 24)).toBe(
      "Your run cannot be compared item for item with the sender's: the sender's run trained 20 steps, this one 19. The same before training, after training and merged.",
    );
  });
});
