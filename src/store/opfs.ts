// The run history's files in the origin private file system (navigator.storage.getDirectory()),
// where large files belong: no size limit per file beyond the quota, no copy through the
// database, and it works in the page and in dedicated workers alike.
//
// Layout, under the OPFS root:
//   runs/<runId>/<folder>/<file>   one folder per save ("out-<uuid>", "ckpt-<uuid>"); a file
//                                  name's "/" (one folder level, "adapter/…") is written as
//                                  %2F (encodeURIComponent), since an OPFS name cannot hold "/"
//
// Each file is written through createWritable(), whose bytes land in a swap file that replaces
// the file only on close(); a failed write is aborted, leaving at most an empty file. Which
// folder counts is the record's business (src/store/store.ts), so no file is ever renamed.
//
// The code asks only for the handful of methods below (OpfsDirectory): the browser's
// FileSystemDirectoryHandle has them, and the unit tests give an in-memory one.

import { isErrorNamed } from './errors';
import type { FileStore } from './files';

export interface OpfsDirectory {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<OpfsDirectory>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<OpfsFile>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}

export interface OpfsFile {
  getFile(): Promise<Blob>;
  createWritable(): Promise<OpfsWritable>;
}

export interface OpfsWritable {
  write(data: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

const RUNS_FOLDER = 'runs';
/** Never a run id (those hold no "."). */
const PROBE_FILE = '.probe';

/**
 * The OPFS file store, once a probe file has been written and removed: getDirectory() exists in
 * browsers (Safari's main thread, for one) whose files cannot be written with createWritable().
 * Throws what failed.
 */
export async function openOpfsFileStore(getDirectory: (() => Promise<OpfsDirectory>) | undefined): Promise<OpfsFileStore> {
  if (getDirectory === undefined) throw new Error('navigator.storage.getDirectory() is not available');
  const root = await getDirectory();
  const runs = await root.getDirectoryHandle(RUNS_FOLDER, { create: true });
  const probe = await (await runs.getFileHandle(PROBE_FILE, { create: true })).createWritable();
  await probe.write(new Uint8Array([1]));
  await probe.close();
  await runs.removeEntry(PROBE_FILE);
  return new OpfsFileStore(root);
}

export class OpfsFileStore implements FileStore {
  readonly kind = 'opfs';

  constructor(private readonly root: OpfsDirectory) {}

  async write(runId: string, folder: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    if (files.size === 0) return;
    const dir = await (await (await this.runs()).getDirectoryHandle(runId, { create: true })).getDirectoryHandle(folder, { create: true });
    for (const [name, bytes] of files) {
      const writable = await (await dir.getFileHandle(entryName(name), { create: true })).createWritable();
      try {
        await writable.write(bytes as Uint8Array<ArrayBuffer>);
        await writable.close();
      } catch (e) {
        // Drops the swap file; after a failed close() there is none, and abort() rejects.
        await writable.abort().catch(() => undefined);
        throw e;
      }
    }
  }

  async read(runId: string, folder: string, name: string): Promise<Uint8Array | null> {
    try {
      const dir = await (await (await this.runs()).getDirectoryHandle(runId)).getDirectoryHandle(folder);
      const file = await (await dir.getFileHandle(entryName(name))).getFile();
      return new Uint8Array(await file.arrayBuffer());
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async removeFolder(runId: string, folder: string): Promise<void> {
    try {
      await (await (await this.runs()).getDirectoryHandle(runId)).removeEntry(folder, { recursive: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async removeRun(runId: string): Promise<void> {
    try {
      await (await this.runs()).removeEntry(runId, { recursive: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async removeAll(): Promise<void> {
    try {
      await this.root.removeEntry(RUNS_FOLDER, { recursive: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Asked for each time: removeAll() removes it, the next save makes it again. */
  private runs(): Promise<OpfsDirectory> {
    return this.root.getDirectoryHandle(RUNS_FOLDER, { create: true });
  }
}

function entryName(name: string): string {
  return encodeURIComponent(name);
}

function isNotFound(e: unknown): boolean {
  return isErrorNamed(e, 'NotFoundError');
}
