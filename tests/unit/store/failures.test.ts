// The run store when things go wrong: a write that fails mid-save (out of space, or any other
// error) leaves the previous run or checkpoint readable and nothing of the new one; a file gone
// or changed behind the store's back is named; a save cut short (the tab closed) is cleaned up
// by the next store to open, but never while it is still in flight.
//
// Failures are injected where the browser raises them: the in-memory OPFS's writes, and, since
// fake-indexeddb has no quota, IDBObjectStore.put throwing as a browser's does for a value it
// refuses.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StorageFullError, StoreClosedError, StoredFileError } from '../../../src/store/errors';
import { BACKENDS, bytes, checkpointMeta, freshIndexedDB, harness, outputFiles, runInput, type Backend, type Harness } from './fixtures';
import { MemoryLocks } from './memory-opfs';

beforeEach(freshIndexedDB);
afterEach(() => vi.restoreAllMocks());

const quotaError = () => new DOMException('the quota has been exceeded', 'QuotaExceededError');
/** The browser's estimate in the IndexedDB runs (no OPFS there). */
const IDB_STORAGE = { estimate: () => Promise.resolve({ usage: 999_000, quota: 1_000_000 }) };

const put = IDBObjectStore.prototype.put;

/** The n-th put (0: the next) into the database's `store` throws `error`. */
function failPut(store: string, n: number, error: Error): void {
  let left = n;
  vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
    if (this.name === store && left-- === 0) throw error;
    return put.apply(this, args);
  });
}

/** The n-th file write (0: the next) of the backend throws `error`. */
function failFileWrite(h: Harness, backend: Backend, n: number, error: Error): void {
  if (backend === 'opfs') h.fs.failWrite(n, error);
  else failPut('files', n, error);
}

function openWithEstimate(h: Harness, backend: Backend) {
  return h.open(backend === 'idb' ? { storage: IDB_STORAGE } : {});
}

describe.each(BACKENDS)('failures on %s', (backend) => {
  it('turns running out of space mid-save into a StorageFullError and keeps the run it was replacing', async () => {
    const h = harness(backend);
    const store = await openWithEstimate(h, backend);
    const previous = await store.saveRun(runInput({ status: 'interrupted' }), new Map([['run.json', bytes(40)]]));
    const storedBefore = await h.storedFiles();
    if (backend === 'opfs') h.fs.quota = h.fs.usage() + 500; // run.json and the adapter fit, the merged model does not
    else failFileWrite(h, backend, 2, quotaError());

    const error = await store.saveRun(runInput({ name: 'bigger' }), outputFiles()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageFullError);
    const full = error as StorageFullError;
    expect(full.neededBytes).toBe(1340);
    expect(full.message).toContain('could not save run "bigger" (id run-1)');
    expect(full.message).toContain('the save needs 1340 bytes (1.31 KiB)');
    expect(full.message).toMatch(backend === 'opfs' ? /40 bytes of this site's 540 bytes quota are in use/ : /999000 bytes \(976 KiB\) of this site's 1000000 bytes \(977 KiB\) quota are in use/);
    expect(full.message).toContain('Delete runs in the history, or save runs without the merged checkpoint (model.safetensors).');
    expect(full.cause).toMatchObject({ name: 'QuotaExceededError' });

    expect(await store.getRun('run-1')).toEqual(previous);
    expect(await store.readFiles('run-1')).toEqual(new Map([['run.json', bytes(40)]]));
    expect(await h.storedFiles()).toEqual(storedBefore);
    expect(await h.pending()).toEqual([]);
  });

  it('removes the files when the record cannot be committed', async () => {
    const h = harness(backend);
    const store = await openWithEstimate(h, backend);
    failPut('runs', 0, quotaError());
    await expect(store.saveRun(runInput(), outputFiles())).rejects.toThrow(StorageFullError);
    expect(await store.getRun('run-1')).toBeNull();
    expect(await h.storedFiles()).toEqual([]);
    expect(await h.pending()).toEqual([]);
  });

  it('keeps the old checkpoint readable when the new one fails mid-write, and leaves none of the new one', async () => {
    const h = harness(backend);
    const store = await openWithEstimate(h, backend);
    await store.saveRun(runInput({ status: 'interrupted' }), new Map());
    const old = new Map([['adapters.bin', bytes(100, 1)], ['optimizer.bin', bytes(200, 2)]]);
    await store.saveCheckpoint('run-1', old, checkpointMeta(4));
    const storedBefore = await h.storedFiles();
    const next = new Map([['adapters.bin', bytes(100, 3)], ['optimizer.bin', bytes(200, 4)]]);

    // Out of space at the second file.
    failFileWrite(h, backend, 1, quotaError());
    const error = await store.saveCheckpoint('run-1', next, checkpointMeta(8)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageFullError);
    expect((error as Error).message).toContain('could not save the checkpoint of run "D2-LoRA r=8 · stories260K · story" (id run-1) at step 8 of 10');
    expect((error as Error).message).toContain('Delete runs in the history to make room for the resume point.');
    expect(await store.loadCheckpoint('run-1')).toEqual({ meta: checkpointMeta(4), files: old });
    expect(await h.storedFiles()).toEqual(storedBefore);
    expect(await h.pending()).toEqual([]);

    // Any other failure is passed on as it is, with the same clean-up.
    const other = new DOMException('the disk is unreadable', 'NotReadableError');
    failFileWrite(h, backend, 1, other);
    await expect(store.saveCheckpoint('run-1', next, checkpointMeta(8))).rejects.toBe(other);
    expect(await store.loadCheckpoint('run-1')).toEqual({ meta: checkpointMeta(4), files: old });
    expect(await h.storedFiles()).toEqual(storedBefore);
    expect(await h.pending()).toEqual([]);

    // And the next save goes through.
    await store.saveCheckpoint('run-1', next, checkpointMeta(8));
    expect(await store.loadCheckpoint('run-1')).toEqual({ meta: checkpointMeta(8), files: next });
  });

  it('names the run and the file that is missing or changed', async () => {
    const h = harness(backend);
    const store = await h.open();
    const run = await store.saveRun(runInput(), outputFiles());
    const folder = run.location.folder;

    await h.tamper('run-1', folder, 'adapter/adapter_model.safetensors', null);
    const missing = await store.readFiles('run-1').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StoredFileError);
    expect(missing).toMatchObject({ file: 'adapter/adapter_model.safetensors' });
    expect((missing as Error).message).toBe(
      'run "D2-LoRA r=8 · stories260K · story" (id run-1): file adapter/adapter_model.safetensors is missing from the browser\'s storage ' +
        "(was part of the site's data cleared?); delete the run from the history, or run it again",
    );
    // The other files still read.
    expect((await store.readFiles('run-1', ['run.json'])).get('run.json')).toEqual(bytes(40, 1));

    await h.tamper('run-1', folder, 'model.safetensors', bytes(999));
    await expect(store.readFiles('run-1', ['model.safetensors'])).rejects.toThrow('file model.safetensors holds 999 bytes where 1000 were saved');
    await h.tamper('run-1', folder, 'model.safetensors', bytes(1000, 7));
    await expect(store.readFiles('run-1', ['model.safetensors'])).rejects.toThrow('file model.safetensors does not hold the bytes that were saved (its sha256 differs)');

    await store.saveRun(runInput({ status: 'interrupted' }), new Map());
    const checkpoint = await store.saveCheckpoint('run-1', new Map([['trainer.bin', bytes(8)]]), checkpointMeta(2));
    await h.tamper('run-1', checkpoint.location.folder, 'trainer.bin', null);
    await expect(store.loadCheckpoint('run-1')).rejects.toThrow('the checkpoint of run run-1: file trainer.bin is missing');
  });
});

describe('saves cut short', () => {
  it('leaves a save in flight in another tab alone, then finds it committed', async () => {
    const h = harness('opfs');
    const locks = new MemoryLocks();
    const first = await h.open({ locks });
    const hold = h.fs.holdWrites('model.safetensors');
    const saving = first.saveRun(runInput(), outputFiles());
    await hold.reached;
    // A second tab opens while the first is writing (the same browser: the same locks).
    const second = await h.open({ locks });
    expect(await h.pending()).toHaveLength(1);
    expect(await second.getRun('run-1')).toBeNull();
    hold.release();
    await saving;
    expect(await h.pending()).toEqual([]);
    expect(await second.readFiles('run-1')).toEqual(outputFiles());
  });

  it('removes the folder of a save whose tab closed mid-write when the next store opens', async () => {
    const h = harness('opfs');
    const closedTab = await h.open({ locks: new MemoryLocks() });
    h.fs.holdWrites('model.safetensors'); // never released: the tab is gone
    void closedTab.saveRun(runInput(), outputFiles());
    await vi.waitFor(async () => expect(await h.pending()).toHaveLength(1));
    expect(h.fs.paths()).not.toEqual([]);
    // The closed tab's locks went with it.
    await h.open({ locks: new MemoryLocks() });
    expect(await h.pending()).toEqual([]);
    expect(h.fs.paths()).toEqual([]);
  });
});

describe('a closed store', () => {
  it('says why it cannot be used', async () => {
    const store = await harness('idb').open();
    store.close();
    await expect(store.listRuns()).rejects.toThrow(new StoreClosedError('the run store was closed'));
  });
});
