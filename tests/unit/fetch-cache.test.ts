import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { BrowserByteCache } from '../../src/io/browser-cache';
import { cacheKey, ChecksumError, fetchWithCache, HttpError, sha256Hex, type ByteCache, type FetchProgress } from '../../src/io/fetch-cache';
import { FormatError } from '../../src/io/errors';
import { NodeByteCache } from '../../src/io/node-source';
import type { ReadLimit } from '../../src/io/read-limits';
import { SAFETENSORS_READ_LIMIT, writeSafetensors } from '../../src/io/safetensors';
import { Rng } from '../../src/util/rng';
import { tempFolder } from './hf-fixtures';
import { FileServer } from './http-fixture';

const rng = new Rng(7);
const BIG = Uint8Array.from({ length: 100_000 }, () => Math.floor(rng.uniform(0, 256)));
const SMALL = new TextEncoder().encode('hello, cache');
/** A safetensors file of one 16-byte tensor, then 10,000 bytes its header does not declare. */
const WEIGHTS = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], data: Float32Array.of(1, 2, 3, 4) }]);
const PADDED_WEIGHTS = Uint8Array.from({ length: WEIGHTS.length + 10_000 }, (_, i) => WEIGHTS[i] ?? 0);
const WEIGHTS_PARTS = `8 (the header length) + ${WEIGHTS.length - 24} (the header) + 16 (the tensors' data, up to the end of tensor "w")`;
const SMALL_CAP: ReadLimit = { maxBytes: 50_000, kind: 'a test file' };

/** Byte equality without vitest's element-by-element diff (slow on 100 kB). */
function expectSameBytes(found: Uint8Array | null, expected: Uint8Array): void {
  expect(found).not.toBeNull();
  expect(Buffer.compare(Buffer.from(found!), Buffer.from(expected))).toBe(0);
}

/** CacheStorage over a Map, with real Request/Response objects: enough of the Cache API to test against. */
class MemoryCacheStorage {
  readonly caches = new Map<string, Map<string, ArrayBuffer>>();

  async open(name: string): Promise<Cache> {
    const entries = this.caches.get(name) ?? new Map<string, ArrayBuffer>();
    this.caches.set(name, entries);
    const cache = {
      match: async (request: RequestInfo) => {
        const body = entries.get(new Request(request).url);
        return body === undefined ? undefined : new Response(body.slice(0));
      },
      put: async (request: RequestInfo, response: Response) => {
        entries.set(new Request(request).url, await response.arrayBuffer());
      },
      delete: async (request: RequestInfo) => entries.delete(new Request(request).url),
    };
    return cache as unknown as Cache;
  }
}

describe('fetchWithCache against a local HTTP server', () => {
  const server = new FileServer(new Map([['big.bin', BIG], ['small.txt', SMALL], ['model.safetensors', PADDED_WEIGHTS]]));
  let base: string;
  let folder: string;
  let cache: NodeByteCache;
  beforeAll(async () => {
    base = await server.start();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(async () => {
    folder = await tempFolder('cache');
    cache = new NodeByteCache(folder);
    server.requests.length = 0;
    server.honourRange = true;
    server.withoutLength.clear();
    return () => rm(folder, { recursive: true, force: true });
  });

  it('downloads with progress, caches, and serves the second fetch from the cache', async () => {
    const events: FetchProgress[] = [];
    const bytes = await fetchWithCache(`${base}big.bin`, { cache, onProgress: (p) => events.push(p) });
    expectSameBytes(bytes, BIG);
    expect(events[0]).toEqual({ file: 'big.bin', loaded: 0, total: BIG.length });
    expect(events.at(-1)).toEqual({ file: 'big.bin', loaded: BIG.length, total: BIG.length });
    expect(events.every((e, i) => i === 0 || e.loaded >= events[i - 1].loaded)).toBe(true);
    const key = await cacheKey(`${base}big.bin`);
    expect(key).toMatch(/^[0-9a-f]{16}-big\.bin$/);
    expectSameBytes(new Uint8Array(await readFile(cache.path(key))), BIG);

    const again: FetchProgress[] = [];
    expectSameBytes(await fetchWithCache(`${base}big.bin`, { cache, onProgress: (p) => again.push(p) }), BIG);
    expect(server.requests).toHaveLength(1);
    expect(again).toEqual([{ file: 'big.bin', loaded: BIG.length, total: BIG.length }]);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const url = `${base}big.bin`;
    const part = cache.partPath(await cacheKey(url));
    server.cutAfter.set('big.bin', 30_000);
    await expect(fetchWithCache(url, { cache })).rejects.toThrow(`GET ${url}: download stopped after 30000 of 100000 bytes`);
    expect((await stat(part)).size).toBe(30_000);

    const events: FetchProgress[] = [];
    const bytes = await fetchWithCache(url, { cache, onProgress: (p) => events.push(p), expectedSha256: await sha256Hex(BIG) });
    expectSameBytes(bytes, BIG);
    expect(server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=30000-']);
    expect(events[0]).toEqual({ file: 'big.bin', loaded: 30_000, total: BIG.length });
    await expect(stat(part)).rejects.toThrow(/ENOENT/);
  });

  it('starts over when the server ignores Range (200) or refuses it (416)', async () => {
    const url = `${base}big.bin`;
    const part = cache.partPath(await cacheKey(url));
    server.cutAfter.set('big.bin', 10_000);
    await expect(fetchWithCache(url, { cache })).rejects.toThrow(/download stopped/);
    server.honourRange = false;
    expectSameBytes(await fetchWithCache(url, { cache }), BIG);
    expect(server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=10000-']);

    server.honourRange = true;
    server.requests.length = 0;
    const smallUrl = `${base}small.txt`;
    await writeFile(cache.partPath(await cacheKey(smallUrl)), new Uint8Array(SMALL.length + 5));
    expect(await fetchWithCache(smallUrl, { cache })).toEqual(SMALL);
    expect(server.requests.map((r) => r.range)).toEqual([`bytes=${SMALL.length + 5}-`, undefined]);
    await expect(stat(part)).rejects.toThrow(/ENOENT/);
  });

  it('rejects a checksum mismatch, naming expected and found, and keeps nothing', async () => {
    const url = `${base}small.txt`;
    const wrong = '0'.repeat(64);
    const found = await sha256Hex(SMALL);
    const error = await fetchWithCache(url, { cache, expectedSha256: wrong }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumError);
    expect((error as ChecksumError).message).toBe(`${url}: sha256 ${found}; expected ${wrong}`);
    expect([(error as ChecksumError).expected, (error as ChecksumError).found]).toEqual([wrong, found]);
    const key = await cacheKey(url);
    expect(await cache.get(key)).toBeNull();
    expect(await cache.getPartial(key)).toBeNull();
  });

  it('downloads again when a cached file no longer matches its checksum', async () => {
    const url = `${base}small.txt`;
    const sha = await sha256Hex(SMALL);
    await fetchWithCache(url, { cache, expectedSha256: sha });
    await writeFile(cache.path(await cacheKey(url)), 'corrupted');
    expect(await fetchWithCache(url, { cache, expectedSha256: sha })).toEqual(SMALL);
    expect(server.requests).toHaveLength(2);
  });

  it('reports HTTP failures with the status and URL', async () => {
    const url = `${base}missing.bin`;
    const error = await fetchWithCache(url, { cache }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(404);
    expect((error as HttpError).message).toBe(`GET ${url}: HTTP 404 Not Found`);
  });

  it('stops on abort, keeping the bytes so far for a resume', async () => {
    const url = `${base}big.bin`;
    const before = new AbortController();
    before.abort();
    await expect(fetchWithCache(url, { cache, signal: before.signal })).rejects.toThrow(/abort/i);
    expect(server.requests).toHaveLength(0);

    const during = new AbortController();
    server.cutAfter.set('big.bin', 30_000);
    const onProgress = (p: FetchProgress) => {
      if (p.loaded >= 30_000) during.abort();
    };
    await expect(fetchWithCache(url, { cache, signal: during.signal, onProgress })).rejects.toThrow(/abort/i);
    expect((await stat(cache.partPath(await cacheKey(url)))).size).toBe(30_000);
    expectSameBytes(await fetchWithCache(url, { cache }), BIG);
    expect(server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=30000-']);
  });

  it('works without a cache', async () => {
    expect(await fetchWithCache(`${base}small.txt`)).toEqual(SMALL);
    expect(await fetchWithCache(`${base}small.txt`)).toEqual(SMALL);
    expect(server.requests).toHaveLength(2);
  });

  it('resumes through the browser cache (Cache API) too', async () => {
    const storage = new MemoryCacheStorage();
    const browserCache: ByteCache = new BrowserByteCache(storage as unknown as CacheStorage);
    const url = `${base}big.bin`;
    server.cutAfter.set('big.bin', 40_000);
    await expect(fetchWithCache(url, { cache: browserCache })).rejects.toThrow(/download stopped after 40000/);
    const key = await cacheKey(url);
    expect((await browserCache.getPartial(key))?.length).toBe(40_000);
    expectSameBytes(await fetchWithCache(url, { cache: browserCache }), BIG);
    expect(server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=40000-']);
    expect(await browserCache.getPartial(key)).toBeNull();
    expectSameBytes(await browserCache.get(key), BIG);
    expectSameBytes(await fetchWithCache(url, { cache: browserCache }), BIG);
    expect(server.requests).toHaveLength(2);
  });
  describe('bounded downloads', () => {
    /** The FormatError the download fails with; it keeps neither a complete nor a partial entry. */
    async function refused(url: string, limit: ReadLimit): Promise<string> {
      const error = await fetchWithCache(url, { cache, limit }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FormatError);
      const key = await cacheKey(url);
      expect(await cache.get(key)).toBeNull();
      expect(await cache.getPartial(key)).toBeNull();
      return (error as FormatError).message;
    }

    it('stops before the body when the Content-Length is over the cap', async () => {
      const url = `${base}big.bin`;
      expect(await refused(url, SMALL_CAP)).toBe(
        `${url}: a file of 100000 bytes (97.7 KiB), as the server announces; expected at most 50000 bytes (48.8 KiB), the cap for a test file`,
      );
    });

    it('stops a body without Content-Length as soon as it runs past the cap', async () => {
      server.withoutLength.add('big.bin');
      const url = `${base}big.bin`;
      expect(await refused(url, SMALL_CAP)).toBe(
        `${url}: a body that runs past 50000 bytes (48.8 KiB) with no Content-Length; expected at most 50000 bytes, the cap for a test file`,
      );
      // Within the cap, the same chunked body downloads whole.
      expectSameBytes(await fetchWithCache(url, { cache, limit: { ...SMALL_CAP, maxBytes: BIG.length } }), BIG);
    });

    it('stops after the header when a safetensors header declares another size than the server sends', async () => {
      const url = `${base}model.safetensors`;
      expect(await refused(url, SAFETENSORS_READ_LIMIT)).toBe(
        `${url}: ${PADDED_WEIGHTS.length} bytes, 10000 more than its header declares; expected ${WEIGHTS.length} bytes = ${WEIGHTS_PARTS}`,
      );
      server.withoutLength.add('model.safetensors');
      expect(await refused(url, SAFETENSORS_READ_LIMIT)).toBe(
        `${url}: a body that runs past ${WEIGHTS.length} bytes with no Content-Length; ` +
          `expected at most ${WEIGHTS.length} bytes, the size its header declares: ${WEIGHTS_PARTS}`,
      );
    });

    it('downloads again when a cached entry is no longer a regular file or over the cap', async () => {
      const url = `${base}small.txt`;
      await fetchWithCache(url, { cache });
      const entry = cache.path(await cacheKey(url));
      await rm(entry);
      await symlink('/dev/zero', entry);
      expect(await fetchWithCache(url, { cache })).toEqual(SMALL);
      expect(server.requests).toHaveLength(2);
      expect(await fetchWithCache(url, { cache, limit: { maxBytes: 4, kind: 'a test file' } }).catch((e: unknown) => (e as Error).message)).toBe(
        `${url}: a file of ${SMALL.length} bytes, as the server announces; expected at most 4 bytes, the cap for a test file`,
      );
      expect(server.requests).toHaveLength(3);
    });

    it('holds the browser cache to the same limits', async () => {
      const storage = new MemoryCacheStorage();
      const browserCache = new BrowserByteCache(storage as unknown as CacheStorage);
      const url = `${base}big.bin`;
      await fetchWithCache(url, { cache: browserCache });
      const key = await cacheKey(url);
      const e = await browserCache.get(key, SMALL_CAP).catch((error: unknown) => error);
      expect(e).toBeInstanceOf(FormatError);
      expect((e as FormatError).message).toMatch(/^https:\/\/d2lora-cache\.invalid\/.*big\.bin: 100000 bytes \(97\.7 KiB\); expected at most 50000 bytes/);
    });
  });
});
