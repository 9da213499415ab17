// The run store's round trips, through both file backends: IndexedDB (the fallback) and OPFS on
// the in-memory file system. Bytes read back must equal the bytes saved; what a delete or a
// replacement leaves behind is read from the backend itself.

import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidRecordError, UnknownRunError } from '../../../src/store/errors';
import { BACKENDS, bytes, checkpointMeta, freshIndexedDB, harness, outputFiles, runInput } from './fixtures';

beforeEach(freshIndexedDB);

describe.each(BACKENDS)('run store on %s', (backend) => {
  it('saves a run and reads back its record, list entry and bytes', async () => {
    const h = harness(backend);
    const store = await h.open();
    const files = outputFiles();
    // A view into a larger buffer: only its own bytes are saved.
    const big = bytes(64, 9);
    files.set('report.md', big.subarray(8, 24));
    const saved = await store.saveRun(runInput(), files);

    expect(saved.schema).toBe(2);
    expect(saved.location.backend).toBe(backend);
    expect(saved.files.map((f) => [f.name, f.size])).toEqual([
      ['run.json', 40],
      ['adapter/adapter_model.safetensors', 300],
      ['model.safetensors', 1000],
      ['report.md', 16],
    ]);
    expect(saved.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256 ?? ''))).toBe(true);

    expect(await store.getRun('run-1')).toEqual(saved);
    const { runs, unreadable } = await store.listRuns();
    expect(unreadable).toEqual([]);
    expect(runs).toEqual([
      {
        id: 'run-1', name: saved.name, createdAt: saved.createdAt, updatedAt: saved.updatedAt, status: 'done',
        summary: saved.summary, files: saved.files, bytes: 40 + 300 + 1000 + 16, checkpoint: null,
      },
    ]);
    // NaN (a diverged step's loss) and the free-form result survive.
    expect(saved.curves.loss[2]).toBeNaN();
    expect(saved.result).toEqual({ note: 'diverged at the last step', figures: [1, 2] });

    const read = await store.readFiles('run-1');
    expect([...read.keys()]).toEqual([...files.keys()]);
    for (const [name, b] of files) expect(read.get(name), name).toEqual(b);
    const some = await store.readFiles('run-1', ['adapter/adapter_model.safetensors']);
    expect([...some.keys()]).toEqual(['adapter/adapter_model.safetensors']);
    await expect(store.readFiles('run-1', ['nope.bin'])).rejects.toThrow(/has no file nope\.bin; it has run\.json, adapter\/adapter_model\.safetensors/);

    // The folder holds one file per name; OPFS names hold no "/".
    const stored = await h.storedFiles();
    expect(stored).toHaveLength(4);
    expect(stored.every((p) => p.startsWith(`run-1/${saved.location.folder}/`))).toBe(true);
    if (backend === 'opfs') expect(stored).toContain(`run-1/${saved.location.folder}/adapter%2Fadapter_model.safetensors`);
    expect(await h.pending()).toEqual([]);

    // Another store (a reload) reads the same.
    store.close();
    const again = await h.open();
    expect(await again.getRun('run-1')).toEqual(saved);
    expect((await again.readFiles('run-1')).get('model.safetensors')).toEqual(files.get('model.safetensors'));
  });

  it('lists runs newest first, whatever order they were saved in', async () => {
    const store = await harness(backend).open();
    for (const [id, createdAt] of [['b', '2025-03-02T00:00:00.000Z'], ['c', '2025-03-03T00:00:00.000Z'], ['a', '2025-03-01T00:00:00.000Z'], ['a2', '2025-03-01T00:00:00.000Z']]) {
      await store.saveRun(runInput({ id, createdAt }), new Map());
    }
    expect((await store.listRuns()).runs.map((r) => r.id)).toEqual(['c', 'b', 'a2', 'a']);
  });

  it('renames a run, trimmed, and keeps the name after a reload', async () => {
    const h = harness(backend);
    const store = await h.open();
    const saved = await store.saveRun(runInput(), outputFiles());
    const renamed = await store.renameRun('run-1', '  my best run  ');
    expect(renamed.name).toBe('my best run');
    expect(renamed.updatedAt >= saved.updatedAt).toBe(true);
    expect({ ...renamed, name: saved.name, updatedAt: saved.updatedAt }).toEqual(saved);
    await expect(store.renameRun('run-1', '   ')).rejects.toThrow(InvalidRecordError);
    await expect(store.renameRun('other', 'x')).rejects.toThrow(UnknownRunError);
    store.close();
    expect((await (await h.open()).getRun('run-1'))?.name).toBe('my best run');
  });

  it('replaces a run and its files, and removes the folder it replaced', async () => {
    const h = harness(backend);
    const store = await h.open();
    const first = await store.saveRun(runInput({ status: 'interrupted' }), outputFiles(1));
    const files = new Map([['run.json', bytes(10, 5)]]);
    const second = await store.saveRun(runInput(), files);
    expect(second.location.folder).not.toBe(first.location.folder);
    expect(await store.readFiles('run-1')).toEqual(files);
    expect(await h.storedFiles()).toEqual([`run-1/${second.location.folder}/run.json`]);
    expect(await h.pending()).toEqual([]);
  });

  it('deletes a run with its files and checkpoint; other runs stay', async () => {
    const h = harness(backend);
    const store = await h.open();
    await store.saveRun(runInput({ status: 'interrupted' }), outputFiles(1));
    await store.saveCheckpoint('run-1', new Map([['trainer.bin', bytes(50)]]), checkpointMeta(4));
    const other = await store.saveRun(runInput({ id: 'run-2' }), outputFiles(2));
    await store.deleteRun('run-1');
    expect(await store.getRun('run-1')).toBeNull();
    expect(await store.loadCheckpoint('run-1')).toBeNull();
    expect((await store.listRuns()).runs.map((r) => r.id)).toEqual(['run-2']);
    expect((await h.storedFiles()).every((p) => p.startsWith(`run-2/${other.location.folder}/`))).toBe(true);
    await store.deleteRun('never-saved'); // nothing to do, no error
  });

  it('keeps one checkpoint per interrupted run, replaces it whole, and lists the run as resumable', async () => {
    const h = harness(backend);
    const store = await h.open();
    await expect(store.saveCheckpoint('run-1', new Map(), checkpointMeta(1))).rejects.toThrow(UnknownRunError);
    await store.saveRun(runInput({ status: 'done' }), new Map());
    await expect(store.saveCheckpoint('run-1', new Map(), checkpointMeta(1))).rejects.toThrow(/is done: only an interrupted run keeps a checkpoint/);
    await store.saveRun(runInput({ status: 'interrupted' }), new Map());

    const first = new Map([['adapters.safetensors', bytes(100, 1)], ['optimizer/state.bin', bytes(200, 2)]]);
    const firstRecord = await store.saveCheckpoint('run-1', first, checkpointMeta(4, { reason: 'epoch' }));
    expect(await store.loadCheckpoint('run-1')).toEqual({ meta: checkpointMeta(4, { reason: 'epoch' }), files: first });

    const second = new Map([['adapters.safetensors', bytes(100, 3)]]);
    const secondRecord = await store.saveCheckpoint('run-1', second, checkpointMeta(8, { reason: 'pause' }));
    expect(await store.loadCheckpoint('run-1')).toEqual({ meta: checkpointMeta(8, { reason: 'pause' }), files: second });
    const stored = await h.storedFiles();
    expect(stored).toEqual([`run-1/${secondRecord.location.folder}/adapters.safetensors`]);
    expect(stored.some((p) => p.includes(firstRecord.location.folder))).toBe(false);

    const resumable = await store.interruptedRuns();
    expect(resumable.map((r) => [r.id, r.checkpoint])).toEqual([['run-1', { ...checkpointMeta(8, { reason: 'pause' }), bytes: 100 }]]);

    await store.deleteCheckpoint('run-1');
    expect(await store.loadCheckpoint('run-1')).toBeNull();
    expect(await store.interruptedRuns()).toEqual([]);
    expect(await h.storedFiles()).toEqual([]);
    expect(await h.pending()).toEqual([]);
  });

  it('drops the checkpoint when the run is saved as finished', async () => {
    const h = harness(backend);
    const store = await h.open();
    await store.saveRun(runInput({ status: 'interrupted' }), new Map());
    await store.saveCheckpoint('run-1', new Map([['trainer.bin', bytes(30)]]), checkpointMeta(5));
    const done = await store.saveRun(runInput({ status: 'done' }), outputFiles());
    expect(await store.loadCheckpoint('run-1')).toBeNull();
    expect((await h.storedFiles()).every((p) => p.startsWith(`run-1/${done.location.folder}/`))).toBe(true);
  });

  it('rejects a run with a bad file name or field before writing anything', async () => {
    const h = harness(backend);
    const store = await h.open();
    for (const name of ['../escape', 'a/b/c', '', 'adapter/', 'x\\y']) {
      await expect(store.saveRun(runInput(), new Map([[name, bytes(4)]])), name).rejects.toThrow(InvalidRecordError);
    }
    await expect(store.saveRun(runInput({ summary: { ...runInput().summary, accuracyAfter: 1.5 } }), new Map())).rejects.toThrow(/summary\.accuracyAfter/);
    await expect(store.saveRun(runInput({ id: 'has/slash' }), new Map())).rejects.toThrow(/id: a run id/);
    expect(await h.storedFiles()).toEqual([]);
    expect(await h.pending()).toEqual([]);
    expect((await store.listRuns()).runs).toEqual([]);
  });

  it('clears everything', async () => {
    const h = harness(backend);
    const store = await h.open();
    await store.saveRun(runInput({ status: 'interrupted' }), outputFiles());
    await store.saveCheckpoint('run-1', new Map([['trainer.bin', bytes(30)]]), checkpointMeta(5));
    await store.saveRun(runInput({ id: 'run-2' }), outputFiles(2));
    await store.clearAll();
    expect(await store.listRuns()).toEqual({ runs: [], unreadable: [] });
    expect(await store.loadCheckpoint('run-1')).toBeNull();
    expect(await h.storedFiles()).toEqual([]);
    // Still usable afterwards.
    await store.saveRun(runInput(), outputFiles());
    expect((await store.readFiles('run-1')).size).toBe(3);
  });

  it("reports the site's usage, quota and persistence, and its own bytes", async () => {
    const h = harness(backend);
    const store = await h.open();
    await store.saveRun(runInput({ status: 'interrupted' }), outputFiles());
    await store.saveCheckpoint('run-1', new Map([['trainer.bin', bytes(30)]]), checkpointMeta(5));
    const usage = await store.storageUsage();
    expect(usage.storeBytes).toBe(40 + 300 + 1000 + 30);
    expect(usage.backend).toBe(backend);
    if (backend === 'opfs') {
      expect(usage).toMatchObject({ usage: 1370, quota: Number.POSITIVE_INFINITY, persisted: false });
      expect(await store.requestPersistence()).toBe(true);
    } else {
      // No navigator.storage: the browser's figures are unknown.
      expect(usage).toMatchObject({ usage: null, quota: null, persisted: null });
      expect(await store.requestPersistence()).toBeNull();
    }
  });
});

describe('choosing the file backend', () => {
  it('takes OPFS where a probe write works, IndexedDB where it does not', async () => {
    const h = harness('opfs');
    expect((await (await h.open({ files: 'auto' })).storageUsage()).backend).toBe('opfs');
    expect(h.fs.paths()).toEqual([]); // the probe file is gone
    const broken = { ...h.fs.storage(), getDirectory: () => Promise.reject(new DOMException('not here', 'SecurityError')) };
    expect((await (await h.open({ files: 'auto', storage: broken })).storageUsage()).backend).toBe('idb');
    await expect(h.open({ files: 'opfs', storage: broken })).rejects.toThrow(/origin private file system is not usable here: not here/);
    expect((await (await h.open({ files: 'auto', storage: null })).storageUsage()).backend).toBe('idb');
  });

  it('reads runs saved to OPFS while new files go to IndexedDB', async () => {
    const h = harness('opfs');
    const files = outputFiles();
    const opfsStore = await h.open({ files: 'opfs' });
    await opfsStore.saveRun(runInput(), files);
    opfsStore.close();
    const idbStore = await h.open({ files: 'idb' });
    await idbStore.saveRun(runInput({ id: 'run-2' }), files);
    expect((await idbStore.getRun('run-2'))?.location.backend).toBe('idb');
    expect(await idbStore.readFiles('run-1')).toEqual(files);
    expect(await idbStore.readFiles('run-2')).toEqual(files);
  });
});
