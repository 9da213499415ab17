// Node-only file access for the parsers in src/io, which take bytes and a name so the browser can
// use them too. Nothing that runs in the browser imports this module.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

/** The whole file's bytes; a missing or unreadable file throws an error naming the path. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new Error(`${path}: cannot read (${reason}; resolved to ${resolve(path)})`, { cause: e });
  }
}
