// The page's run history (src/state/history.ts) over the real store on fake-indexeddb: a run
// recorded as it goes (interrupted while it trains, its checkpoints kept, finished with its
// files), a stopped run left resumable, a checkpoint deleted alone, and a run's zip imported as a
// new record — with what a zip that is not a run's says.

import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { METRICS_FILE, RUN_SPEC_FILE } from '../../src/run/output-files';
import { DEFAULT_RUN_SPEC, runSpecWith } from '../../src/run/spec';
import { defaultRunName, RunRecorder, runFromZip, runStore, useHistory, type RunSnapshot } from '../../src/state/history';
import { zipParts } from '../../src/state/zip';

const steps = Array.from({ length: 6 }, (_, i) => ({ step: i, epoch: 0, loss: 2 - i / 10, lr: 1e-3, gradNorm: 1, tokens: 10 }));
const snapshot = (done: number, evals: Partial<Pick<RunSnapshot, 'before' | 'after' | 'merged'>> = {}): RunSnapshot => ({
  totalSteps: 6,
  steps: steps.slice(0, done),
  heldOut: [{ step: 3, loss: 1.9 }],
  before: 0.25,
  after: null,
  merged: null,
  durationMs: 100 * done,
  ...evals,
});
const bytes = (text: string) => new TextEncoder().encode(text);

/** A metrics.json with what the history reads. */
function metricsOf(spec = DEFAULT_RUN_SPEC) {
  return {
    spec,
    model: { name: 'stories260K' },
    task: { name: 'story' },
    before: { accuracy: 0.25 },
    after: { accuracy: 0.5 },
    merged: { accuracy: 0.5 },
    mergeGapPoints: 0,
    timings: { trainMs: 600 },
    train: { steps: 6 },
    steps,
    heldOut: [{ step: 3, loss: 1.9 }],
    createdAt: '2026-11-30T10:00:00.000Z',
  };
}

describe('recording a run as it goes', () => {
  it('is interrupted (resumable, with its checkpoint) while it trains, then done with its files and no checkpoint', async () => {
    const recorder = (await RunRecorder.begin(DEFAULT_RUN_SPEC))!;
    await recorder.progress(snapshot(0));
    const store = await runStore();
    expect((await store.getRun(recorder.id))!.status).toBe('interrupted');
    // As state/run.ts passes it: the engine's checkpoint message, its files (as sent) beside the step.
    const message = { step: 3, totalSteps: 6, reason: 'interval' as const, files: [{ name: 'checkpoint.json', bytes: new ArrayBuffer(10) }] };
    await recorder.checkpoint(new Map([['checkpoint.json', bytes('{"step":3}')]]), message, snapshot(3));
    expect(useHistory.getState().error).toBeNull();
    const listed = useHistory.getState();
    const entry = listed.interrupted.find((r) => r.id === recorder.id)!;
    expect(entry.name).toBe(defaultRunName(DEFAULT_RUN_SPEC));
    expect(entry.summary).toMatchObject({ model: 'stories260K', task: 'story', method: 'D2-LoRA r=8', stepsDone: 3, totalSteps: 6, accuracyBefore: 0.25 });
    expect(entry.checkpoint).toMatchObject({ step: 3, totalSteps: 6, reason: 'interval' });
    expect(new TextDecoder().decode((await store.loadCheckpoint(recorder.id))!.files.get('checkpoint.json'))).toBe('{"step":3}');

    const files = new Map([[RUN_SPEC_FILE, bytes(JSON.stringify(DEFAULT_RUN_SPEC))], ['adapter/d2lora_model.safetensors', new Uint8Array([1, 2, 3])]]);
    await recorder.finish('done', snapshot(6, { after: 0.5, merged: 0.52 }), metricsOf() as never, files);
    const done = (await store.getRun(recorder.id))!;
    expect(done.status).toBe('done');
    expect(done.summary.mergeGapPoints).toBeCloseTo(2, 10);
    expect(done.curves.loss).toEqual(steps.map((s) => s.loss));
    expect(await store.loadCheckpoint(recorder.id)).toBeNull();
    expect([...(await store.readFiles(recorder.id)).keys()].sort()).toEqual(['adapter/d2lora_model.safetensors', RUN_SPEC_FILE]);
    expect(useHistory.getState().interrupted.some((r) => r.id === recorder.id)).toBe(false);
  });

  it('a run stopped by a lost GPU stays resumable from its last checkpoint, with why it stopped', async () => {
    const recorder = (await RunRecorder.begin(runSpecWith({ seed: 3 })))!;
    await recorder.checkpoint(new Map([['state.json', bytes('{}')]]), { step: 2, totalSteps: 6, reason: 'start' }, snapshot(2));
    await recorder.stopped('the GPU device was lost (destroyed)', snapshot(4));
    const record = (await (await runStore()).getRun(recorder.id))!;
    expect(record.status).toBe('interrupted');
    expect(record.result).toEqual({ stopped: 'the GPU device was lost (destroyed)' });
    expect(useHistory.getState().interrupted.find((r) => r.id === recorder.id)?.checkpoint?.step).toBe(2);
    // Going on: the same record, its name and creation time kept.
    const again = RunRecorder.continuing(record);
    expect(again.id).toBe(recorder.id);
    await again.finish('cancelled', snapshot(4), null, new Map());
    expect((await (await runStore()).getRun(recorder.id))!.status).toBe('cancelled');
  });
});

describe('deleting a checkpoint alone', () => {
  it('keeps the run, no longer offered to resume', async () => {
    const recorder = (await RunRecorder.begin(runSpecWith({ seed: 5 })))!;
    await recorder.checkpoint(new Map([['state.json', bytes('{}')]]), { step: 2, totalSteps: 6, reason: 'start' }, snapshot(2));
    expect(useHistory.getState().interrupted.some((r) => r.id === recorder.id)).toBe(true);
    await useHistory.getState().removeCheckpoint(recorder.id);
    expect(useHistory.getState().interrupted.some((r) => r.id === recorder.id)).toBe(false);
    expect(useHistory.getState().runs.find((r) => r.id === recorder.id)).toMatchObject({ status: 'interrupted', checkpoint: null });
    expect(await (await runStore()).loadCheckpoint(recorder.id)).toBeNull();
  });
});

describe("importing a run's zip", () => {
  const spec = runSpecWith({ adapter: { method: 'lora', r: 4, alpha: 8 }, seed: 7 });
  const folder = new Map([
    [RUN_SPEC_FILE, bytes(JSON.stringify(spec))],
    [METRICS_FILE, bytes(JSON.stringify(metricsOf(spec)))],
    ['adapter/adapter_model.safetensors', new Uint8Array([9, 8, 7])],
  ]);
  const zipOf = (files: Map<string, Uint8Array>, prefix = '') => {
    const parts = zipParts([...files].map(([name, b]) => ({ name: prefix + name, bytes: b })), new Date('2026-11-30T10:00:00Z'));
    return new Uint8Array(parts.reduce<number[]>((a, p) => (a.push(...p), a), []));
  };

  it('reads the spec, the figures and every file, at the top or under one folder', () => {
    for (const prefix of ['', 'stories260K-story-lora-r4-s7/']) {
      const { record, files } = runFromZip('run.zip', zipOf(folder, prefix));
      expect(record.spec).toEqual(spec);
      expect(record.status).toBe('done');
      expect(record.name).toBe('LoRA r=4 · stories260K · story (imported)');
      expect(record.summary).toMatchObject({ accuracyBefore: 0.25, accuracyAfter: 0.5, stepsDone: 6, totalSteps: 6, durationMs: 600 });
      expect(record.createdAt).toBe('2026-11-30T10:00:00.000Z');
      expect([...files.keys()].sort()).toEqual(['adapter/adapter_model.safetensors', METRICS_FILE, RUN_SPEC_FILE]);
      expect([...files.get('adapter/adapter_model.safetensors')!]).toEqual([9, 8, 7]);
    }
  });

  it('names the file and what is wrong with a zip that is not a run\'s', () => {
    expect(() => runFromZip('notes.zip', bytes('not a zip at all'))).toThrow(/^notes\.zip: not a zip the playground can read/);
    const without = (name: string) => new Map([...folder].filter(([n]) => n !== name));
    expect(() => runFromZip('a.zip', zipOf(without(RUN_SPEC_FILE)))).toThrow("a.zip: no run.json in it; import the zip of a run's output folder (Export → the output folder, or a history export)");
    expect(() => runFromZip('b.zip', zipOf(without(METRICS_FILE)))).toThrow("b.zip: no metrics.json beside run.json; a run's zip holds both");
    const badSpec = new Map(folder).set(RUN_SPEC_FILE, bytes('{"adapter":{"r":-1}}'));
    expect(() => runFromZip('c.zip', zipOf(badSpec))).toThrow(/^c\.zip: run\.json: adapter\.r/);
    const badMetrics = new Map(folder).set(METRICS_FILE, bytes(JSON.stringify({ ...metricsOf(spec), after: { accuracy: 'high' } })));
    expect(() => runFromZip('d.zip', zipOf(badMetrics))).toThrow('d.zip: metrics.json: "after.accuracy" is not a number; it is not a run\'s metrics');
  });

  it('imports into the history as a new run, whatever profile exported it', async () => {
    const file = new File([zipOf(folder)], 'stories260K-story-lora-r4-s7.zip');
    await useHistory.getState().importZip(file);
    const { runs, error } = useHistory.getState();
    expect(error).toBeNull();
    const imported = runs.find((r) => r.name.endsWith('(imported)') && r.summary.method === 'LoRA r=4')!;
    expect(imported.status).toBe('done');
    expect(imported.files.map((f) => f.name).sort()).toEqual(['adapter/adapter_model.safetensors', METRICS_FILE, RUN_SPEC_FILE]);
  });
});
