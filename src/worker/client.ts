// The page's side of the training worker: each method sends one request (./protocol.ts) and
// returns a promise of its terminal message, matched by request id; streamed messages (download
// progress, tokens, training events) go to the callback given with the request. An `error`
// rejects with an EngineError carrying the worker's message and error name; `cancelled` rejects
// with EngineCancelledError. Nothing here touches the GPU: it all happens in the worker.

import type { SessionEvents } from '../core';
import type { ModelConfig, WeightMap } from '../model/config';
import type { AdapterPlacement } from '../model/gpu-model';
import type { TokenizedExample } from '../train/batching';
import type { TrainConfig } from '../train/trainer';
import {
  TERMINAL_RESPONSE,
  type EngineRequest,
  type EngineResponse,
  type GeneratedResponse,
  type LoadedResponse,
  type ProgressResponse,
  type ReadyResponse,
  type RequestBody,
  type TrainEvent,
  type WireModelSource,
} from './protocol';

/** The training worker, bundled by Vite as its own module. */
export function createEngineWorker(): Worker {
  return new Worker(new URL('./training-worker.ts', import.meta.url), { type: 'module', name: 'd2lora-engine' });
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

/** A request's promise, with the request's id (for cancel(id)). */
export type EngineCall<T> = Promise<T> & { readonly id: number };

export interface GenerateParams {
  /** Default '' (BOS alone). */
  prompt?: string;
  /** Positions to run, the prompt's included. */
  steps: number;
  /** Default 0 (greedy). */
  temperature?: number;
  seed?: number;
  topP?: number;
  /** From the trained adapters merged into the base; default false. */
  adapted?: boolean;
}

export interface TrainParams {
  adapter: AdapterPlacement;
  config: TrainConfig;
  examples: TokenizedExample[];
  heldOut?: TokenizedExample[];
}

export interface MergedModel {
  name: string;
  config: ModelConfig;
  weights: WeightMap;
}

interface Streams {
  onProgress?: (p: Omit<ProgressResponse, 'type' | 'id'>) => void;
  onToken?: (token: number, text: string) => void;
  onTrainEvent?: (e: TrainEvent) => void;
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

  /** Acquires the GPU in the worker; resolves with its adapter and features. */
  init(options: { powerPreference?: GPUPowerPreference } = {}): EngineCall<ReadyResponse> {
    return this.send({ type: 'init', ...options });
  }

  /** Loads a model in the worker (picked files' bytes are transferred, not copied). */
  load(source: WireModelSource, onProgress?: Streams['onProgress']): EngineCall<LoadedResponse> {
    const transfer = source.kind === 'files' ? source.files.map((f) => f.bytes) : [];
    return this.send({ type: 'load', source }, { onProgress }, transfer);
  }

  /** Generates from the loaded model; `onToken` receives each token as it is produced. */
  generate(params: GenerateParams, onToken?: Streams['onToken']): EngineCall<GeneratedResponse> {
    const { prompt = '', temperature = 0, seed = 0, ...rest } = params;
    return this.send({ type: 'generate', prompt, temperature, seed, ...rest }, { onToken });
  }

  /** Trains adapters on the loaded model; resolves with the 'done' event, every event streamed to `onEvent`. */
  train(params: TrainParams, onEvent?: (e: TrainEvent) => void): EngineCall<SessionEvents['done']> {
    const call = this.send({ type: 'train', ...params }, { onTrainEvent: onEvent });
    return withId(
      call.then((m) => (m as Extract<EngineResponse, { type: 'trainEvent'; event: 'done' }>).data),
      call.id,
    );
  }

  /** Stops request `target` (default: every running or queued one) between steps. */
  async cancel(target?: number): Promise<void> {
    await this.send(target === undefined ? { type: 'cancel' } : { type: 'cancel', target });
  }

  /** The base weights with the trained adapters merged in. */
  async merge(): Promise<MergedModel> {
    const m = await this.send({ type: 'merge' });
    const weights: WeightMap = new Map(m.tensors.map((t) => [t.name, { shape: t.shape, data: new Float32Array(t.data) }]));
    return { name: m.name, config: m.config, weights };
  }

  /** Releases the model, the training session and the GPU device in the worker. */
  async dispose(): Promise<void> {
    await this.send({ type: 'dispose' });
  }

  /** Stops the worker at once; waiting requests reject. */
  terminate(): void {
    this.worker.terminate();
    this.failAll(new EngineError('the engine worker was terminated', 'WorkerError'));
  }

  private send<B extends RequestBody>(
    body: B,
    streams: Streams = {},
    transfer: Transferable[] = [],
  ): EngineCall<Extract<EngineResponse, { type: (typeof TERMINAL_RESPONSE)[B['type']] }>> {
    const id = this.nextId++;
    const promise = new Promise<EngineResponse>((resolve, reject) => {
      if (this.failure !== null) return reject(this.failure);
      this.pending.set(id, { expect: TERMINAL_RESPONSE[body.type], streams, resolve, reject });
      this.worker.postMessage({ ...body, id } as EngineRequest, transfer);
    });
    return withId(promise as Promise<Extract<EngineResponse, { type: (typeof TERMINAL_RESPONSE)[B['type']] }>>, id);
  }

  private receive(message: EngineResponse): void {
    const pending = this.pending.get(message.id);
    if (pending === undefined) {
      // Only errors can arrive for a request that already ended (the device lost while idle).
      if (message.type === 'error') this.onError?.(new EngineError(message.message, message.name));
      return;
    }
    switch (message.type) {
      case 'progress': {
        const { type: _type, id: _id, ...progress } = message;
        pending.streams.onProgress?.(progress);
        return;
      }
      case 'token':
        pending.streams.onToken?.(message.token, message.text);
        return;
      case 'trainEvent': {
        const { type: _type, id: _id, ...event } = message;
        pending.streams.onTrainEvent?.(event as TrainEvent);
        if (message.event === 'done') this.settle(message);
        return;
      }
      case 'ready':
      case 'loaded':
      case 'generated':
      case 'merged':
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

/** A model source from files the user picked (an <input type=file> or a dropped folder). */
export async function pickedFilesSource(files: readonly File[], name?: string): Promise<WireModelSource> {
  const wire = await Promise.all(files.map(async (f) => ({ name: f.webkitRelativePath || f.name, bytes: await f.arrayBuffer() })));
  return name === undefined ? { kind: 'files', files: wire } : { kind: 'files', files: wire, name };
}

function withId<T>(promise: Promise<T>, id: number): EngineCall<T> {
  return Object.assign(promise, { id });
}
