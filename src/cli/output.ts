// The output folder on disk, written whole or not at all: every file goes into a temporary folder
// beside it, is flushed to disk, and the folder is then renamed into place. A folder of an earlier
// run is replaced as a whole (never mixed with the new files); a failure leaves the old folder as
// it was and no partial one. `checkOutputFolder` runs before anything is loaded, so that a wrong
// --out costs nothing.

import { constants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** A file-system failure, naming the file and what to do. */
export class OutputError extends Error {
  override name = 'OutputError';
}

function explain(e: unknown, path: string, doing: string, flag = '--out'): OutputError {
  const err = e as NodeJS.ErrnoException;
  const advice: Record<string, string> = {
    ENOSPC: `the disk is full: free some space or choose another ${flag}`,
    EDQUOT: `the disk quota is used up: free some space or choose another ${flag}`,
    EACCES: `no permission to write there: choose another ${flag}`,
    EPERM: `no permission to write there: choose another ${flag}`,
    EROFS: `the file system is read-only: choose another ${flag}`,
    ENOTDIR: `a part of the path is a file, not a folder: choose another ${flag}`,
    EEXIST: `something is in the way: choose another ${flag}`,
  };
  return new OutputError(`${path}: cannot ${doing} (${err.code ?? err.message}): ${advice[err.code ?? ''] ?? `choose another ${flag}`}`);
}

/** Fails now, naming the problem, if `out` cannot become the output folder (the folder `flag` names). */
export async function checkOutputFolder(out: string, flag = '--out'): Promise<void> {
  const target = resolve(out);
  const info = await stat(target).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(explain(e, target, 'be the output folder', flag))));
  if (info !== null && !info.isDirectory()) throw new OutputError(`${flag} ${out} is a file, not a folder: choose another ${flag}`);
  const parent = dirname(target);
  try {
    await mkdir(parent, { recursive: true });
  } catch (e) {
    throw explain(e, parent, 'create the folder', flag);
  }
  try {
    await access(parent, constants.W_OK);
  } catch (e) {
    throw explain(e, parent, 'write into the folder', flag);
  }
}

/** The files of a flat folder (a checkpoint's), by name; an error naming the folder if it cannot be read. */
export async function readFolderFiles(dir: string, flag: string): Promise<Map<string, Uint8Array>> {
  const target = resolve(dir);
  const entries = await readdir(target, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) =>
    Promise.reject(new OutputError(`${flag} ${dir}: ${e.code === 'ENOENT' ? 'no such folder' : e.code === 'ENOTDIR' ? 'a file, not a folder' : `cannot read it (${e.code ?? e.message})`}`)),
  );
  const files = new Map<string, Uint8Array>();
  for (const entry of entries) if (entry.isFile()) files.set(entry.name, new Uint8Array(await readFile(join(target, entry.name))));
  return files;
}

/** Writes `files` (names may contain one level of folders) as the folder `out` (the folder `flag` names), atomically. */
export async function writeOutputFolder(out: string, files: ReadonlyMap<string, Uint8Array>, flag = '--out'): Promise<void> {
  const target = resolve(out);
  const partial = `${target}.partial-${process.pid}`;
  const replaced = `${target}.replaced-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  try {
    await mkdir(partial, { recursive: true });
    const folders = new Set<string>([partial]);
    for (const [name, bytes] of files) {
      const path = join(partial, name);
      const folder = dirname(path);
      if (!folders.has(folder)) {
        await mkdir(folder, { recursive: true });
        folders.add(folder);
      }
      const shown = join(target, name);
      let handle;
      try {
        handle = await open(path, 'w');
        await handle.writeFile(bytes);
        await handle.sync();
      } catch (e) {
        throw explain(e, shown, 'write', flag);
      } finally {
        await handle?.close();
      }
    }
    for (const folder of folders) await syncFolder(folder);
    const existing = await stat(target).catch(() => null);
    if (existing !== null) await rename(target, replaced).catch((e) => Promise.reject(explain(e, target, 'replace the earlier run there', flag)));
    try {
      await rename(partial, target);
    } catch (e) {
      if (existing !== null) await rename(replaced, target).catch(() => undefined);
      throw explain(e, target, 'put the folder in place', flag);
    }
    await syncFolder(dirname(target));
    if (existing !== null) await rm(replaced, { recursive: true, force: true });
  } catch (e) {
    await rm(partial, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}

/** Writes one file in place of `path` (the folder `flag` names): into a temporary file beside it, flushed, then renamed over it. */
export async function replaceFile(path: string, bytes: Uint8Array, flag = '--out'): Promise<void> {
  const target = resolve(path);
  const partial = `${target}.partial-${process.pid}`;
  let handle;
  try {
    handle = await open(partial, 'w');
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(partial, target);
  } catch (e) {
    await handle?.close();
    await rm(partial, { force: true }).catch(() => undefined);
    throw explain(e, target, 'write', flag);
  }
  await syncFolder(dirname(target));
}

async function syncFolder(path: string): Promise<void> {
  const handle = await open(path, 'r').catch(() => null);
  if (handle === null) return;
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot sync a folder; the files themselves are synced.
  } finally {
    await handle.close();
  }
}
