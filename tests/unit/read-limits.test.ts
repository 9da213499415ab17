// Bounded reads of local files: what is not a regular file is refused before it is read (a link
// to /dev/zero, a FIFO), a file over its cap is refused from its size alone, and a safetensors or
// llama2.c file whose header declares another size than the file has is refused after reading
// only the header. Each case is timed: refusing must not mean reading (a sparse file of several
// GiB stands in for a huge one without taking the disk).

import { execFileSync } from 'node:child_process';
import { mkdir, open, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LLAMA2C_READ_LIMIT } from '../../src/io/llama2c';
import { loadModelInNode, readFileIfPresent } from '../../src/io/node-source';
import { MAX_FILE_BYTES, TEXT_FILE_LIMIT } from '../../src/io/read-limits';
import { SAFETENSORS_READ_LIMIT, writeSafetensors } from '../../src/io/safetensors';
import { formatErrorOf, jsonBytes, LLAMA_CONFIG, tempFolder, tinyTokenizerJson } from './hf-fixtures';

/** The promise's FormatError and how long it took to come, in ms. */
async function timedError(promise: Promise<unknown>): Promise<{ message: string; ms: number }> {
  const t0 = performance.now();
  const e = await formatErrorOf(promise);
  return { message: e.message, ms: performance.now() - t0 };
}

/** A file of `size` bytes that holds `head` and then zeros, without writing them (sparse). */
async function sparseFile(path: string, head: Uint8Array, size: number): Promise<void> {
  const handle = await open(path, 'w');
  await handle.write(head, 0, head.length, 0);
  await handle.truncate(size);
  await handle.close();
}

/** A llama2.c header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len. */
function llama2cHeader(fields: number[]): Uint8Array {
  return new Uint8Array(Int32Array.from(fields).buffer);
}

describe('local files: only regular files, within their caps and declared sizes', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await tempFolder('limits');
  });
  afterEach(() => rm(folder, { recursive: true, force: true }));

  /** A Hugging Face folder whose model.safetensors is made by `weights`. */
  async function hfFolder(weights: (path: string) => Promise<void>): Promise<string> {
    const dir = join(folder, 'model');
    await mkdir(dir);
    await writeFile(join(dir, 'config.json'), jsonBytes(LLAMA_CONFIG));
    await writeFile(join(dir, 'tokenizer.json'), jsonBytes(tinyTokenizerJson()));
    await weights(join(dir, 'model.safetensors'));
    return dir;
  }

  it('refuses model.safetensors linked to /dev/zero at once, naming the file', async () => {
    const dir = await hfFolder((path) => symlink('/dev/zero', path));
    const { message, ms } = await timedError(loadModelInNode({ kind: 'folder', path: dir }));
    expect(message).toBe(
      `${dir}/model.safetensors: a character device (a symbolic link to /dev/zero); expected a regular file (devices, FIFOs and sockets are never read)`,
    );
    expect(ms).toBeLessThan(500);
  });

  it('refuses a FIFO without blocking on it (no writer ever opens it)', async () => {
    const fifo = join(folder, 'config.json');
    execFileSync('mkfifo', [fifo]);
    const { message, ms } = await timedError(readFileIfPresent(fifo, TEXT_FILE_LIMIT));
    expect(message).toBe(`${fifo}: a FIFO (named pipe); expected a regular file (devices, FIFOs and sockets are never read)`);
    expect(ms).toBeLessThan(500);
    // A folder is not read as a file either; a missing file is null, as before.
    expect((await timedError(readFileIfPresent(folder))).message).toBe(
      `${folder}: a folder; expected a regular file (devices, FIFOs and sockets are never read)`,
    );
    expect(await readFileIfPresent(join(folder, 'absent.json'))).toBeNull();
  });

  it('refuses a file over its cap from its size, without reading it', async () => {
    const big = join(folder, 'model.safetensors');
    await sparseFile(big, new Uint8Array(8), MAX_FILE_BYTES + 1);
    const weights = await timedError(readFileIfPresent(big, SAFETENSORS_READ_LIMIT));
    expect(weights.message).toBe(`${big}: 4294967297 bytes (4 GiB); expected at most 4294967296 bytes (4 GiB), the cap for a safetensors file`);
    expect(weights.ms).toBeLessThan(500);
    const json = join(folder, 'tokenizer.json');
    await sparseFile(json, new Uint8Array(1), 2 ** 28 + 1);
    expect((await timedError(readFileIfPresent(json, TEXT_FILE_LIMIT))).message).toBe(
      `${json}: 268435457 bytes (256 MiB); expected at most 268435456 bytes (256 MiB), the cap for a JSON or vocabulary file`,
    );
  });

  it('refuses a safetensors file shorter or longer than its header says, reading only the header', async () => {
    const file = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], data: Float32Array.of(1, 2, 3, 4) }]);
    const header = file.length - 16 - 8;
    const parts = `8 (the header length) + ${header} (the header) + 16 (the tensors' data, up to the end of tensor "w")`;
    const path = join(folder, 'model.safetensors');
    await writeFile(path, file.subarray(0, file.length - 5));
    expect((await timedError(readFileIfPresent(path, SAFETENSORS_READ_LIMIT))).message).toBe(
      `${path}: ${file.length - 5} bytes, 5 fewer than its header declares; expected ${file.length} bytes = ${parts}`,
    );
    // 3 GiB of zeros after a valid header: refused before any of them is read.
    await sparseFile(path, file, 3 * 2 ** 30);
    const longer = await timedError(readFileIfPresent(path, SAFETENSORS_READ_LIMIT));
    expect(longer.message).toBe(`${path}: 3221225472 bytes, ${3 * 2 ** 30 - file.length} more than its header declares; expected ${file.length} bytes = ${parts}`);
    expect(longer.ms).toBeLessThan(500);
    // The whole file, exactly as declared, reads.
    await writeFile(path, file);
    expect(await readFileIfPresent(path, SAFETENSORS_READ_LIMIT)).toEqual(file);
  });

  it('refuses a llama2.c .bin whose header implies more bytes than the file has, through the loader too', async () => {
    // A Llama-2-7B-sized header (4096 wide, 32 layers, 32000 tokens) on a 1 KB file.
    const path = join(folder, 'huge.bin');
    const header = llama2cHeader([4096, 11008, 32, 32, 32, 32000, 2048]);
    await writeFile(path, new Uint8Array(1024).fill(0).map((_, i) => (i < 28 ? header[i] : 0)));
    // 28 + 4 × (32000·4096 embedding + 32·(2·4096 norms + 4·4096² attention + 3·11008·4096 MLP) + 4096 + 2·2048·64 RoPE)
    const declared = 28 + 4 * (32000 * 4096 + 32 * (2 * 4096 + 4 * 4096 ** 2 + 3 * 11008 * 4096) + 4096 + 2 * 2048 * 64);
    expect(declared).toBe(26_430_423_068);
    const parts =
      'the 28-byte header and the arrays for dim 4096, hidden_dim 11008, n_layers 32, n_heads 32, n_kv_heads 32, vocab_size 32000, seq_len 2048';
    const direct = await timedError(readFileIfPresent(path, LLAMA2C_READ_LIMIT));
    expect(direct.message).toBe(`${path}: 1024 bytes, ${declared - 1024} fewer than its header declares; expected ${declared} bytes = ${parts}`);
    expect(direct.ms).toBeLessThan(500);
    expect((await timedError(loadModelInNode({ kind: 'llama2c', checkpoint: path }))).message).toBe(direct.message);
  });
});
