// What the run store's tests share: a fresh fake IndexedDB per test, a store over either file
// backend (IndexedDB, or OPFS on the in-memory file system), a way to see every file and journal
// entry the backend holds, and runs and files to save.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { openDB } from 'idb';
import { DEFAULT_RUN_SPEC } from '../../../src/run/spec';
import { DB_NAME } from '../../../src/store/db';
import type { CheckpointMeta } from '../../../src/store/record';
import { openRunStore, type RunInput, type RunStore, type RunStoreOptions } from '../../../src/store/store';
import { MemoryFileSystem } from './memory-opfs';

export type Backend = 'idb' | 'opfs';
export const BACKENDS: Backend[] = ['idb', 'opfs'];

/** A new, empty IndexedDB for the next test (call in beforeEach). */
export function freshIndexedDB(): void {
  globalThis.indexedDB = new IDBFactory() as unknown as typeof globalThis.indexedDB;
}

export interface Harness {
  fs: MemoryFileSystem;
  open(options?: RunStoreOptions): Promise<RunStore>;
  /** Every file the backend holds, as "runId/folder/name" (OPFS names as written: "adapter%2F…"). */
  storedFiles(): Promise<string[]>;
  /** The `pending` journal's entries, as "runId/folder". */
  pending(): Promise<string[]>;
  /** Replaces a stored file's bytes behind the store's back, or removes it (null). */
  tamper(runId: string, folder: string, name: string, content: Uint8Array | null): Promise<void>;
}

export function harness(backend: Backend): Harness {
  const fs = new MemoryFileSystem();
  return {
    fs,
    open: (options = {}) => openRunStore({ files: backend, storage: backend === 'opfs' ? fs.storage() : null, locks: null, ...options }),
    async storedFiles() {
      if (backend === 'opfs') return fs.paths().map((p) => p.replace(/^runs\//, ''));
      const db = await openDB(DB_NAME);
      const keys = (await db.getAllKeys('files')) as string[][];
      db.close();
      return keys.map((k) => k.join('/')).sort();
    },
    async pending() {
      const db = await openDB(DB_NAME);
      const entries = (await db.getAll('pending')) as { runId: string; folder: string }[];
      db.close();
      return entries.map((e) => `${e.runId}/${e.folder}`);
    },
    async tamper(runId, folder, name, content) {
      if (backend === 'opfs') {
        const dir = await (await (await fs.root.getDirectoryHandle('runs')).getDirectoryHandle(runId)).getDirectoryHandle(folder);
        if (content === null) return dir.removeEntry(encodeURIComponent(name));
        const w = await (await dir.getFileHandle(encodeURIComponent(name))).createWritable();
        await w.write(content as Uint8Array<ArrayBuffer>);
        return w.close();
      }
      const db = await openDB(DB_NAME);
      if (content === null) await db.delete('files', [runId, folder, name]);
      else await db.put('files', content, [runId, folder, name]);
      db.close();
    },
  };
}

export function runInput(overrides: Partial<RunInput> = {}): RunInput {
  return {
    id: 'run-1',
    name: 'D2-LoRA r=8 · stories260K · story',
    createdAt: '2025-03-01T10:00:00.000Z',
    status: 'done',
    spec: structuredClone(DEFAULT_RUN_SPEC),
    summary: {
      model: 'stories260K',
      task: 'story',
      method: 'D2-LoRA r=8',
      accuracyBefore: 0.25,
      accuracyAfter: 0.5,
      mergeGapPoints: 0,
      durationMs: 12_345,
      stepsDone: 3,
      totalSteps: 3,
    },
    curves: { loss: [2.5, 2.25, Number.NaN], heldOut: [{ step: 3, loss: 2.0 }] },
    result: { note: 'diverged at the last step', figures: [1, 2] },
    ...overrides,
  };
}

/** n deterministic bytes, different for each seed. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 17) & 0xff;
  return out;
}

/** An output folder: spec, adapter (in its folder), merged model. */
export function outputFiles(seed = 1): Map<string, Uint8Array> {
  return new Map([
    ['run.json', bytes(40, seed)],
    ['adapter/adapter_model.safetensors', bytes(300, seed + 1)],
    ['model.safetensors', bytes(1000, seed + 2)],
  ]);
}

export function checkpointMeta(step: number, overrides: Partial<CheckpointMeta> = {}): CheckpointMeta {
  return { step, totalSteps: 10, savedAt: '2025-03-01T10:05:00.000Z', reason: 'interval', ...overrides };
}
