// A file server on 127.0.0.1 for the download tests: serves fixed bytes by path, honours
// "Range: bytes=N-" with 206 (unless told not to), records every request, can cut a response off
// after some bytes to play a dropped connection, and can send a body without Content-Length
// (chunked), as a server that does not say how big a file is.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedRequest {
  path: string;
  range: string | undefined;
}

export class FileServer {
  readonly requests: ServedRequest[] = [];
  /** The next response for a path stops after this many body bytes (then the socket is destroyed). */
  readonly cutAfter = new Map<string, number>();
  /** Paths whose 200 responses carry no Content-Length (the body is sent chunked). */
  readonly withoutLength = new Set<string>();
  honourRange = true;
  private server: Server | null = null;

  constructor(readonly files: Map<string, Uint8Array>) {}

  /** Starts listening on a free port of 127.0.0.1; resolves to the base URL (ending with '/'). */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? '/').slice(1));
      this.requests.push({ path, range: req.headers.range });
      const body = this.files.get(path);
      if (body === undefined) {
        res.writeHead(404, 'Not Found').end();
        return;
      }
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      let from = 0;
      if (range !== null && this.honourRange) {
        from = Number(range[1]);
        if (from >= body.length) {
          res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
          return;
        }
        res.writeHead(206, { 'content-length': body.length - from, 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
      } else if (this.withoutLength.has(path)) {
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
      } else {
        res.writeHead(200, { 'content-length': body.length });
      }
      const cut = this.cutAfter.get(path);
      if (cut === undefined) {
        res.end(body.subarray(from));
        return;
      }
      this.cutAfter.delete(path);
      res.write(body.subarray(from, from + cut), () => setTimeout(() => res.destroy(), 200));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
