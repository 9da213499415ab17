// Comparing runs of the history: the picked runs' records loaded from the real store (on
// fake-indexeddb), their colours kept while they stay picked, the selection following the list
// (deleted runs dropped, runs saved again loaded again); their losses on one x axis by step and by
// epoch; their settings as rows, only those that differ — exactly those — or all of them.

import 'fake-indexeddb/auto';
import { describe, expect, it, vi } from 'vitest';
import { runSpecWith, type RunSpec } from '../../src/run/spec';
import { MAX_COMPARED, useCompareRuns } from '../../src/state/compare-runs';
import { runStore, useHistory } from '../../src/state/history';
import type { RunRecord } from '../../src/store/record';
import { overlaidLosses, settingRows, stepsPerEpoch, xRange } from '../../src/ui/history/compare-data';
import { smoothEma } from '../../src/ui/train/smoothing';
import { runInput } from './store/fixtures';

/** What the curves read of a record. */
function curvesOf(loss: number[], epochs: number, heldOut: { step: number; loss: number }[] = []): Pick<RunRecord, 'spec' | 'summary' | 'curves'> {
  const r = runInput({ spec: runSpecWith({ training: { epochs } }), curves: { loss, heldOut } });
  return { spec: r.spec, summary: { ...r.summary, stepsDone: loss.length, totalSteps: loss.length }, curves: r.curves };
}

describe('the picked runs', () => {
  const save = (id: string, name = id) => runStore().then((s) => s.saveRun(runInput({ id, name, curves: { loss: [3, 2, 1], heldOut: [] } }), new Map()));
  const entry = (id: string) => useHistory.getState().runs.find((r) => r.id === id)!;

  it('loads each picked run\'s record, keeps its colour while it stays picked, and takes at most MAX_COMPARED', async () => {
    const ids = Array.from({ length: MAX_COMPARED + 1 }, (_, i) => `pick-${i}`);
    for (const id of ids) await save(id);
    await useHistory.getState().refresh();
    const { pick } = useCompareRuns.getState();
    for (const id of ids) pick(entry(id), true);
    const { selected } = useCompareRuns.getState();
    expect(selected.map((p) => p.id)).toEqual(ids.slice(0, MAX_COMPARED));
    expect(selected.map((p) => p.colour)).toEqual([1, 2, 3, 4, 5, 6]);
    await vi.waitFor(() => expect(useCompareRuns.getState().records['pick-0']?.record?.curves.loss).toEqual([3, 2, 1]));

    // Unpicking frees the colour for the next run picked; the others keep theirs.
    pick(entry('pick-1'), false);
    expect(useCompareRuns.getState().records['pick-1']).toBeUndefined();
    pick(entry(ids.at(-1)!), true);
    expect(useCompareRuns.getState().selected.map((p) => `${p.id}:${p.colour}`)).toEqual(['pick-0:1', 'pick-2:3', 'pick-3:4', 'pick-4:5', 'pick-5:6', `${ids.at(-1)}:2`]);
    useCompareRuns.getState().clearSelection();
    expect(useCompareRuns.getState()).toMatchObject({ selected: [], records: {} });
  });

  it('follows the list: a deleted run is dropped, a renamed one loads again', async () => {
    await save('sync-a', 'first name');
    await save('sync-b');
    await useHistory.getState().refresh();
    useCompareRuns.getState().pick(entry('sync-a'), true);
    useCompareRuns.getState().pick(entry('sync-b'), true);
    await vi.waitFor(() => expect(useCompareRuns.getState().records['sync-a']?.record?.name).toBe('first name'));

    await useHistory.getState().rename('sync-a', 'second name');
    await useHistory.getState().remove('sync-b');
    useCompareRuns.getState().sync(useHistory.getState().runs);
    expect(useCompareRuns.getState().selected.map((p) => p.id)).toEqual(['sync-a']);
    expect(useCompareRuns.getState().records['sync-b']).toBeUndefined();
    // The record loaded before is shown until the new one is in.
    expect(useCompareRuns.getState().records['sync-a']?.record?.name).toBe('first name');
    await vi.waitFor(() => expect(useCompareRuns.getState().records['sync-a']?.record?.name).toBe('second name'));
    useCompareRuns.getState().clearSelection();
  });

  it('says why a picked run could not be loaded', async () => {
    await save('gone');
    await useHistory.getState().refresh();
    const e = entry('gone');
    await (await runStore()).deleteRun('gone');
    useCompareRuns.getState().pick(e, true);
    await vi.waitFor(() => expect(useCompareRuns.getState().records.gone).toEqual({ updatedAt: e.updatedAt, record: null, error: 'the history holds no run gone any more' }));
    useCompareRuns.getState().clearSelection();
  });
});

describe('the losses on one x axis', () => {
  // a: 4 steps over 2 epochs (2 a step); b: 6 steps in 1 epoch, the 5th diverged.
  const a = curvesOf([4, 3, 2, 1], 2, [{ step: 2, loss: 3.5 }, { step: 4, loss: 1.5 }]);
  const b = curvesOf([6, 5, 4, 3, Number.NaN, 1], 1);

  it('by step: every run at its steps, nothing (undefined, drawn across) where it has none, a gap (null) where its loss was not finite', () => {
    const { data, points } = overlaidLosses([a, b], 'step', 0.5);
    expect(points).toEqual([4, 6]);
    expect(data[0]).toEqual([1, 2, 3, 4, 5, 6]);
    const u = undefined;
    expect(data[1]).toEqual([4, 3, 2, 1, u, u]);
    expect(data[2]).toEqual([...smoothEma([4, 3, 2, 1], 0.5), u, u]);
    expect(data[3]).toEqual([u, 3.5, u, 1.5, u, u]);
    expect(data[4]).toEqual([6, 5, 4, 3, null, 1]);
    expect(data[5]).toEqual(smoothEma([6, 5, 4, 3, Number.NaN, 1], 0.5));
    expect(data[6]).toEqual([u, u, u, u, u, u]);
    expect(xRange([a, b], 'step')).toEqual([1, 6]);
  });

  it('by epoch: x is the step over the run\'s steps per epoch, so runs of other lengths end together', () => {
    expect(stepsPerEpoch(a)).toBe(2);
    expect(stepsPerEpoch(b)).toBe(6);
    const { data } = overlaidLosses([a, b], 'epoch', 0);
    expect(data[0]).toEqual([1 / 6, 2 / 6, 0.5, 4 / 6, 5 / 6, 1, 1.5, 2]);
    const u = undefined;
    expect(data[1]).toEqual([u, u, 4, u, u, 3, 2, 1]);
    expect(data[3]).toEqual([u, u, u, u, u, 3.5, u, 1.5]);
    // b's third step is a's first (half an epoch), its last a's second (one epoch).
    expect(data[4]).toEqual([6, 5, 4, 3, null, 1, u, u]);
    expect(xRange([a, b], 'epoch')).toEqual([0, 2]);
  });

  it('counts a run that stopped early by its planned steps per epoch', () => {
    const stopped = { ...a, summary: { ...a.summary, stepsDone: 3, totalSteps: 8 }, curves: { loss: [4, 3, 2], heldOut: [] } };
    expect(stepsPerEpoch(stopped)).toBe(4);
    expect(overlaidLosses([stopped], 'epoch', 0).data[0]).toEqual([0.25, 0.5, 0.75]);
  });
});

describe('the settings side by side', () => {
  const base = runSpecWith({ task: { kind: 'story', trainSize: 160, testSize: 24 }, training: { epochs: 1, batch: 8, lr: 1e-2 } });
  const withLr = runSpecWith({ ...base, training: { ...base.training, lr: 3e-3 } });
  const withLrAndR = runSpecWith({ ...withLr, adapter: { ...withLr.adapter, r: 4 } });
  const labels = (specs: RunSpec[], all = false) => settingRows(specs, all).map((r) => `${r.label} (${r.path})`);

  it('lists exactly the fields that differ between any two runs, in the spec\'s order, with the setup\'s labels and each run\'s value', () => {
    expect(settingRows([base, base], false)).toEqual([]);
    expect(labels([base, withLr])).toEqual(['Learning rate (training.lr)']);
    expect(settingRows([base, withLr, withLrAndR], false)).toEqual([
      { path: 'adapter.r', label: 'Rank r', values: [8, 8, 4], differs: true },
      { path: 'training.lr', label: 'Learning rate', values: [1e-2, 3e-3, 3e-3], differs: true },
    ]);
  });

  it('takes a field that is an object in one run and not another (early stopping on and off) as one row, and looks inside when all have it', () => {
    const stopping = (patience: number) => runSpecWith({ ...base, training: { ...base.training, earlyStopping: { patience, devItems: 32 } } });
    expect(labels([base, stopping(2)])).toEqual(['Stop early (training.earlyStopping)']);
    expect(labels([stopping(2), stopping(3)])).toEqual(['Patience (training.earlyStopping.patience)']);
    expect(settingRows([base, stopping(2), stopping(3)], false).map((r) => r.path)).toEqual(['training.earlyStopping']);
    // Another kind of model: the fields of each kind, each where the other has none.
    const hub = runSpecWith({ ...base, model: { kind: 'hub', repo: 'HuggingFaceTB/SmolLM2-135M', revision: 'main' } });
    expect(settingRows([base, hub], false).map((r) => [r.path, r.values])).toEqual([
      ['model.kind', ['preset', 'hub']],
      ['model.name', ['stories260K', undefined]],
      ['model.repo', [undefined, 'HuggingFaceTB/SmolLM2-135M']],
      ['model.revision', [undefined, 'main']],
    ]);
  });

  it('with all: every field, those that differ marked', () => {
    const rows = settingRows([base, withLr], true);
    const leaves = (v: unknown): number => (typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.values(v).reduce<number>((n, x) => n + leaves(x), 0) : 1);
    expect(rows).toHaveLength(leaves(base));
    expect(rows.filter((r) => r.differs).map((r) => r.path)).toEqual(['training.lr']);
    expect(rows.find((r) => r.path === 'task.questionTypes')).toEqual({ path: 'task.questionTypes', label: 'Question types', values: [['color'], ['color']], differs: false });
  });
});
