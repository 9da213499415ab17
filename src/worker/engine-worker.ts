// The engine worker: the run core (src/run/) behind the message protocol of ./protocol.ts, on
// the page's one GPU device, so that nothing the engine does blocks the page. Runs go on in the
// background while other requests are answered: a paused or finished run's model can generate
// and score; `cancel` stops a run between steps or a generation between tokens. Every failure
// is sent back as an `error` with the original error's message and name.

import { acquireBrowserContext } from '../gpu/browser';
import type { GpuContext } from '../gpu/context';
import type { DeviceLostError } from '../gpu/errors';
import { generate, generateWith, type Generation } from '../model/generate';
import { GpuModel } from '../model/gpu-model';
import { checkModelFitsDevice } from '../model/model-size';
import type { LoadedModel } from '../io/load';
import { decodeRunCheckpoint } from '../run/checkpoint';
import { compareCsv, compareMarkdown, compareMethods, type CompareRunId } from '../run/compare';
import { inspectModel, inspectTask, scoreItem } from '../run/inspect';
import { selectArtifacts } from '../run/output-files';
import { Run, RunCancelledError, type CheckpointOptions, type LoadHooks, type RunEnvironment, type RunEvent } from '../run/run';
import type { RunSpec } from '../run/spec';
import { runMatmulSelfTest } from '../selftest/matmul';
import { browserRunEnvironment, ModelShelf } from './environment';
import { onnxDecoderOf, releaseOnnx } from './onnx-runtime';
import {
  REPORTED_LIMITS,
  type EngineRequest,
  type EngineResponse,
  type ExportSelection,
  type GenerationSource,
  type RuntimeUsed,
  type StartOptions,
  type WireCompareRun,
  type WireFile,
  type WireRunEvent,
} from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;

/** The abort reason of a `cancel`; any other reason (a lost device) is reported as an error. */
class CancelledError extends Error {
  override name = 'CancelledError';
}

const engine: {
  ctx: GpuContext | null;
  lost: DeviceLostError | null;
  shelf: ModelShelf;
  /** Runs by the id of their startRun request. */
  runs: Map<number, Run>;
  /** Each loaded model's base weights on the GPU (uploaded once), as a model without adapters. */
  bases: Map<LoadedModel, GpuModel>;
  /** A comparison's queue is under way (its runs are its own, not in `runs`). */
  comparing: boolean;
} = { ctx: null, lost: null, shelf: new ModelShelf(), runs: new Map(), bases: new Map(), comparing: false };

/** The loaded model's base model on the GPU; its weights are shared by every run of that model. */
function baseModel(ctx: GpuContext, model: LoadedModel): GpuModel {
  let base = engine.bases.get(model);
  if (base === undefined) {
    checkModelFitsDevice(model.config, model.configSource, ctx.limits);
    base = new GpuModel(ctx, model.config, model.weights);
    engine.bases.set(model, base);
  }
  return base;
}

/** Requests under way (runs included), by id, with what stops them. */
const operations = new Map<number, AbortController>();

scope.onmessage = (event: MessageEvent<EngineRequest>) => receive(event.data);

function post(message: EngineResponse, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function receive(req: EngineRequest): void {
  if (typeof req !== 'object' || req === null || !Number.isInteger(req.id)) {
    console.error('engine worker: a message that is not a request', req);
    return;
  }
  switch (req.type) {
    case 'init':
      return handle(req.id, () => init(req.id, req.powerPreference));
    case 'selftest':
      return handle(req.id, () => selftest(req.id));
    case 'startRun':
      return handle(req.id, (signal) => startRun(req.id, req.spec, req.files ?? [], req.options ?? {}, signal));
    case 'compare':
      return handle(req.id, (signal) => compare(req, signal));
    case 'anatomy':
      return handle(req.id, async () => post({ type: 'anatomyMeasured', id: req.id, anatomy: await requireRun(req.run).anatomy() }));
    case 'loseDevice':
      return handle(req.id, async () => {
        // A real loss: the device is destroyed under whatever is running, as a driver reset does.
        requireGpu().device.destroy();
        ack(req.id);
      });
    case 'pause':
      return handle(req.id, async () => {
        requireRun(req.run).pause();
        ack(req.id);
      });
    case 'resume':
      return handle(req.id, async () => {
        requireRun(req.run).resume();
        ack(req.id);
      });
    case 'disposeRun':
      return handle(req.id, async () => {
        engine.runs.get(req.run)?.dispose();
        engine.runs.delete(req.run);
        releaseOnnx(req.run);
        ack(req.id);
      });
    case 'generate':
      return handle(req.id, (signal) => generateText(req, signal));
    case 'score':
      return handle(req.id, () => score(req));
    case 'export':
      return handle(req.id, () => exportFiles(req.id, req.run, req.what));
    case 'inspectModel':
      return handle(req.id, async (signal) => {
        const ctx = requireGpu();
        const env = browserRunEnvironment(ctx, engine.shelf, req.files ?? []);
        post({ type: 'modelInspected', id: req.id, inspection: await inspectModel(env, req.model, loadHooks(req.id, signal), ctx.limits) });
      });
    case 'inspectTask':
      return handle(req.id, async (signal) => {
        const env = browserRunEnvironment(requireGpu(), engine.shelf, req.files ?? []);
        post({ type: 'taskInspected', id: req.id, inspection: await inspectTask(env, req.spec, loadHooks(req.id, signal)) });
      });
    case 'cancel':
      cancel(req.target);
      ack(req.id);
      return;
    case 'dispose':
      cancel(undefined);
      return handle(req.id, async () => {
        dispose();
        ack(req.id);
      });
    default: {
      const { id, type } = req as { id: number; type: unknown };
      post({ type: 'error', id, name: 'TypeError', message: `engine worker: unknown request type ${JSON.stringify(type)}` });
    }
  }
}

/** Runs a request; its failure (or cancellation) becomes its terminal message. */
function handle(id: number, work: (signal: AbortSignal) => Promise<void>): void {
  const controller = new AbortController();
  operations.set(id, controller);
  void (async () => {
    try {
      await work(controller.signal);
    } catch (e) {
      reportFailure(id, e, controller.signal);
    } finally {
      operations.delete(id);
    }
  })();
}

function ack(id: number): void {
  post({ type: 'ack', id });
}

function cancel(target: number | undefined): void {
  for (const [id, controller] of operations) {
    if (target === undefined || id === target) controller.abort(new CancelledError(`request ${id} was cancelled`));
  }
}

function reportFailure(id: number, e: unknown, signal: AbortSignal): void {
  if ((signal.aborted && signal.reason instanceof CancelledError) || e instanceof RunCancelledError) {
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

async function init(id: number, powerPreference: GPUPowerPreference | undefined): Promise<void> {
  if (engine.ctx === null || engine.lost !== null) {
    const ctx = await acquireBrowserContext(powerPreference ? { powerPreference } : {});
    // Whatever lived on a lost device is gone.
    for (const run of engine.runs.values()) run.dispose();
    engine.runs.clear();
    engine.bases.clear();
    engine.ctx = ctx;
    engine.lost = null;
    ctx.onDeviceLost((lost) => {
      if (engine.ctx !== ctx) return;
      engine.lost = lost;
      if (operations.size === 0) post({ type: 'error', id, message: lost.message, name: lost.name });
      for (const run of engine.runs.values()) run.cancel();
      for (const controller of operations.values()) controller.abort(lost);
    });
  }
  const ctx = engine.ctx;
  const limits = Object.fromEntries(REPORTED_LIMITS.map((name) => [name, ctx.limits[name]])) as Record<(typeof REPORTED_LIMITS)[number], number>;
  post({ type: 'ready', id, adapter: ctx.adapter, features: [...ctx.features].sort(), limits });
}

async function selftest(id: number): Promise<void> {
  const report = await runMatmulSelfTest(requireGpu(), (c, done, total) => post({ type: 'selftestCase', id, case: c, done, total }));
  post({ type: 'selftestDone', id, report });
}

/** The environment of a run in the worker: the shelf's models, their base weights uploaded once. */
function runEnvironment(ctx: GpuContext, files: WireFile[]): RunEnvironment {
  return { ...browserRunEnvironment(ctx, engine.shelf, files), uploadedWeights: (model: LoadedModel) => baseModel(ctx, model).weights };
}

function requireIdle(): void {
  const busy = [...engine.runs.values()].find((r) => r.status === 'running' || r.status === 'paused');
  if (busy !== undefined || engine.comparing) throw new Error('a run is already under way: cancel it (or let it finish) before starting another');
}

async function startRun(id: number, spec: RunSpec, files: WireFile[], options: StartOptions, signal: AbortSignal): Promise<void> {
  const ctx = requireGpu();
  requireIdle();
  const env = runEnvironment(ctx, files);
  const checkpoints: CheckpointOptions | undefined =
    options.checkpoints === undefined
      ? undefined
      : {
          ...options.checkpoints,
          // The page stores it; the run goes on at once (the bytes are transferred, not copied).
          save: async (files, info) => {
            const wire = [...files].map(([name, bytes]) => ({ name, bytes: wholeBuffer(bytes) }));
            post({ type: 'checkpoint', id, ...info, files: wire }, wire.map((f) => f.bytes));
          },
        };
  const resumeFrom = options.resumeFrom === undefined ? undefined : decodeRunCheckpoint(new Map(options.resumeFrom.map((f) => [f.name, new Uint8Array(f.bytes)])));
  // The output folder has the merged model as ONNX too: the page's Export offers it, Try it runs it in onnxruntime-web.
  const runOptions = { keepModels: true, checkpoints, onnx: { weightTypes: ['fp32'] as const } };
  const run = resumeFrom === undefined ? new Run(env, spec, runOptions) : Run.resume(env, resumeFrom, runOptions);
  engine.runs.set(id, run);
  run.events.on((e) => post(...wireEvent(id, e)));
  signal.addEventListener('abort', () => run.cancel(), { once: true });
  try {
    await run.start();
  } catch (e) {
    if (!(e instanceof RunCancelledError) && engine.lost === null) {
      // The error event already told the page; the run's models are released.
      post({ type: 'runEnded', id, status: 'failed', stage: run.stage });
      return;
    }
    if (engine.lost !== null) throw engine.lost;
    post({ type: 'runEnded', id, status: 'cancelled', stage: run.stage });
    return;
  }
  post({ type: 'runEnded', id, status: 'done', stage: run.stage });
}

/** The comparison's queue: each method (and ablation) at its chosen rate over the seeds, one run after another. */
async function compare(req: Extract<EngineRequest, { type: 'compare' }>, signal: AbortSignal): Promise<void> {
  const ctx = requireGpu();
  requireIdle();
  engine.comparing = true;
  try {
    const wireRun = (r: CompareRunId): WireCompareRun => ({ label: r.method.label, ablation: r.method.ablation, seed: r.seed, lr: r.lr, selection: r.selection, index: r.index, total: r.total });
    const result = await compareMethods(runEnvironment(ctx, req.files ?? []), req.spec, {
      seeds: req.seeds,
      lrGrid: req.lrGrid,
      devItems: req.devItems,
      ablations: req.ablations,
      signal,
      // Each step's record would be a message per step per run: the queue's progress needs the stages, progress and evaluations.
      onEvent: (r, e) => {
        if (e.type !== 'step' && e.type !== 'done' && e.type !== 'held-out') post({ type: 'compareEvent', id: req.id, run: wireRun(r), event: e });
      },
      onRun: (r, metrics) => post({ type: 'compareRun', id: req.id, run: wireRun(r), metrics }),
    });
    const { runs: _, ...table } = result;
    post({ type: 'compared', id: req.id, result: table, csv: compareCsv(result), markdown: compareMarkdown(result) });
  } finally {
    engine.comparing = false;
  }
}

/** A run event as it crosses: 'done' without the artifacts' bytes (they stay for `export`). */
function wireEvent(id: number, e: RunEvent): [EngineResponse, Transferable[]] {
  let event: WireRunEvent;
  if (e.type === 'done') {
    event = { type: 'done', metrics: e.metrics, artifacts: [...e.artifacts].map(([name, bytes]) => ({ name, bytes: bytes.byteLength })) };
  } else {
    event = e;
  }
  return [{ type: 'runEvent', id, event }, []];
}

async function generateText(req: Extract<EngineRequest, { type: 'generate' }>, signal: AbortSignal): Promise<void> {
  const opts = {
    steps: req.steps,
    temperature: req.temperature,
    topP: req.topP,
    seed: req.seed,
    signal,
    onToken: (token: number, text: string) => post({ type: 'token', id: req.id, token, text }),
  };
  let g: Generation;
  let runtime: RuntimeUsed;
  let t0: number;
  if (req.runtime !== undefined && req.runtime !== 'engine') {
    if (req.from.kind !== 'run' || req.from.weights !== 'merged') throw new Error('onnxruntime-web runs a finished run\'s merged model (its ONNX export): ask for the run\'s merged weights');
    const run = requireRun(req.from.run);
    const decoder = await onnxDecoderOf(req.from.run, run, req.runtime);
    runtime = { name: 'onnxruntime-web', provider: decoder.provider, refused: decoder.refused };
    t0 = performance.now();
    g = await generateWith(() => decoder.logitsSource(), run.model!.config.maxPositions, run.model!.tokenizer, req.prompt, opts);
  } else {
    const { model, tokenizer } = await generationModel(req.from, signal);
    runtime = { name: 'engine' };
    t0 = performance.now();
    g = await generate(model, tokenizer, req.prompt, opts);
  }
  post({ type: 'generated', id: req.id, text: g.text, tokens: g.tokens, promptTokens: g.promptTokens.length, generatedTokens: g.generatedTokens.length, ms: performance.now() - t0, runtime });
}

/** The GPU model and tokenizer a generation runs on. */
async function generationModel(from: GenerationSource, signal: AbortSignal) {
  const ctx = requireGpu();
  if (from.kind === 'run') {
    const run = requireRun(from.run);
    if (from.weights === 'merged') {
      if (run.mergedModel === null) throw new Error(`run ${from.run} has no merged model yet (it is ${run.status}, at ${run.stage})`);
      return { model: run.mergedModel, tokenizer: run.model!.tokenizer };
    }
    if (run.status === 'running') throw new Error(`run ${from.run} is training: pause it to generate from its adapters`);
    if (run.gpuModel === null) throw new Error(`run ${from.run} has no trained model (it is ${run.status})`);
    return { model: run.gpuModel, tokenizer: run.model!.tokenizer };
  }
  const { model } = await engine.shelf.get(from.model, [], { onProgress: () => undefined, signal });
  return { model: baseModel(ctx, model), tokenizer: model.tokenizer };
}

async function score(req: Extract<EngineRequest, { type: 'score' }>): Promise<void> {
  requireGpu();
  const scored = await scoreItem(requireRun(req.run), 'index' in req.item ? req.item.index : req.item.item);
  post({ type: 'scored', id: req.id, ...scored });
}

async function exportFiles(id: number, runId: number, what: ExportSelection): Promise<void> {
  const run = requireRun(runId);
  if (run.result === null) throw new Error(`run ${runId} has not finished (it is ${run.status}, at ${run.stage}): nothing to export yet`);
  // Copies: the run keeps its artifacts for later exports.
  const files: WireFile[] = selectArtifacts(run.result.artifacts, what).map(([name, bytes]) => ({ name, bytes: bytes.slice().buffer as ArrayBuffer }));
  post({ type: 'exported', id, files }, files.map((f) => f.bytes));
}

/** The bytes as an ArrayBuffer of their own, to transfer: the view's buffer when it is all of it, else a copy. */
function wholeBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
}

/** An inspection's loading hooks: progress streamed to the request, stopped by its cancel. */
function loadHooks(id: number, signal: AbortSignal): LoadHooks {
  return { onProgress: (p) => post({ type: 'loadProgress', id, file: p.file, loaded: p.loaded, total: p.total }), signal };
}

function dispose(): void {
  releaseOnnx();
  // Runs first: their models are views over the base models' weights.
  for (const run of engine.runs.values()) run.dispose();
  engine.runs.clear();
  for (const m of engine.bases.values()) m.destroy();
  engine.bases.clear();
  engine.shelf.clear();
  const ctx = engine.ctx;
  engine.ctx = null;
  engine.lost = null;
  ctx?.destroy();
}

// ---------------------------------------------------------------------------------------------

function requireGpu(): GpuContext {
  if (engine.lost !== null) throw engine.lost;
  if (engine.ctx === null) throw new Error('the engine has no GPU yet: send `init` first');
  return engine.ctx;
}

function requireRun(id: number): Run {
  const run = engine.runs.get(id);
  if (run === undefined) throw new Error(`there is no run ${id} (it was never started, or it was disposed)`);
  return run;
}
