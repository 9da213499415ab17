// The run history's IndexedDB database: its object stores, the upgrade callback that migrates
// their structure from each older database version, and the one way this layer runs a
// transaction. What the records hold (and their field-level migrations) is src/store/record.ts.
//
//   runs         run records, keyed by their id (record.ts: RunRecord)
//   files        the bytes of files kept in IndexedDB (the fallback where OPFS does not work),
//                a Uint8Array keyed by [runId, folder, name]
//   checkpoints  at most one checkpoint record per run, keyed by its runId (v2)
//   pending      the save folders that no record names (yet): written before a save's first
//                file, dropped when its record commits, or when the folder is removed (v2)
//
// Version history: 1 had runs and files; 2 added checkpoints and pending.

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { isErrorNamed, NewerSchemaError } from './errors';
import type { FileBackendKind } from './record';

export const DB_NAME = 'd2lora-runs';
const DB_VERSION = 2;

/** A save's folder that no record names: a save in flight, one cut short, or one replaced and being removed. */
export interface PendingFolder {
  runId: string;
  folder: string;
  backend: FileBackendKind;
  /** When it was journaled (ISO), for someone looking at the database in DevTools. */
  since: string;
}

export interface StoreDB extends DBSchema {
  /** Values are read as `unknown`: they pass record.ts's migration and checks before use. */
  runs: { key: string; value: unknown };
  files: { key: [string, string, string]; value: Uint8Array };
  checkpoints: { key: string; value: unknown };
  pending: { key: [string, string]; value: PendingFolder };
}

export type StoreDatabase = IDBPDatabase<StoreDB>;

export async function openDatabase(): Promise<StoreDatabase> {
  try {
    return await openDB<StoreDB>(DB_NAME, DB_VERSION, {
      upgrade(db, oldVersion) {
        if (oldVersion < 1) {
          db.createObjectStore('runs', { keyPath: 'id' });
          db.createObjectStore('files');
        }
        if (oldVersion < 2) {
          db.createObjectStore('checkpoints', { keyPath: 'runId' });
          db.createObjectStore('pending', { keyPath: ['runId', 'folder'] });
        }
      },
    });
  } catch (e) {
    if (!isErrorNamed(e, 'VersionError')) throw e;
    // Opened without a version, the database reports the one a newer app gave it.
    const current = await openDB(DB_NAME);
    const version = current.version;
    current.close();
    throw new NewerSchemaError(`the run history (IndexedDB database "${DB_NAME}")`, version, DB_VERSION, 'database version');
  }
}

/**
 * Runs `body` in `tx` and waits for the commit. A failure anywhere (a request, the body, the
 * commit itself, e.g. out of space) aborts the transaction, so none of its writes stay.
 */
export async function inTransaction<T>(tx: { done: Promise<void>; abort(): void }, body: () => Promise<T>): Promise<T> {
  try {
    const result = await body();
    await tx.done;
    return result;
  } catch (e) {
    try {
      tx.abort();
    } catch {
      // Already finished (committed or aborted by the failed request): nothing to undo.
    }
    await tx.done.catch(() => undefined); // its rejection is `e`, or the abort that followed it
    throw e;
  }
}
