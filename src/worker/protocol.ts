// The messages between the page and the training worker. Every request carries an id chosen by
// the page; every message the worker sends back carries the id of the request it belongs to.
// Only structured-cloneable data crosses: picked files travel as bytes (a function cannot), and
// merged weights as ArrayBuffers that are transferred, not copied.
//
// Each request ends with exactly one terminal message:
//   init      → ready                     (the GPU acquired in the worker)
//   load      → loaded                    (progress* before it)
//   generate  → generated                 (token* before it)
//   train     → trainEvent 'done'         (trainEvent progress/loss/metrics* before it)
//   merge     → merged
//   cancel    → ack                       (the operations it stopped end with `cancelled`)
//   dispose   → ack
// or, for any of them, `error` (the original error's message and name) or `cancelled`.
// A lost GPU device ends the running operations with an `error` named DeviceLostError; when
// nothing is running, that error is sent with the id of the `init` request that acquired it.

import type { SessionEvents } from '../core';
import type { AdapterSummary } from '../gpu/context';
import type { ModelSource } from '../io/load';
import type { ModelConfig } from '../model/config';
import type { AdapterPlacement } from '../model/gpu-model';
import type { TokenizedExample } from '../train/batching';
import type { TrainConfig } from '../train/trainer';

/** A picked file's bytes, read on the page (PickedFile.bytes is a function and cannot cross). */
export interface WireFile {
  /** May include folders ("SmolLM2-135M/config.json"). */
  name: string;
  bytes: ArrayBuffer;
}

/** A ModelSource as it crosses postMessage. */
export type WireModelSource = Exclude<ModelSource, { kind: 'files' }> | { kind: 'files'; files: WireFile[]; name?: string };

/** One tensor of a merged checkpoint; `data` is the row-major f32 values, transferred. */
export interface WireTensor {
  name: string;
  shape: number[];
  data: ArrayBuffer;
}

// ---------------------------------------------------------------------------------------------
// Requests (page → worker)

export interface InitRequest {
  type: 'init';
  id: number;
  powerPreference?: GPUPowerPreference;
}

export interface LoadRequest {
  type: 'load';
  id: number;
  source: WireModelSource;
}

export interface GenerateRequest {
  type: 'generate';
  id: number;
  /** '' starts from BOS alone. */
  prompt: string;
  /** Positions to run, the prompt's included (run.c's -n). */
  steps: number;
  /** 0 = greedy. */
  temperature: number;
  seed: number;
  /** Nucleus cut-off in (0, 1]; default 1 (off). */
  topP?: number;
  /** Generate from the trained adapters merged into the base (needs a `train` first); default false. */
  adapted?: boolean;
}

export interface TrainRequest {
  type: 'train';
  id: number;
  adapter: AdapterPlacement;
  config: TrainConfig;
  examples: TokenizedExample[];
  /** Evaluated after training, reported as a 'metrics' event ("held-out loss") before 'done'. */
  heldOut?: TokenizedExample[];
}

export interface CancelRequest {
  type: 'cancel';
  id: number;
  /** The request to stop; absent: every running or queued one. */
  target?: number;
}

export interface MergeRequest {
  type: 'merge';
  id: number;
}

export interface DisposeRequest {
  type: 'dispose';
  id: number;
}

export type EngineRequest = InitRequest | LoadRequest | GenerateRequest | TrainRequest | CancelRequest | MergeRequest | DisposeRequest;
export type EngineRequestType = EngineRequest['type'];

// ---------------------------------------------------------------------------------------------
// Responses and events (worker → page)

/** A training session's event, as the core emits it (src/core.ts SessionEvents). */
export type TrainEvent = { [K in keyof SessionEvents]: { event: K; data: SessionEvents[K] } }[keyof SessionEvents];

export interface ReadyResponse {
  type: 'ready';
  id: number;
  adapter: AdapterSummary;
  /** Features enabled on the worker's device, sorted. */
  features: string[];
}

export interface LoadedResponse {
  type: 'loaded';
  id: number;
  name: string;
  config: ModelConfig;
  vocabSize: number;
  warnings: string[];
}

export interface ProgressResponse {
  type: 'progress';
  id: number;
  file: string;
  loaded: number;
  total: number | null;
}

export interface TokenResponse {
  type: 'token';
  id: number;
  token: number;
  /** The text this token completes (empty while a multi-byte character is unfinished). */
  text: string;
}

export interface GeneratedResponse {
  type: 'generated';
  id: number;
  /** Every id input or produced, BOS first. */
  tokens: number[];
  text: string;
  promptTokens: number[];
  /** Time spent generating in the worker. */
  ms: number;
}

export type TrainEventResponse = { type: 'trainEvent'; id: number } & TrainEvent;

export interface MergedResponse {
  type: 'merged';
  id: number;
  name: string;
  config: ModelConfig;
  tensors: WireTensor[];
}

export interface ErrorResponse {
  type: 'error';
  id: number;
  message: string;
  name: string;
}

export interface CancelledResponse {
  type: 'cancelled';
  id: number;
}

export interface AckResponse {
  type: 'ack';
  id: number;
}

export type EngineResponse =
  | ReadyResponse
  | LoadedResponse
  | ProgressResponse
  | TokenResponse
  | GeneratedResponse
  | TrainEventResponse
  | MergedResponse
  | ErrorResponse
  | CancelledResponse
  | AckResponse;
export type EngineResponseType = EngineResponse['type'];

/** The message that ends a request when it succeeds. */
export const TERMINAL_RESPONSE = {
  init: 'ready',
  load: 'loaded',
  generate: 'generated',
  train: 'trainEvent',
  merge: 'merged',
  cancel: 'ack',
  dispose: 'ack',
} as const satisfies Record<EngineRequestType, EngineResponseType>;

/** A request without its id (the client assigns ids). */
export type RequestBody<R extends EngineRequest = EngineRequest> = R extends EngineRequest ? Omit<R, 'id'> : never;
