// The download cache in the browser (window or worker): the Cache API, one Response per entry.
// A Response cannot be appended to, so an interrupted download's bytes are stored once, when it
// stops (error or abort), and a resumed one becomes a single complete entry when it finishes.
// Keys become URLs under a reserved host (.invalid never resolves): they are names, never fetched.

import type { ByteCache, PartialEntry } from './fetch-cache';
import { ANY_FILE_LIMIT, readBlobWithinLimit, type ReadLimit } from './read-limits';

export const BROWSER_CACHE_NAME = 'd2lora-models';
const KEY_BASE = 'https://d2lora-cache.invalid/';

export class BrowserByteCache implements ByteCache {
  constructor(
    private readonly storage: CacheStorage = globalThis.caches,
    private readonly cacheName: string = BROWSER_CACHE_NAME,
  ) {}

  get(key: string, limit?: ReadLimit): Promise<Uint8Array | null> {
    return this.read(entryUrl(key), limit);
  }

  getPartial(key: string, limit?: ReadLimit): Promise<Uint8Array | null> {
    return this.read(partUrl(key), limit);
  }

  async openPartial(key: string, keep: number): Promise<PartialEntry> {
    const cache = await this.storage.open(this.cacheName);
    if (keep === 0) await cache.delete(partUrl(key));
    return {
      append: () => Promise.resolve(),
      suspend: async (received) => {
        await cache.put(partUrl(key), bytesResponse(received));
      },
      commit: async (bytes) => {
        await cache.put(entryUrl(key), bytesResponse(bytes));
        await cache.delete(partUrl(key));
      },
      discard: async () => {
        await cache.delete(partUrl(key));
      },
    };
  }

  async delete(key: string): Promise<void> {
    const cache = await this.storage.open(this.cacheName);
    await cache.delete(entryUrl(key));
    await cache.delete(partUrl(key));
  }

  /** The entry's bytes within the limit; a Blob's size is known before its bytes are read. */
  private async read(url: string, limit: ReadLimit = ANY_FILE_LIMIT): Promise<Uint8Array | null> {
    const cache = await this.storage.open(this.cacheName);
    const response = await cache.match(url);
    return response === undefined ? null : readBlobWithinLimit(url, await response.blob(), limit);
  }
}

function entryUrl(key: string): string {
  return `${KEY_BASE}${encodeURIComponent(key)}`;
}

function partUrl(key: string): string {
  return `${KEY_BASE}${encodeURIComponent(key)}.part`;
}

function bytesResponse(bytes: Uint8Array): Response {
  const headers = { 'content-type': 'application/octet-stream', 'content-length': `${bytes.length}` };
  return new Response(bytes as Uint8Array<ArrayBuffer>, { headers });
}
