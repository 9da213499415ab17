// The /mirror/ middleware vite.config.ts installs in `vite` and `vite preview`: files under the
// mirror folder only, GET and HEAD only, exact lengths, single byte ranges — and the download
// cache resuming an interrupted download from it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fetchWithCache, type ByteCache } from '../../src/io/fetch-cache';
import { parseRange, serveMirror } from '../../vite.config';
import { tempFolder } from './hf-fixtures';

const BYTES = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
let server: Server;
let base: string;
let port: number;
let outside: string;

beforeAll(async () => {
  const root = await tempFolder('mirror-server');
  const mirror = join(root, 'mirror');
  outside = join(root, 'secret.txt');
  await mkdir(join(mirror, 'models', 'tiny'), { recursive: true });
  await writeFile(join(mirror, 'models', 'tiny', 'weights.bin'), BYTES);
  await writeFile(join(mirror, 'models', 'tiny', 'config.json'), '{"a":1}');
  await writeFile(outside, 'not for the browser');
  await symlink(outside, join(mirror, 'models', 'link.txt'));
  const handler = serveMirror(mirror);
  server = createServer((req, res) =>
    handler(req, res, () => {
      res.statusCode = 418;
      res.end('passed through');
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A request with the path exactly as written (a URL string would have `..` normalised away). */
function rawStatus(path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('mirror middleware', () => {
  it('serves a whole file with its length and type', async () => {
    const res = await fetch(`${base}/mirror/models/tiny/weights.bin`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(BYTES);
    expect((await fetch(`${base}/mirror/models/tiny/config.json`)).headers.get('content-type')).toBe('application/json');
  });

  it('answers HEAD with the headers alone', async () => {
    const res = await fetch(`${base}/mirror/models/tiny/weights.bin`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('1000');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves byte ranges', async () => {
    const get = (range: string) => fetch(`${base}/mirror/models/tiny/weights.bin`, { headers: { Range: range } });
    let res = await get('bytes=100-199');
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(res.headers.get('content-length')).toBe('100');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(BYTES.subarray(100, 200));
    res = await get('bytes=990-');
    expect(res.headers.get('content-range')).toBe('bytes 990-999/1000');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(BYTES.subarray(990));
    res = await get('bytes=-5');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(BYTES.subarray(995));
    res = await get('bytes=1000-');
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */1000');
    res = await get('bytes=0-1,5-6'); // several ranges: the whole file
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(1000);
  });

  it('refuses paths outside the folder, directories, missing files and other methods', async () => {
    expect(await rawStatus('/mirror/../mirror/models/tiny/weights.bin')).toBe(403);
    expect(await rawStatus('/mirror/models/%2e%2e/%2e%2e/secret.txt')).toBe(403);
    expect(await rawStatus('/mirror/models/..%2f..%2fsecret.txt')).toBe(403);
    expect(await rawStatus('/mirror/models/link.txt')).toBe(403);
    expect(await rawStatus('/mirror/%E0%A4%A')).toBe(400);
    expect(await rawStatus('/mirror/models/tiny')).toBe(404);
    expect(await rawStatus('/mirror/')).toBe(404);
    expect(await rawStatus('/mirror/models/tiny/none.bin')).toBe(404);
    expect(await rawStatus('/mirror/models/tiny/weights.bin', 'POST')).toBe(405);
    expect(await rawStatus('/mirror/models/tiny/weights.bin', 'PUT')).toBe(405);
    expect(await rawStatus('/index.html')).toBe(418); // not the mirror's: passed on
  });

  it('lets the download cache resume an interrupted download', async () => {
    const committed = new Map<string, Uint8Array>();
    const cache: ByteCache = {
      get: async (key) => committed.get(key) ?? null,
      getPartial: async () => BYTES.slice(0, 300),
      openPartial: async () => ({
        append: async () => {},
        suspend: async () => {},
        commit: async (bytes) => void committed.set('done', bytes),
        discard: async () => {},
      }),
      delete: async () => {},
    };
    const seen: number[] = [];
    const bytes = await fetchWithCache(`${base}/mirror/models/tiny/weights.bin`, { cache, onProgress: (p) => seen.push(p.loaded) });
    expect(bytes).toEqual(BYTES);
    expect(seen[0]).toBe(300); // started from the kept bytes
    expect(committed.get('done')).toEqual(BYTES);
  });
});

describe('parseRange', () => {
  it('reads single ranges and ignores what it does not serve', () => {
    expect(parseRange(undefined, 10)).toBeNull();
    expect(parseRange('bytes=2-5', 10)).toEqual([2, 5]);
    expect(parseRange('bytes=2-50', 10)).toEqual([2, 9]);
    expect(parseRange('bytes=-3', 10)).toEqual([7, 9]);
    expect(parseRange('bytes=-30', 10)).toEqual([0, 9]);
    expect(parseRange('bytes=5-2', 10)).toBeNull();
    expect(parseRange('items=1-2', 10)).toBeNull();
    expect(parseRange('bytes=-', 10)).toBeNull();
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
  });
});
