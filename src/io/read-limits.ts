// How many bytes a file from outside may bring in: a cap per kind of file, and, for the formats
// whose first bytes declare the whole file's size (safetensors, llama2.c .bin), that exact size,
// checked against the file's actual size before the rest is read. Every reader honours a
// ReadLimit: local files (src/io/node-source.ts), downloads (src/io/fetch-cache.ts), the browser
// cache and picked files (readBlobWithinLimit).
//
// The caps:
//   MAX_FILE_BYTES 4 GiB (2^32) for any file, weights included: the largest typed array Node 20
//     can allocate (V8's limit, 2^32 elements of a Uint8Array), so no bigger file could be held
//     anyway; Hugging Face shards (5 GB by default) of the models this engine runs are smaller
//     (Qwen2.5-0.5B's one file is 988 MB). The loaders do not know the device: what the GPU can
//     hold is checked after loading (checkModelFitsDevice in src/model/model-size.ts) and what
//     config.json implies before any weight is read (checkPlausibleModel there).
//   MAX_TEXT_FILE_BYTES 256 MiB for JSON and vocabularies (config.json, tokenizer.json, indexes,
//     tokenizer.bin): half of V8's longest string (2^29 characters), so every file under the cap
//     can be decoded; the largest tokenizer.json on the Hub are tens of MB.

import { FormatError } from './errors';

export const MAX_FILE_BYTES = 2 ** 32;
export const MAX_TEXT_FILE_BYTES = 2 ** 28;

/**
 * A file's exact size as its first bytes declare it (`bytes`, and what it is made of, for
 * messages), or how many first bytes are needed to tell (`need`).
 */
export type DeclaredSize = { bytes: number; parts: string } | { need: number };

export interface ReadLimit {
  /** The most bytes the file may have. */
  maxBytes: number;
  /** What kind of file the cap is for, in messages: "a weights file". */
  kind: string;
  /**
   * The size the file's first bytes declare; throws the format's FormatError (naming `file`) for
   * a bad header. Absent for formats that declare no size.
   */
  declaredSize?: (prefix: Uint8Array, file: string) => DeclaredSize;
}

/** Any file: the 4 GiB cap, no declared size. */
export const ANY_FILE_LIMIT: ReadLimit = { maxBytes: MAX_FILE_BYTES, kind: 'a file' };
/** JSON files and vocabularies. */
export const TEXT_FILE_LIMIT: ReadLimit = { maxBytes: MAX_TEXT_FILE_BYTES, kind: 'a JSON or vocabulary file' };

/** "100000 bytes (97.7 KiB)", "12 bytes": a byte count as messages give it, with its size in units from 1 KiB on. */
export function bytesText(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit < 0 ? `${bytes} bytes` : `${bytes} bytes (${Number(value.toPrecision(3))} ${units[unit]})`;
}

/** Throws when a size (what a file has, or what a server announces) is over the cap. */
export function checkSizeCap(file: string, size: number, limit: ReadLimit, what = bytesText(size)): void {
  if (size > limit.maxBytes) {
    throw new FormatError({ file, found: what, expected: `at most ${bytesText(limit.maxBytes)}, the cap for ${limit.kind}` });
  }
}

/** Throws when `size` is not what the header declared. */
export function checkDeclaredSize(file: string, size: number, declared: { bytes: number; parts: string }): void {
  if (size === declared.bytes) return;
  const difference = size < declared.bytes ? `${declared.bytes - size} fewer` : `${size - declared.bytes} more`;
  throw new FormatError({
    file,
    found: `${size} bytes, ${difference} than its header declares`,
    expected: `${declared.bytes} bytes = ${declared.parts}`,
  });
}

/**
 * The first bytes a file's header needs before its size is known: evaluates `limit.declaredSize`
 * on ever longer prefixes (`readPrefix(n)` gives the first n bytes, fewer at the end of the file)
 * and returns the declared size, or null when the file ends before the header does (the parser
 * then says what is missing) or the format declares none.
 */
export async function declaredSizeOf(
  file: string,
  size: number,
  limit: ReadLimit,
  readPrefix: (length: number) => Promise<Uint8Array>,
): Promise<{ bytes: number; parts: string } | null> {
  if (limit.declaredSize === undefined) return null;
  let prefix: Uint8Array = new Uint8Array(0);
  for (;;) {
    const declared = limit.declaredSize(prefix, file);
    if ('bytes' in declared) return declared;
    if (declared.need <= prefix.length) throw new Error(`${file}: declaredSize asked for ${declared.need} bytes after ${prefix.length}`);
    if (declared.need > size) return null;
    prefix = await readPrefix(declared.need);
  }
}

/**
 * A file of `size` bytes, read whole by `read(n)` (its first n bytes) once the cap and the
 * declared size allow: nothing beyond the first header bytes is read from a file that fails.
 */
export async function readWithinLimit(file: string, size: number, limit: ReadLimit, read: (length: number) => Promise<Uint8Array>): Promise<Uint8Array> {
  checkSizeCap(file, size, limit);
  const declared = await declaredSizeOf(file, size, limit, read);
  if (declared !== null) checkDeclaredSize(file, size, declared);
  return read(size);
}

/** A Blob's bytes (a picked File, a cached Response's body) within the limit; Blob.size is known before reading. */
export function readBlobWithinLimit(file: string, blob: Blob, limit: ReadLimit = ANY_FILE_LIMIT): Promise<Uint8Array> {
  return readWithinLimit(file, blob.size, limit, async (length) => new Uint8Array(await blob.slice(0, length).arrayBuffer()));
}

/** Bytes already in memory (picked files the worker received) checked as if read from a file. */
export function checkBytesWithinLimit(file: string, bytes: Uint8Array, limit: ReadLimit): Promise<Uint8Array> {
  return readWithinLimit(file, bytes.length, limit, async (length) => bytes.subarray(0, length));
}
