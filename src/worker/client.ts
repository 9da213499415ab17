// The page's side of the engine worker: each method sends one request (./protocol.ts) and returns
// a promise of its terminal message, matched by request id; streamed messages (run events,
// self-test cases, tokens) go to the callback given with the request. An `error` rejects with an
// EngineError carrying the worker's message and error name; `cancelled` rejects with
// EngineCancelledError. Nothing here touches the GPU: it all happens in the worker.

import type { ModelSpec, RunSpec } from '../run/spec';
import type { SelfTestCase } from '../selftest/matmul';
import type { MultipleChoiceItem } from '../tasks/types';
import {
  TERMINAL_RESPONSE,
  type EngineRequest,
  type EngineResponse,
  type ExportSelection,
  type GenerationRuntime,
  type GenerationSource,
  type RequestBody,
  type StartOptions,
  type WireCompareRun,
  type WireFile,
  type WireRunEvent,
} from './protocol';
import type { RunMetrics } from '../run/run';

/** The engine worker, bundled by Vite as its own module. */
export function createEngineWorker(): Worker {
  return new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'd2lora-engine' });
}

/** An error the engine reported, with the original error's name (DeviceLostError, FormatError …). */
export class EngineError extends Error {
  constructor(message: string, name: string) {
    super(message);
    this.name = name;
  }
}

export class EngineCancelledError extends Error {
  override name = 'CancelledError';
}

/** A request's promise, with the request's id (for cancel(id); a run's id names the run). */
export type EngineCall<T> = Promise<T> & { readonly id: number };

type Response<T extends EngineResponse['type']> = Extract<EngineResponse, { type: T }>;

export interface GenerateParams {
  from: GenerationSource;
  /** Default '' (BOS alone). */
  prompt?: string;
  /** Positions to run, the prompt's included. */
  steps: number;
  /** Default 0 (greedy). */
  temperature?: number;
  seed?: number;
  /** Default 1 (no nucleus cut-off). */
  topP?: number;
  /** Default 'engine'; onnxruntime-web runs a finished run's exported ONNX model (merged weights). */
  runtime?: GenerationRuntime;
}

interface Streams {
  onRunEvent?: (e: WireRunEvent) => void;
  onCheckpoint?: (c: Omit<Response<'checkpoint'>, 'type' | 'id'>) => void;
  onCompareEvent?: (run: WireCompareRun, e: WireRunEvent) => void;
  onCompareRun?: (run: WireCompareRun, metrics: RunMetrics) => void;
  onToken?: (token: number, text: string) => void;
  onSelfTestCase?: (c: SelfTestCase, done: number, total: number) => void;
  onLoadProgress?: (p: { file: string; loaded: number; total: number | null }) => void;
}

interface Pending {
  expect: EngineResponse['type'];
  streams: Streams;
  resolve: (message: EngineResponse) => void;
  reject: (error: Error) => void;
}

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;
  /** Errors that belong to no waiting request: a GPU lost while idle, a worker that died. */
  onError: ((error: Error) => void) | null = null;

  constructor(private readonly worker: Worker) {
    worker.addEventListener('message', (e: MessageEvent<EngineResponse>) => this.receive(e.data));
    worker.addEventListener('error', (e: ErrorEvent) => {
      e.preventDefault();
      this.failAll(new EngineError(`the engine worker failed${e.message ? `: ${e.message}` : ' to start'}`, 'WorkerError'));
    });
    worker.addEventListener('messageerror', () => {
      this.failAll(new EngineError('the engine worker sent a message that could not be read', 'WorkerError'));
    });
  }

  /** Acquires the GPU in the worker; resolves with its adapter, features and limits. */
  init(options: { powerPreference?: GPUPowerPreference } = {}): EngineCall<Response<'ready'>> {
    return this.send({ type: 'init', ...options });
  }

  /** The matmul self-test on the worker's device, each case streamed as it finishes. */
  selfTest(onCase?: Streams['onSelfTestCase']): EngineCall<Response<'selftestDone'>> {
    return this.send({ type: 'selftest' }, { onSelfTestCase: onCase });
  }

  /**
   * Starts a run; every event is streamed to `onEvent`; resolves when it ends (done, failed or
   * cancelled: its events say which and why). Picked files' bytes are transferred, not copied.
   * The call's id names the run in pause/resume/generate/score/export.
   */
  startRun(spec: RunSpec, files: WireFile[] = [], onEvent?: Streams['onRunEvent'], options: StartOptions = {}, onCheckpoint?: Streams['onCheckpoint']): EngineCall<Response<'runEnded'>> {
    const transfer = [...files, ...(options.resumeFrom ?? [])].map((f) => f.bytes);
    return this.send({ type: 'startRun', spec, files, options }, { onRunEvent: onEvent, onCheckpoint }, transfer);
  }

  /**
   * The methods compared on `spec` over `seeds` (each method's rate chosen from `lrGrid` on a dev
   * split when given), one run after another; each run's events and metrics streamed; resolves
   * with the table, its CSV and Markdown. Cancel it with cancel(call.id).
   */
  compare(
    params: { spec: RunSpec; seeds: number[]; lrGrid?: number[]; devItems?: number; ablations?: boolean; files?: WireFile[] },
    streams: Pick<Streams, 'onCompareEvent' | 'onCompareRun'> = {},
  ): EngineCall<Response<'compared'>> {
    return this.send({ type: 'compare', ...params }, streams, (params.files ?? []).map((f) => f.bytes));
  }

  /** Inside a paused or finished run's adapters. */
  anatomy(run: number): EngineCall<Response<'anatomyMeasured'>> {
    return this.send({ type: 'anatomy', run });
  }

  /** Destroys the worker's GPU device, as a driver reset would (what the tests of a lost device use). */
  loseDevice(): EngineCall<Response<'ack'>> {
    return this.send({ type: 'loseDevice' });
  }

  pause(run: number): EngineCall<Response<'ack'>> {
    return this.send({ type: 'pause', run });
  }

  resume(run: number): EngineCall<Response<'ack'>> {
    return this.send({ type: 'resume', run });
  }

  /** Frees a run's models on the GPU (its events and results stay with the page). */
  disposeRun(run: number): EngineCall<Response<'ack'>> {
    return this.send({ type: 'disposeRun', run });
  }

  /** Generates text; `onToken` receives each token as it is produced. */
  generate(params: GenerateParams, onToken?: Streams['onToken']): EngineCall<Response<'generated'>> {
    const { prompt = '', temperature = 0, seed = 0, topP = 1, ...rest } = params;
    return this.send({ type: 'generate', prompt, temperature, seed, topP, ...rest }, { onToken });
  }

  /** Each choice's log-likelihood before and after training, for an evaluation item (by index) or any item. */
  score(run: number, item: number | MultipleChoiceItem): EngineCall<Response<'scored'>> {
    return this.send({ type: 'score', run, item: typeof item === 'number' ? { index: item } : { item } });
  }

  /** A finished run's files (the output folder, or a part of it), as bytes. */
  export(run: number, what: ExportSelection = 'all'): EngineCall<Response<'exported'>> {
    return this.send({ type: 'export', run, what });
  }

  /**
   * Loads the model a spec names in the worker (kept there for the runs that follow) and
   * describes it; a local-files model needs its files (bytes transferred). Each file's progress
   * goes to `onProgress`.
   */
  inspectModel(model: ModelSpec, files: WireFile[] = [], onProgress?: Streams['onLoadProgress']): EngineCall<Response<'modelInspected'>> {
    return this.send({ type: 'inspectModel', model, files }, { onLoadProgress: onProgress }, files.map((f) => f.bytes));
  }

  /** The spec's task drawn and tokenized as its run will be (its model loaded too), with the picked files it needs. */
  inspectTask(spec: RunSpec, files: WireFile[] = [], onProgress?: Streams['onLoadProgress']): EngineCall<Response<'taskInspected'>> {
    return this.send({ type: 'inspectTask', spec, files }, { onLoadProgress: onProgress }, files.map((f) => f.bytes));
  }

  /** Stops request `target` (default: every request under way): a run between steps, a generation between tokens. */
  async cancel(target?: number): Promise<void> {
    await this.send(target === undefined ? { type: 'cancel' } : { type: 'cancel', target });
  }

  /** Releases the runs, the models and the GPU device in the worker. */
  async dispose(): Promise<void> {
    await this.send({ type: 'dispose' });
  }

  /** Stops the worker at once; waiting requests reject. */
  terminate(): void {
    this.worker.terminate();
    this.failAll(new EngineError('the engine worker was terminated', 'WorkerError'));
  }

  private send<B extends RequestBody>(body: B, streams: Streams = {}, transfer: Transferable[] = []): EngineCall<Response<(typeof TERMINAL_RESPONSE)[B['type']]>> {
    const id = this.nextId++;
    const promise = new Promise<EngineResponse>((resolve, reject) => {
      if (this.failure !== null) return reject(this.failure);
      this.pending.set(id, { expect: TERMINAL_RESPONSE[body.type], streams, resolve, reject });
      this.worker.postMessage({ ...body, id } as EngineRequest, transfer);
    });
    return withId(promise as Promise<Response<(typeof TERMINAL_RESPONSE)[B['type']]>>, id);
  }

  private receive(message: EngineResponse): void {
    const pending = this.pending.get(message.id);
    if (pending === undefined) {
      // Only errors can arrive for a request that already ended (the device lost while idle).
      if (message.type === 'error') this.onError?.(new EngineError(message.message, message.name));
      return;
    }
    switch (message.type) {
      case 'runEvent':
        pending.streams.onRunEvent?.(message.event);
        return;
      case 'checkpoint': {
        const { type: _, id: __, ...checkpoint } = message;
        pending.streams.onCheckpoint?.(checkpoint);
        return;
      }
      case 'compareEvent':
        pending.streams.onCompareEvent?.(message.run, message.event);
        return;
      case 'compareRun':
        pending.streams.onCompareRun?.(message.run, message.metrics);
        return;
      case 'token':
        pending.streams.onToken?.(message.token, message.text);
        return;
      case 'selftestCase':
        pending.streams.onSelfTestCase?.(message.case, message.done, message.total);
        return;
      case 'loadProgress':
        pending.streams.onLoadProgress?.({ file: message.file, loaded: message.loaded, total: message.total });
        return;
      case 'ready':
      case 'selftestDone':
      case 'runEnded':
      case 'generated':
      case 'scored':
      case 'exported':
      case 'modelInspected':
      case 'taskInspected':
      case 'compared':
      case 'anatomyMeasured':
      case 'ack':
        this.settle(message);
        return;
      case 'error':
        this.pending.delete(message.id);
        pending.reject(new EngineError(message.message, message.name));
        return;
      case 'cancelled':
        this.pending.delete(message.id);
        pending.reject(new EngineCancelledError(`request ${message.id} was cancelled`));
        return;
      default: {
        const unknown: never = message;
        console.error('engine client: unknown message from the worker', unknown);
      }
    }
  }

  private settle(message: EngineResponse): void {
    const pending = this.pending.get(message.id)!;
    this.pending.delete(message.id);
    if (message.type === pending.expect) pending.resolve(message);
    else pending.reject(new EngineError(`the engine answered request ${message.id} with "${message.type}", expected "${pending.expect}"`, 'ProtocolError'));
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(error);
    if (waiting.length === 0) this.onError?.(error);
  }
}

function withId<T>(promise: Promise<T>, id: number): EngineCall<T> {
  return Object.assign(promise, { id });
}
