// The training worker: the engine (src/core.ts) behind the message protocol of ./protocol.ts, so
// that loading, generation and training never block the page. Requests run one at a time, in
// the order they arrive; `cancel` is answered at once and stops the running request between
// steps (or a queued one before it starts). Every failure is sent back as an `error` with the
// original error's message and name.
//
// Models come from the mirror the build was given (VITE_D2LORA_MIRROR, e.g. /mirror/ from the
// dev server or preview), else from their public URLs through the browser's download cache.

import { generateText, TrainingSession, type SessionEvents } from '../core';
import { acquireBrowserContext } from '../gpu/browser';
import type { GpuContext } from '../gpu/context';
import type { DeviceLostError } from '../gpu/errors';
import { BrowserByteCache } from '../io/browser-cache';
import type { ByteCache } from '../io/fetch-cache';
import { loadModel, type LoadedModel, type ModelSource } from '../io/load';
import { browserMirrorBase } from '../io/mirror';
import type {
  DisposeRequest,
  EngineRequest,
  EngineResponse,
  GenerateRequest,
  InitRequest,
  LoadRequest,
  MergeRequest,
  TrainRequest,
  WireModelSource,
  WireTensor,
} from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;

/** The abort reason of a `cancel`; any other reason (a lost device) is reported as an error. */
class CancelledError extends Error {
  override name = 'CancelledError';
}

const engine: {
  ctx: GpuContext | null;
  lost: DeviceLostError | null;
  model: LoadedModel | null;
  session: TrainingSession | null;
} = { ctx: null, lost: null, model: null, session: null };

/** Running and queued requests, by id. */
const operations = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();

scope.onmessage = (event: MessageEvent<EngineRequest>) => receive(event.data);

function post(message: EngineResponse, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function receive(req: EngineRequest): void {
  if (typeof req !== 'object' || req === null || !Number.isInteger(req.id)) {
    console.error('training worker: a message that is not a request', req);
    return;
  }
  switch (req.type) {
    case 'cancel':
      cancel(req.target);
      post({ type: 'ack', id: req.id });
      return;
    case 'init':
      return enqueue(req.id, () => init(req));
    case 'load':
      return enqueue(req.id, (signal) => load(req, signal));
    case 'generate':
      return enqueue(req.id, (signal) => generate(req, signal));
    case 'train':
      return enqueue(req.id, (signal) => train(req, signal));
    case 'merge':
      return enqueue(req.id, () => merge(req));
    case 'dispose':
      cancel(undefined);
      return enqueue(req.id, () => dispose(req));
    default: {
      const unknown: never = req;
      const { id, type } = unknown as { id: number; type: unknown };
      post({ type: 'error', id, name: 'TypeError', message: `training worker: unknown request type ${JSON.stringify(type)}` });
    }
  }
}

function enqueue(id: number, run: (signal: AbortSignal) => Promise<void>): void {
  const controller = new AbortController();
  operations.set(id, controller);
  queue = queue.then(async () => {
    try {
      controller.signal.throwIfAborted();
      await run(controller.signal);
    } catch (e) {
      reportFailure(id, e, controller.signal);
    } finally {
      operations.delete(id);
    }
  });
}

function cancel(target: number | undefined): void {
  for (const [id, controller] of operations) {
    if (target === undefined || id === target) controller.abort(new CancelledError(`request ${id} was cancelled`));
  }
}

function reportFailure(id: number, e: unknown, signal: AbortSignal): void {
  if (signal.aborted && signal.reason instanceof CancelledError) {
    post({ type: 'cancelled', id });
    return;
  }
  // Whatever a dying device made the operation throw, the loss is what the user must hear.
  const error = engine.lost ?? (signal.aborted ? signal.reason : e);
  post({ type: 'error', id, ...describeError(error) });
}

function describeError(e: unknown): { message: string; name: string } {
  if (e instanceof Error || e instanceof DOMException) return { message: e.message, name: e.name };
  return { message: String(e), name: 'Error' };
}

// ---------------------------------------------------------------------------------------------
// Requests

async function init(req: InitRequest): Promise<void> {
  if (engine.ctx === null || engine.lost !== null) {
    const ctx = await acquireBrowserContext(req.powerPreference ? { powerPreference: req.powerPreference } : {});
    engine.session = null; // a session on a lost device holds nothing usable
    engine.ctx = ctx;
    engine.lost = null;
    // A device lost while idle is reported under the id of the init that acquired it.
    ctx.onDeviceLost((lost) => {
      if (engine.ctx !== ctx) return;
      engine.lost = lost;
      if (operations.size === 0) post({ type: 'error', id: req.id, message: lost.message, name: lost.name });
      for (const controller of operations.values()) controller.abort(lost);
    });
  }
  const ctx = engine.ctx;
  post({ type: 'ready', id: req.id, adapter: ctx.adapter, features: [...ctx.features].sort() });
}

async function load(req: LoadRequest, signal: AbortSignal): Promise<void> {
  const mirror = browserMirrorBase();
  const model = await loadModel(toModelSource(req.source), {
    // Absolute, so that messages name the whole URL.
    mirror: mirror === null ? undefined : new URL(mirror, scope.location.href).href,
    cache: downloadCache(),
    onProgress: (p) => post({ type: 'progress', id: req.id, file: p.file, loaded: p.loaded, total: p.total }),
    signal,
  });
  engine.session?.destroy();
  engine.session = null;
  engine.model = model;
  post({ type: 'loaded', id: req.id, name: model.name, config: model.config, vocabSize: model.tokenizer.vocabSize, warnings: model.warnings });
}

async function generate(req: GenerateRequest, signal: AbortSignal): Promise<void> {
  const ctx = requireGpu();
  const model = requireModel();
  const weights = req.adapted ? await requireSession().merge() : undefined;
  const t0 = performance.now();
  const generation = await generateText(ctx, model, req.prompt, {
    steps: req.steps,
    temperature: req.temperature,
    seed: req.seed,
    topP: req.topP,
    weights,
    signal,
    onToken: (token, text) => post({ type: 'token', id: req.id, token, text }),
  });
  post({ type: 'generated', id: req.id, ...generation, ms: performance.now() - t0 });
}

async function train(req: TrainRequest, signal: AbortSignal): Promise<void> {
  const ctx = requireGpu();
  const model = requireModel();
  engine.session?.destroy();
  engine.session = null;
  const session = new TrainingSession(ctx, model, { adapter: req.adapter, train: req.config, examples: req.examples });
  engine.session = session;
  const forward = <K extends keyof SessionEvents>(event: K) =>
    session.on(event, (data) => {
      // A cancelled run ends with `cancelled`, not with an error event.
      if (event === 'error' && signal.aborted) return;
      post({ type: 'trainEvent', id: req.id, event, data } as EngineResponse);
    });
  const unsubscribe = [forward('progress'), forward('loss'), forward('metrics'), forward('error')];
  // 'done' ends the request, so it waits until the held-out evaluation has been reported.
  let done: SessionEvents['done'] | null = null;
  unsubscribe.push(session.on('done', (e) => (done = e)));
  try {
    await session.run({ signal });
    if (req.heldOut !== undefined && req.heldOut.length > 0) await session.evaluateLoss(req.heldOut);
  } finally {
    for (const off of unsubscribe) off();
  }
  post({ type: 'trainEvent', id: req.id, event: 'done', data: done ?? { steps: session.trainer.step, ms: 0 } });
}

async function merge(req: MergeRequest): Promise<void> {
  const session = requireSession();
  const base = session.model.weights;
  const merged = await session.merge();
  const tensors: WireTensor[] = [];
  for (const [name, t] of merged) {
    // Transfer only buffers that hold exactly this tensor and that the loaded model does not
    // keep (base weights may be views into one file-sized buffer): copy the others.
    const owned = base.get(name)?.data !== t.data && t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength;
    tensors.push({ name, shape: [...t.shape], data: owned ? (t.data.buffer as ArrayBuffer) : t.data.slice().buffer });
  }
  post(
    { type: 'merged', id: req.id, name: session.model.name, config: session.model.config, tensors },
    tensors.map((t) => t.data),
  );
}

async function dispose(req: DisposeRequest): Promise<void> {
  engine.session?.destroy();
  engine.session = null;
  engine.model = null;
  const ctx = engine.ctx;
  engine.ctx = null;
  engine.lost = null;
  ctx?.destroy();
  post({ type: 'ack', id: req.id });
}

// ---------------------------------------------------------------------------------------------

function requireGpu(): GpuContext {
  if (engine.lost !== null) throw engine.lost;
  if (engine.ctx === null) throw new Error('the engine has no GPU yet: send `init` first');
  return engine.ctx;
}

function requireModel(): LoadedModel {
  if (engine.model === null) throw new Error('no model is loaded: send `load` first');
  return engine.model;
}

function requireSession(): TrainingSession {
  if (engine.session === null) throw new Error('nothing has been trained: send `train` first');
  return engine.session;
}

function toModelSource(source: WireModelSource): ModelSource {
  if (source.kind !== 'files') return source;
  return {
    kind: 'files',
    name: source.name,
    files: source.files.map((f) => ({ name: f.name, bytes: () => Promise.resolve(new Uint8Array(f.bytes)) })),
  };
}

/** The Cache API download cache; none where the page is not a secure context (no `caches`). */
function downloadCache(): ByteCache | undefined {
  return typeof caches === 'undefined' ? undefined : new BrowserByteCache(caches);
}
