// Downloads with progress, checksums and a resumable cache; the same code in the browser (Cache API,
// src/io/browser-cache.ts) and Node (a cache folder, src/io/node-source.ts).
//
// A download goes to the cache's partial entry as it arrives. When it stops early (network error,
// abort) the partial entry keeps what came, and the next fetchWithCache of that URL asks only for
// the rest with an HTTP Range request; a server that ignores Range (200) or refuses it (416) gets
// the whole file again. A finished download is checked against its sha256 when one is known,
// before it becomes the cache's complete entry; a cached entry is checked again when read.
//
// Every download is bounded by a ReadLimit (src/io/read-limits.ts): a Content-Length over the cap
// stops it before the body is read, a body that runs past the cap (or past the size its header
// declares, for safetensors and llama2.c files) stops as soon as it does, and a header whose
// declared size differs from the Content-Length stops it after the header's bytes. Such a file is
// not kept for a resume: the next try would only fail again.

import { FormatError } from './errors';
import { ANY_FILE_LIMIT, bytesText, checkDeclaredSize, checkSizeCap, type ReadLimit } from './read-limits';

export interface FetchProgress {
  /** The file's name (the URL's last path segment unless given). */
  file: string;
  /** Bytes received so far, a resumed download's kept bytes included. */
  loaded: number;
  /** The file's size when the server says it; null when it does not. */
  total: number | null;
}

export interface FetchOptions {
  cache?: ByteCache;
  onProgress?: (progress: FetchProgress) => void;
  signal?: AbortSignal;
  /** Lowercase hex sha256 of the whole file; null or absent when unknown. */
  expectedSha256?: string | null;
  /** The file's name in progress events and messages. */
  file?: string;
  /** How big the file may be (default ANY_FILE_LIMIT, the 4 GiB cap). */
  limit?: ReadLimit;
}

/** Where downloads are kept. Keys are cacheKey(url): safe as file names and URL paths. */
export interface ByteCache {
  /** The complete entry, or null; one over the limit (or not of its declared size) is a FormatError. */
  get(key: string, limit?: ReadLimit): Promise<Uint8Array | null>;
  /** The first bytes of an interrupted download, or null; over the limit, a FormatError. */
  getPartial(key: string, limit?: ReadLimit): Promise<Uint8Array | null>;
  /** Begins a download's partial entry, keeping the first `keep` bytes of the existing one (0: start over). */
  openPartial(key: string, keep: number): Promise<PartialEntry>;
  /** Removes the complete and the partial entry. */
  delete(key: string): Promise<void>;
}

export interface PartialEntry {
  /** The next bytes, as they arrive (a cache that cannot append may keep nothing until suspend). */
  append(chunk: Uint8Array): Promise<void>;
  /** The download stopped; `received` (every byte so far, the kept ones included) stays for a resume. */
  suspend(received: Uint8Array): Promise<void>;
  /** The download is complete and verified: `bytes` becomes the complete entry. */
  commit(bytes: Uint8Array): Promise<void>;
  /** The download is unusable (checksum mismatch): drop the partial entry. */
  discard(): Promise<void>;
}

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly url: string,
    readonly status: number,
    statusText: string,
  ) {
    super(`GET ${url}: HTTP ${status}${statusText ? ` ${statusText}` : ''}`);
  }
}

export class ChecksumError extends Error {
  override name = 'ChecksumError';
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${file}: sha256 ${found}; expected ${expected}`);
  }
}

/** Lowercase hex sha256, through WebCrypto (browser and Node alike). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `<16 hex digits of sha256(url)>-<last path segment>`: unique per URL, readable in a folder listing. */
export async function cacheKey(url: string): Promise<string> {
  const hash = (await sha256Hex(new TextEncoder().encode(url))).slice(0, 16);
  return `${hash}-${urlFileName(url).replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** The URL's last path segment ('' when it ends with '/'); relative URLs too. */
export function urlFileName(url: string): string {
  const path = url.replace(/[?#].*$/, '');
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

export async function fetchWithCache(url: string, options: FetchOptions = {}): Promise<Uint8Array> {
  const { cache, onProgress, signal } = options;
  const file = options.file ?? urlFileName(url);
  const expected = options.expectedSha256 ?? null;
  const limit = options.limit ?? ANY_FILE_LIMIT;
  const key = cache === undefined ? '' : await cacheKey(url);

  if (cache !== undefined) {
    // An entry over the limit or not of its declared size was damaged in the cache (a download is
    // checked before it is kept): like a checksum mismatch, it is downloaded again.
    const hit = await cache.get(key, limit).catch(droppedIfMalformed);
    if (hit instanceof Uint8Array && (expected === null || (await sha256Hex(hit)) === expected)) {
      onProgress?.({ file, loaded: hit.length, total: hit.length });
      return hit;
    }
    // A corrupt entry (or one from before the checksum was known) is downloaded again.
    if (hit !== null) await cache.delete(key);
  }

  const partial = (await cache?.getPartial(key, { ...limit, declaredSize: undefined }).catch(droppedIfMalformed)) ?? null;
  let kept = partial instanceof Uint8Array ? partial : new Uint8Array(0);
  let response = await get(url, kept.length, signal);
  if (kept.length > 0 && !resumes(response, kept.length)) {
    // 200: the server sent the whole file; 416 or a Content-Range elsewhere: start again.
    if (response.status !== 200) {
      await response.body?.cancel();
      response = await get(url, 0, signal);
    }
    kept = new Uint8Array(0);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new HttpError(url, response.status, response.statusText);
  }

  const total = responseTotal(response, kept.length);
  if (total !== null) {
    try {
      checkSizeCap(url, total, limit, `a file of ${bytesText(total)}, as the server announces`);
    } catch (e) {
      await response.body?.cancel();
      throw e;
    }
  }
  const entry = await cache?.openPartial(key, kept.length);
  const received = new GrowingBytes(kept, total);
  const bound = new DownloadBound(url, limit, total);
  onProgress?.({ file, loaded: received.length, total });
  try {
    if (response.body === null) throw new Error('the response has no body');
    const reader = response.body.getReader();
    bound.check(received);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      received.append(chunk.value);
      try {
        bound.check(received);
      } catch (e) {
        await reader.cancel();
        throw e;
      }
      await entry?.append(chunk.value);
      onProgress?.({ file, loaded: received.length, total });
    }
    if (total !== null && received.length !== total) {
      throw new Error(`the body ended after ${received.length} of ${total} bytes`);
    }
  } catch (e) {
    if (e instanceof FormatError) {
      await entry?.discard();
      throw e;
    }
    await entry?.suspend(received.bytes());
    if (signal?.aborted) throw e;
    const resumable = cache === undefined ? '' : '; the bytes so far are kept and the next try resumes';
    const of = total === null ? '' : ` of ${total}`;
    throw new Error(`GET ${url}: download stopped after ${received.length}${of} bytes (${(e as Error).message})${resumable}`, { cause: e });
  }

  const bytes = received.bytes();
  if (expected !== null) {
    const found = await sha256Hex(bytes);
    if (found !== expected) {
      await entry?.discard();
      throw new ChecksumError(url, expected, found);
    }
  }
  await entry?.commit(bytes);
  return bytes;
}

/** What a cache read that failed its limit stands for: an entry to delete and download again. */
const MALFORMED = Symbol('malformed cache entry');

function droppedIfMalformed(e: unknown): typeof MALFORMED {
  if (e instanceof FormatError) return MALFORMED;
  throw e;
}

/**
 * The most bytes a download may still bring: the cap, then, once the header's bytes are in, the
 * size the header declares (which must be the Content-Length when the server gave one).
 */
class DownloadBound {
  private declared: { bytes: number; parts: string } | null = null;
  private need = 0;

  constructor(
    private readonly url: string,
    private readonly limit: ReadLimit,
    private readonly total: number | null,
  ) {}

  check(received: GrowingBytes): void {
    const { declaredSize } = this.limit;
    while (declaredSize !== undefined && this.declared === null && received.length >= this.need) {
      const d = declaredSize(received.bytes(), this.url);
      if ('bytes' in d) {
        this.declared = d;
        if (this.total !== null) checkDeclaredSize(this.url, this.total, d);
      } else {
        if (d.need <= received.length) throw new Error(`${this.url}: declaredSize asked for ${d.need} bytes with ${received.length} at hand`);
        this.need = d.need;
      }
    }
    const most = this.declared?.bytes ?? this.limit.maxBytes;
    if (received.length > most) {
      const why = this.declared !== null ? `the size its header declares: ${this.declared.parts}` : `the cap for ${this.limit.kind}`;
      throw new FormatError({
        file: this.url,
        found: `a body that runs past ${bytesText(most)}${this.total === null ? ' with no Content-Length' : ''}`,
        expected: `at most ${most} bytes, ${why}`,
      });
    }
  }
}

async function get(url: string, from: number, signal: AbortSignal | undefined): Promise<Response> {
  const headers: Record<string, string> = from > 0 ? { Range: `bytes=${from}-` } : {};
  try {
    return await fetch(url, { headers, signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new Error(
      `GET ${url}: ${(e as Error).message} (the host could not be reached). Check the network, ` +
        'or point the mirror setting (D2LORA_MIRROR in Node) at a folder laid out as models/<preset>/… and data/qa/<task>/… to work offline',
      { cause: e },
    );
  }
}

/** A 206 whose Content-Range starts where the kept bytes end. */
function resumes(response: Response, from: number): boolean {
  if (response.status !== 206) return false;
  const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
  return range !== null && Number(range[1]) === from;
}

/** The whole file's size: a 206's Content-Range total, else kept + Content-Length; null if unknown. */
function responseTotal(response: Response, kept: number): number | null {
  const range = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  if (response.status === 206 && range !== null) return Number(range[1]);
  // A compressed body's Content-Length counts the compressed bytes, not the ones fetch yields.
  const encoding = response.headers.get('content-encoding');
  const length = response.headers.get('content-length');
  if (length === null || (encoding !== null && encoding !== 'identity')) return null;
  return kept + Number(length);
}

/** The download's bytes: one buffer of the known size, else chunks joined at the end. */
class GrowingBytes {
  private buffer: Uint8Array;
  private chunks: Uint8Array[] = [];
  length: number;

  constructor(kept: Uint8Array, total: number | null) {
    this.buffer = new Uint8Array(total !== null && total >= kept.length ? total : kept.length);
    this.buffer.set(kept);
    this.length = kept.length;
  }

  append(chunk: Uint8Array): void {
    if (this.chunks.length === 0 && this.length + chunk.length <= this.buffer.length) {
      this.buffer.set(chunk, this.length);
    } else {
      this.chunks.push(chunk);
    }
    this.length += chunk.length;
  }

  /** Every byte so far (a view of the buffer when nothing overflowed it). */
  bytes(): Uint8Array {
    if (this.chunks.length === 0) return this.buffer.subarray(0, this.length);
    const out = new Uint8Array(this.length);
    const head = this.length - this.chunks.reduce((n, c) => n + c.length, 0);
    out.set(this.buffer.subarray(0, head));
    let offset = head;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}
