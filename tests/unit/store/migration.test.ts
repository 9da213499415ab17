// Records written by older and newer versions of the app. The older database is written here the
// way version 1 of the app wrote it, with raw IndexedDB calls (database version 1: the stores
// runs and files; records of schema 1), then read through the current store: the database is
// upgraded, each record migrated on reading and written back. What a newer app wrote is refused
// with an error that says to update, and left as it is.

import { beforeEach, describe, expect, it } from 'vitest';
import { parseRunSpec, runSpecWith } from '../../../src/run/spec';
import { DB_NAME } from '../../../src/store/db';
import { InvalidRecordError, NewerSchemaError, StoreClosedError } from '../../../src/store/errors';
import { bytes, checkpointMeta, freshIndexedDB, harness, runInput } from './fixtures';

beforeEach(freshIndexedDB);

function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error);
  });
}

/** Opens the database at `version` with raw IndexedDB, creating `stores` if it is new. */
async function openRaw(version?: number, stores: [string, IDBObjectStoreParameters?][] = []): Promise<IDBDatabase> {
  const request = indexedDB.open(DB_NAME, version);
  request.onupgradeneeded = () => {
    for (const [name, options] of stores) request.result.createObjectStore(name, options);
  };
  return done(request);
}

async function putRaw(db: IDBDatabase, store: string, value: unknown, key?: IDBValidKey): Promise<void> {
  const tx = db.transaction(store, 'readwrite');
  tx.objectStore(store).put(value, key);
  await committed(tx);
}

async function getRaw(store: string, key: IDBValidKey): Promise<unknown> {
  const db = await openRaw();
  const value = await done(db.transaction(store).objectStore(store).get(key));
  db.close();
  return value;
}

const V1_SPEC = structuredClone(runSpecWith({ adapter: { method: 'lora', r: 4 } }));

/** Version 1's records: the summary flat on the record, no updatedAt or result, files in IndexedDB under `folder`. */
const V1_DONE = {
  schema: 1,
  id: 'old-done',
  name: 'LoRA r=4 · stories260K · story',
  createdAt: '2024-11-02T09:30:00.000Z',
  status: 'done',
  spec: V1_SPEC,
  model: 'stories260K',
  task: 'story',
  method: 'LoRA r=4',
  accuracyBefore: 0.2,
  accuracyAfter: 0.4,
  mergeGapPoints: -0.5,
  durationMs: 5000,
  steps: 4,
  totalSteps: 4,
  losses: [3, 2.5, 2.2, 2],
  heldOut: [{ step: 2, loss: 2.6 }, { step: 4, loss: 2.3 }],
  metrics: { createdAt: '2024-11-02T09:30:05.000Z', mergeGapPoints: -0.5 },
  folder: 'save-1',
  files: [{ name: 'run.json', size: 3 }, { name: 'adapter/adapter_model.safetensors', size: 5 }],
};
const V1_FAILED = {
  ...V1_DONE, id: 'old-failed', createdAt: '2024-11-03T08:00:00.000Z', status: 'failed',
  accuracyAfter: null, mergeGapPoints: null, steps: 1, losses: [Number.NaN], heldOut: [], folder: 'save-2', files: [],
};
const { metrics: _, ...V1_FAILED_WITHOUT_METRICS } = V1_FAILED;
const V1_DAMAGED = { ...V1_DONE, id: 'old-damaged', accuracyBefore: 2, folder: 'save-3', files: [] };

async function writeVersion1Database(): Promise<void> {
  const db = await openRaw(1, [['runs', { keyPath: 'id' }], ['files']]);
  for (const record of [V1_DONE, V1_FAILED_WITHOUT_METRICS, V1_DAMAGED]) await putRaw(db, 'runs', record);
  await putRaw(db, 'files', new Uint8Array([1, 2, 3]), ['old-done', 'save-1', 'run.json']);
  await putRaw(db, 'files', new Uint8Array([4, 5, 6, 7, 8]), ['old-done', 'save-1', 'adapter/adapter_model.safetensors']);
  db.close();
}

describe('records of schema 1 (database version 1)', () => {
  it('reads them through the current API, migrated, and writes them back', async () => {
    await writeVersion1Database();
    const h = harness('idb');
    const store = await h.open();

    const { runs, unreadable } = await store.listRuns();
    expect(runs.map((r) => r.id)).toEqual(['old-failed', 'old-done']);
    expect(await store.getRun('old-done')).toEqual({
      schema: 2,
      id: 'old-done',
      name: 'LoRA r=4 · stories260K · story',
      createdAt: '2024-11-02T09:30:00.000Z',
      updatedAt: '2024-11-02T09:30:00.000Z',
      status: 'done',
      spec: parseRunSpec(V1_SPEC),
      summary: {
        model: 'stories260K', task: 'story', method: 'LoRA r=4', accuracyBefore: 0.2, accuracyAfter: 0.4, mergeGapPoints: -0.5,
        durationMs: 5000, stepsDone: 4, totalSteps: 4,
      },
      curves: { loss: [3, 2.5, 2.2, 2], heldOut: [{ step: 2, loss: 2.6 }, { step: 4, loss: 2.3 }] },
      metrics: { createdAt: '2024-11-02T09:30:05.000Z', mergeGapPoints: -0.5 },
      location: { backend: 'idb', folder: 'save-1' },
      files: [{ name: 'run.json', size: 3 }, { name: 'adapter/adapter_model.safetensors', size: 5 }],
    });
    const failed = await store.getRun('old-failed');
    expect(failed).toMatchObject({ status: 'failed', summary: { accuracyAfter: null, mergeGapPoints: null, stepsDone: 1 }, files: [] });
    expect(failed).not.toHaveProperty('metrics');
    expect(failed?.curves.loss[0]).toBeNaN();

    // Files saved without a sha256 are checked by size.
    expect(await store.readFiles('old-done')).toEqual(new Map([
      ['run.json', new Uint8Array([1, 2, 3])],
      ['adapter/adapter_model.safetensors', new Uint8Array([4, 5, 6, 7, 8])],
    ]));

    // A schema 1 record that its own schema rejects is listed apart, with the field.
    expect(unreadable).toHaveLength(1);
    expect(unreadable[0]).toMatchObject({ kind: 'run', id: 'old-damaged' });
    expect(unreadable[0]!.error).toBeInstanceOf(InvalidRecordError);
    expect(unreadable[0]!.error.message).toBe('run "LoRA r=4 · stories260K · story" (id old-damaged) is not a valid record: (as schema 1) accuracyBefore: Too big: expected number to be <=1');

    // Written back at schema 2; the damaged one is left as it was.
    expect(await getRaw('runs', 'old-done')).toMatchObject({ schema: 2, summary: { method: 'LoRA r=4' } });
    expect(await getRaw('runs', 'old-damaged')).toMatchObject({ schema: 1, accuracyBefore: 2 });
  });

  it('upgrades the database so that old runs take part in everything new', async () => {
    await writeVersion1Database();
    const h = harness('idb');
    const store = await h.open();
    const db = await openRaw();
    expect(db.version).toBe(2);
    expect([...db.objectStoreNames].sort()).toEqual(['checkpoints', 'files', 'pending', 'runs']);
    db.close();

    // Saving over a migrated run replaces its version 1 folder like any other.
    const run = await store.getRun('old-done');
    const continued = await store.saveRun({ ...run!, status: 'interrupted' }, new Map([['run.json', bytes(4)]]));
    await store.saveCheckpoint('old-done', new Map([['trainer.bin', bytes(9)]]), checkpointMeta(2));
    expect((await store.interruptedRuns()).map((r) => r.id)).toEqual(['old-done']);
    expect((await h.storedFiles()).filter((p) => p.startsWith('old-done/'))).toEqual([
      expect.stringMatching(/^old-done\/ckpt-[0-9a-f-]+\/trainer\.bin$/),
      `old-done/${continued.location.folder}/run.json`,
    ]);
  });
});

describe('records and databases of a newer app', () => {
  it('refuses a record of a newer schema with a message to update, and leaves it as it is', async () => {
    const h = harness('idb');
    const store = await h.open();
    await store.saveRun(runInput(), new Map());
    const future = { schema: 3, id: 'future', name: 'from the future', createdAt: '2030-01-01T00:00:00.000Z', layout: 'something new' };
    const db = await openRaw();
    await putRaw(db, 'runs', future);
    await putRaw(db, 'checkpoints', { schema: 3, runId: 'future' });
    db.close();

    const { runs, unreadable } = await store.listRuns();
    expect(runs.map((r) => r.id)).toEqual(['run-1']);
    expect(unreadable.map((u) => [u.kind, u.id, u.error.constructor])).toEqual([['checkpoint', 'future', NewerSchemaError], ['run', 'future', NewerSchemaError]]);
    const error = await store.getRun('future').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NewerSchemaError);
    expect(error).toMatchObject({ schema: 3, known: 2 });
    expect((error as Error).message).toBe(
      'run "from the future" (id future) was saved by a newer version of the app (schema 3; this version reads up to schema 2): update the app (reload the page) to open it',
    );
    await expect(store.renameRun('future', 'mine now')).rejects.toThrow(NewerSchemaError);
    expect(await getRaw('runs', 'future')).toEqual(future);
  });

  it('refuses a database of a newer version', async () => {
    (await openRaw(3, [['runs', { keyPath: 'id' }]])).close();
    await expect(harness('idb').open()).rejects.toThrow(
      'the run history (IndexedDB database "d2lora-runs") was saved by a newer version of the app (database version 3; this version reads up to database version 2): update the app (reload the page) to open it',
    );
  });

  it('steps aside when a newer app upgrades the database in another tab', async () => {
    const store = await harness('idb').open();
    // The upgrade goes through only if the store closes its connection.
    (await openRaw(3)).close();
    await expect(store.listRuns()).rejects.toThrow(StoreClosedError);
    await expect(store.listRuns()).rejects.toThrow(/a newer version of the app\) is upgrading or deleting the run history: reload this page/);
  });
});
