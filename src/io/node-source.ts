// Node's side of model loading: local files, the download cache folder, and loadModel with Node's
// defaults (the project's public/models/ for embedded presets, $D2LORA_MIRROR, $D2LORA_CACHE).
// Nothing that runs in the browser imports this module.
//
// The cache folder ($D2LORA_CACHE, else ~/.cache/d2lora) holds a file per complete download,
// <key>, and an interrupted one's bytes in <key>.part, written as they arrive so that even a killed
// process leaves a resumable partial file. A finished download is renamed into place, so <key> is
// always whole.

import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FormatError } from './errors';
import type { ByteCache, PartialEntry } from './fetch-cache';
import { loadModel, type LoadedModel, type LoadOptions, type LocalFiles, type ModelSource } from './load';
import { MIRROR_ENV } from './mirror';
import { ANY_FILE_LIMIT, readWithinLimit, type ReadLimit } from './read-limits';

export const CACHE_ENV = 'D2LORA_CACHE';

/**
 * The file's bytes, or null when it does not exist; other failures throw naming the path. Only a
 * regular file is read (a symbolic link is followed to one): a device (/dev/zero), FIFO or
 * socket is refused before it is opened for reading. The file's size is checked against the
 * limit's cap and, for a format whose header declares its size, against that size, reading only
 * the header's bytes first; then exactly that many bytes are read, however the file grows.
 */
export async function readFileIfPresent(path: string, limit: ReadLimit = ANY_FILE_LIMIT): Promise<Uint8Array | null> {
  let handle: FileHandle;
  try {
    await requireRegularFile(path, await stat(path));
    // O_NONBLOCK: a FIFO swapped in after the check above must not block the open; regular files ignore it.
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (e instanceof FormatError) throw e;
    throw new Error(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  try {
    const info = await handle.stat();
    await requireRegularFile(path, info);
    return await readWithinLimit(path, info.size, limit, (length) => readFirstBytes(handle, length));
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new Error(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  } finally {
    await handle.close();
  }
}

async function requireRegularFile(path: string, info: Stats): Promise<void> {
  if (info.isFile()) return;
  const kind = info.isDirectory()
    ? 'a folder'
    : info.isCharacterDevice()
      ? 'a character device'
      : info.isBlockDevice()
        ? 'a block device'
        : info.isFIFO()
          ? 'a FIFO (named pipe)'
          : info.isSocket()
            ? 'a socket'
            : 'not a regular file';
  const link = (await lstat(path)).isSymbolicLink() ? ` (a symbolic link to ${await realpath(path)})` : '';
  throw new FormatError({ file: path, found: `${kind}${link}`, expected: 'a regular file (devices, FIFOs and sockets are never read)' });
}

/** One read's most bytes: Node refuses reads of 2 GiB and more. */
const READ_CHUNK_BYTES = 2 ** 30;

/** The file's first `length` bytes (fewer if it is shorter now). */
async function readFirstBytes(handle: FileHandle, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(out, filled, Math.min(length - filled, READ_CHUNK_BYTES), filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? out : out.subarray(0, filled);
}

export const nodeLocalFiles: LocalFiles = { read: readFileIfPresent };

/** $D2LORA_MIRROR when set and not empty. */
export function nodeMirror(): string | undefined {
  return process.env[MIRROR_ENV] || undefined;
}

/** $D2LORA_CACHE, else ~/.cache/d2lora. */
export function defaultCacheFolder(): string {
  const folder = process.env[CACHE_ENV];
  return folder ? resolve(folder) : join(homedir(), '.cache', 'd2lora');
}

/**
 * The embedded presets' folder (src/io/embedded.ts): the project's public/models/, found from this
 * module's place in src/io/. The command line bundled into one file (scripts/vite.cli.config.ts)
 * has public/ copied beside it, and its build defines import.meta.env.D2LORA_EMBEDDED_FROM_MODULE
 * as './models/'.
 */
export function nodeEmbeddedModels(): string {
  const relative: unknown = import.meta.env?.D2LORA_EMBEDDED_FROM_MODULE;
  return fileURLToPath(new URL(typeof relative === 'string' ? relative : '../../public/models/', import.meta.url));
}

/**
 * Node's defaults under the given options: local files, the embedded models folder, the mirror
 * from $D2LORA_MIRROR, the cache folder.
 */
export function nodeLoadOptions(options: LoadOptions = {}): LoadOptions {
  return {
    ...options,
    embeddedModels: options.embeddedModels ?? nodeEmbeddedModels(),
    mirror: options.mirror ?? nodeMirror(),
    cache: options.cache ?? new NodeByteCache(),
    local: options.local ?? nodeLocalFiles,
  };
}

export function loadModelInNode(source: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  return loadModel(source, nodeLoadOptions(options));
}

export class NodeByteCache implements ByteCache {
  constructor(readonly folder: string = defaultCacheFolder()) {}

  get(key: string, limit?: ReadLimit): Promise<Uint8Array | null> {
    return readFileIfPresent(this.path(key), limit);
  }

  getPartial(key: string, limit?: ReadLimit): Promise<Uint8Array | null> {
    return readFileIfPresent(this.partPath(key), limit);
  }

  async openPartial(key: string, keep: number): Promise<PartialEntry> {
    await mkdir(this.folder, { recursive: true });
    const part = this.partPath(key);
    // Starting over removes whatever is there first, so that a link in its place is never written through.
    if (keep === 0) await rm(part, { force: true });
    const handle = await open(part, keep > 0 ? 'r+' : 'w');
    await handle.truncate(keep);
    return new PartFile(handle, part, this.path(key), keep);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
    await rm(this.partPath(key), { force: true });
  }

  /** The complete entry's file. */
  path(key: string): string {
    return join(this.folder, key);
  }

  /** The partial entry's file. */
  partPath(key: string): string {
    return join(this.folder, `${key}.part`);
  }
}

class PartFile implements PartialEntry {
  constructor(
    private readonly handle: FileHandle,
    private readonly part: string,
    private readonly complete: string,
    private position: number,
  ) {}

  async append(chunk: Uint8Array): Promise<void> {
    await this.handle.write(chunk, 0, chunk.length, this.position);
    this.position += chunk.length;
  }

  /** Every received byte is already in the file, up to a chunk whose write failed midway. */
  async suspend(): Promise<void> {
    await this.handle.close();
    await truncate(this.part, this.position);
  }

  async commit(): Promise<void> {
    await this.handle.close();
    await rename(this.part, this.complete);
  }

  async discard(): Promise<void> {
    await this.handle.close();
    await rm(this.part, { force: true });
  }
}
