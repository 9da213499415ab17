import { createReadStream, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import react from '@vitejs/plugin-react';
import { loadEnv, type Connect, type Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

// One config for the app (Vite) and the three test tiers' first two (Vitest projects):
//   unit    — pure TypeScript in Node, no GPU;
//   kernels — real WGSL on Dawn in Node (a CPU Vulkan driver on machines without a GPU),
//             checked against the f64 CPU references in src/ref/.
// The third tier (e2e/, Playwright in Chromium) has its own playwright.config.ts.
export default defineConfig({
  plugins: [react(), mirrorPlugin()],
  server: { port: 5173 },
  preview: { port: 4173 },
  build: { target: 'es2022', sourcemap: true },
  worker: { format: 'es' },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], environment: 'node' },
      },
      {
        extends: true,
        test: {
          name: 'kernels',
          include: ['tests/kernels/**/*.test.ts'],
          environment: 'node',
          // Presets and tasks load from the mirror, never the network.
          env: { D2LORA_MIRROR: mirrorFolder(process.cwd()) },
          // One Dawn device per process; the CPU Vulkan driver already uses every core.
          pool: 'forks',
          maxWorkers: 1,
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});

// ---------------------------------------------------------------------------------------------
// The mirror folder (src/io/mirror.ts: models/<preset>/…, data/qa/<task>/…), served read-only at
// /mirror/ by `vite` and `vite preview`, so that the browser loads the presets that are not embedded
// (public/models/ holds stories260K) without going online.
// The folder is $D2LORA_MIRROR, else ../shared beside the project. When it exists, the build is
// told where it is served (VITE_D2LORA_MIRROR = '/mirror/', read by browserMirrorBase()) unless
// VITE_D2LORA_MIRROR is already set. GET and HEAD only, files under the folder only, and single
// byte ranges (the download cache resumes interrupted downloads with Range).

const MIRROR_PATH = '/mirror/';
const BROWSER_MIRROR_ENV = 'VITE_D2LORA_MIRROR';

export function mirrorPlugin(): Plugin {
  let folder = '';
  return {
    name: 'd2lora-mirror',
    config(config, env) {
      const root = path.resolve(config.root ?? process.cwd());
      folder = mirrorFolder(root);
      // Vitest runs this config too; the unit tests set the variable themselves.
      if (process.env.VITEST || !isDirectory(folder)) return;
      const envDir = typeof config.envDir === 'string' ? path.resolve(root, config.envDir) : root;
      if (loadEnv(env.mode, envDir, BROWSER_MIRROR_ENV)[BROWSER_MIRROR_ENV]) return;
      return { define: { [`import.meta.env.${BROWSER_MIRROR_ENV}`]: JSON.stringify(MIRROR_PATH) } };
    },
    configureServer(server) {
      server.middlewares.use(serveMirror(folder));
    },
    configurePreviewServer(server) {
      server.middlewares.use(serveMirror(folder));
    },
  };
}

/** $D2LORA_MIRROR (relative to the working directory), else ../shared beside `root`. */
export function mirrorFolder(root: string): string {
  const named = process.env.D2LORA_MIRROR;
  return named ? path.resolve(named) : path.resolve(root, '../shared');
}

/** Middleware answering GET/HEAD /mirror/<path> from `folder`; other URLs pass through. */
export function serveMirror(folder: string): Connect.NextHandleFunction {
  return (req, res, next) => {
    if (!(req.url ?? '').startsWith(MIRROR_PATH)) return next();
    respond(folder, req, res).catch((e: Error) => {
      if (res.headersSent) res.destroy(e);
      else reply(res, 500, `mirror: ${e.message}`);
    });
  };
}

async function respond(folder: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return reply(res, 405, `mirror: ${req.method} is not allowed (GET and HEAD only)`, { Allow: 'GET, HEAD' });
  }
  let relative: string;
  try {
    relative = decodeURIComponent(req.url!.slice(MIRROR_PATH.length).replace(/[?#].*$/, ''));
  } catch {
    return reply(res, 400, 'mirror: the path is not valid percent-encoding');
  }
  if (relative.includes('\0') || path.isAbsolute(relative) || relative.split(/[\\/]/).includes('..')) {
    return reply(res, 403, 'mirror: only files under the mirror folder are served');
  }
  let base: string;
  try {
    base = await realpath(folder);
  } catch {
    return reply(res, 404, `mirror: the mirror folder ${folder} does not exist (set D2LORA_MIRROR)`);
  }
  let file: string;
  try {
    file = await realpath(path.join(base, relative));
  } catch {
    return reply(res, 404, `mirror: no file ${relative}`);
  }
  // A link inside the folder may point outside it.
  if (file !== base && !file.startsWith(base + path.sep)) return reply(res, 403, 'mirror: only files under the mirror folder are served');
  const info = await stat(file);
  if (!info.isFile()) return reply(res, 404, `mirror: no file ${relative}`);

  const size = info.size;
  const range = parseRange(req.headers.range, size);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Content-Type', contentType(file));
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Last-Modified', info.mtime.toUTCString());
  if (range === 'unsatisfiable') {
    return reply(res, 416, `mirror: range ${req.headers.range} is outside the ${size} bytes of ${relative}`, { 'Content-Range': `bytes */${size}` });
  }
  const [start, end] = range ?? [0, size - 1];
  res.statusCode = range ? 206 : 200;
  if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  res.setHeader('Content-Length', Math.max(0, end - start + 1));
  if (req.method === 'HEAD' || end < start) {
    res.end();
    return;
  }
  const stream = createReadStream(file, { start, end });
  stream.on('error', (e) => res.destroy(e));
  stream.pipe(res);
}

/**
 * One byte range ("bytes=a-b", "bytes=a-", "bytes=-n") as inclusive [start, end]; null for no
 * header or one this server ignores (several ranges, other units: the whole file is sent).
 */
export function parseRange(header: string | undefined, size: number): [number, number] | null | 'unsatisfiable' {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  return end < start ? null : [start, end];
}

function reply(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(message));
  res.end(message);
}

function contentType(file: string): string {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return 'application/json';
  if (ext === '.txt' || ext === '.md') return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

function isDirectory(folder: string): boolean {
  try {
    return statSync(folder).isDirectory();
  } catch {
    return false;
  }
}
