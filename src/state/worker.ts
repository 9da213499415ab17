// The page's one engine worker: created on first use and shared by every store (the GPU report,
// the self-test, generation, runs). The worker holds the page's only GPU device. A worker that
// cannot start, or one whose device was lost, is replaced at the next use.

import { createEngineWorker, EngineClient } from '../worker/client';
import type { EngineResponse } from '../worker/protocol';

type Ready = Extract<EngineResponse, { type: 'ready' }>;

let client: EngineClient | null = null;
let ready: Promise<Ready> | null = null;
const errorListeners = new Set<(e: Error) => void>();

/** The engine with its GPU acquired (init once per worker). */
export async function engine(): Promise<{ client: EngineClient; ready: Ready }> {
  if (client === null) {
    const c = new EngineClient(createEngineWorker());
    c.onError = (e) => {
      for (const l of errorListeners) l(e);
    };
    client = c;
    ready = c.init();
  }
  const c = client;
  try {
    return { client: c, ready: await ready! };
  } catch (e) {
    forgetIfBroken(e);
    throw e;
  }
}

/** Errors that belong to no request: a device lost while idle, a worker that died. */
export function onEngineError(listener: (e: Error) => void): () => void {
  errorListeners.add(listener);
  return () => errorListeners.delete(listener);
}

/** After a failure that leaves nothing to reuse (the worker died, the device is lost), start afresh next time. */
export function forgetIfBroken(e: unknown): void {
  if (e instanceof Error && (e.name === 'WorkerError' || e.name === 'DeviceLostError') && client !== null) {
    const broken = client;
    client = null;
    ready = null;
    // Ended on purpose: its termination is no engine error for the listeners (who would end it again).
    broken.onError = null;
    broken.terminate();
  }
}
