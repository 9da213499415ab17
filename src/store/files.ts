// Where the bytes of a run's files and checkpoints go, behind one small interface: the origin
// private file system (src/store/opfs.ts) where it works, else IndexedDB (IdbFileStore, here).
// A file store knows folders and names only; which folder is current, and when one may go, is
// the run store's business (src/store/store.ts): a folder is written whole before any record
// names it, and removed whole.
//
// Files live at <runId>/<folder>/<name>; a name may hold one "/" (record.ts: isStoredFileName).

import { inTransaction, type StoreDatabase } from './db';
import type { FileBackendKind } from './record';

export interface FileStore {
  readonly kind: FileBackendKind;
  /** Writes every file into the folder (created as needed). On failure it throws; what it wrote stays until removeFolder. */
  write(runId: string, folder: string, files: ReadonlyMap<string, Uint8Array>): Promise<void>;
  /** The file's bytes, or null when the folder or the file is not there. */
  read(runId: string, folder: string, name: string): Promise<Uint8Array | null>;
  /** Removes the folder and everything in it; nothing happens when it is not there. */
  removeFolder(runId: string, folder: string): Promise<void>;
  /** Removes every folder of the run. */
  removeRun(runId: string): Promise<void>;
  /** Removes every file of every run. */
  removeAll(): Promise<void>;
}

/** The fallback: each file one value of the database's `files` store, keyed by [runId, folder, name]. */
export class IdbFileStore implements FileStore {
  readonly kind = 'idb';

  /** `db` is asked each time, so that a closed store fails with its reason. */
  constructor(private readonly db: () => StoreDatabase) {}

  async write(runId: string, folder: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    // One transaction: if the browser refuses any file (out of space), it refuses them all.
    const tx = this.db().transaction('files', 'readwrite');
    await inTransaction(tx, async () => {
      for (const [name, bytes] of files) await tx.store.put(ownBytes(bytes), [runId, folder, name]);
    });
  }

  async read(runId: string, folder: string, name: string): Promise<Uint8Array | null> {
    return (await this.db().get('files', [runId, folder, name])) ?? null;
  }

  async removeFolder(runId: string, folder: string): Promise<void> {
    // Keys [runId, folder, name] sort after [runId, folder] and before [runId, folder, []]: an array sorts after every string.
    await this.db().delete('files', IDBKeyRange.bound([runId, folder], [runId, folder, []]));
  }

  async removeRun(runId: string): Promise<void> {
    await this.db().delete('files', IDBKeyRange.bound([runId], [runId, []]));
  }

  async removeAll(): Promise<void> {
    await this.db().clear('files');
  }
}

/** The bytes alone: IndexedDB stores a view's whole buffer, which may be far larger than the view. */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}
