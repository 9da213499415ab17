// The messages between the page and the engine worker. The page sends run specs and the user's
// files; loading, task preparation, tokenizing, training, evaluation, generation, the kernel
// self-test and export all happen in the worker, on the one GPU device the page uses.
//
// Every request carries an id chosen by the page; every message the worker sends back carries
// the id of the request it belongs to, and each request ends with exactly one terminal message:
//   init      → ready        (the GPU acquired in the worker: adapter, features, limits)
//   selftest  → selftestDone (selftestCase* before it)
//   startRun  → runEnded     (runEvent* before it: the Run's event stream, src/run/run.ts;
//                             with checkpoints asked for, checkpoint* too: each one's files)
//   compare   → compared     (compareEvent* and compareRun* before it: the queue of runs, one after another)
//   anatomy   → anatomyMeasured (inside a paused or finished run's adapters)
//   loseDevice → ack         (destroys the GPU device, as a driver reset would: how the tests lose it)
//   pause, resume, disposeRun, cancel, dispose → ack
//   generate  → generated    (token* before it; on our engine, or on onnxruntime-web with the run's ONNX model)
//   score     → scored
//   export    → exported     (the files' bytes, transferred)
//   inspectModel → modelInspected  (loadProgress* before it: the model a spec names, loaded and kept)
//   inspectTask  → taskInspected   (loadProgress* before it: a spec's task drawn and tokenized as its run will be)
// or, for any of them, `error` (the original error's message and name) or `cancelled`.
// A run is named by the id of its startRun request. A lost GPU device ends the running
// operations with an `error` named DeviceLostError; when nothing is running, that error is
// sent with the id of the `init` request that acquired the device.
//
// Only structured-cloneable data crosses: files travel as ArrayBuffers (transferred), the run's
// final artifacts stay in the worker until `export` asks for them.

import type { AdapterSummary } from '../gpu/context';
import type { AdapterAnatomy } from '../run/anatomy';
import type { CompareResult, CompareRunId } from '../run/compare';
import type { ModelInspection, ScoredItem, TaskInspection } from '../run/inspect';
import type { ArtifactSelection } from '../run/output-files';
import type { EvalSummary, ModelSummary, RunEvent, RunMetrics, RunStage } from '../run/run';
import type { OnnxProvider } from '../onnx/session';
import type { CheckpointReason } from '../run/stages';
import type { ModelSpec, RunSpec } from '../run/spec';
import type { SelfTestCase, SelfTestReport } from '../selftest/matmul';
import type { MultipleChoiceItem } from '../tasks/types';

/** A file the user picked, as bytes; `name` as the spec names it (may include folders). */
export interface WireFile {
  name: string;
  bytes: ArrayBuffer;
}

/** The device limits that bound what can be trained, as the worker's device has them. */
export const REPORTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
] as const;
export type ReportedLimit = (typeof REPORTED_LIMITS)[number];

/** What generation starts from: the base model of a spec, or a run's trained model. */
export type GenerationSource =
  | { kind: 'base'; model: ModelSpec }
  /** 'adapters': the run's adapters live (a paused or finished run); 'merged': its merged weights (a finished run). */
  | { kind: 'run'; run: number; weights: 'adapters' | 'merged' };

/**
 * What computes a generation's logits: our WGSL engine, or onnxruntime-web running the run's
 * exported ONNX model (a finished run's merged weights), on its WebGPU provider where that takes
 * the model and WASM otherwise ('onnxruntime-web'), or on WASM alone ('onnxruntime-web-wasm').
 */
export type GenerationRuntime = 'engine' | OnnxRuntime;
export type OnnxRuntime = 'onnxruntime-web' | 'onnxruntime-web-wasm';

/** The runtime a generation ran on: onnxruntime-web's provider, and why the providers tried before it refused the model. */
export type RuntimeUsed = { name: 'engine' } | { name: 'onnxruntime-web'; provider: OnnxProvider; refused: { provider: OnnxProvider; reason: string }[] };

/** Which of a finished run's files to export. */
export type ExportSelection = ArtifactSelection;

/** How a run is started: with checkpoints written (sent back as `checkpoint` messages), or going on from one. */
export interface StartOptions {
  /** Write checkpoints: at the start, after each epoch, on pause, every `everySteps` steps and every `everyMs` of training (Run's defaults when absent). */
  checkpoints?: { everySteps?: number; everyMs?: number };
  /** The files of a checkpoint to go on from (the run's spec is the checkpoint's). */
  resumeFrom?: WireFile[];
}

/** A comparison's run as it crosses: which method (by label), seed and rate, and its place in the queue. */
export type WireCompareRun = Omit<CompareRunId, 'method'> & { label: string; ablation: boolean };

/** The comparison's table, with its CSV and Markdown as `d2lora compare` writes them. */
export interface WireCompareResult {
  /** The rows (the runs' metrics came one by one as compareRun messages). */
  result: Omit<CompareResult, 'runs'>;
  csv: string;
  markdown: string;
}

// ---------------------------------------------------------------------------------------------
// Requests (page → worker)

export type EngineRequest =
  | { type: 'init'; id: number; powerPreference?: GPUPowerPreference }
  | { type: 'selftest'; id: number }
  | { type: 'startRun'; id: number; spec: RunSpec; files?: WireFile[]; options?: StartOptions }
  /** The methods compared on one spec over seeds (src/run/compare.ts), one run after another. */
  | { type: 'compare'; id: number; spec: RunSpec; seeds: number[]; lrGrid?: number[]; devItems?: number; ablations?: boolean; files?: WireFile[] }
  | { type: 'anatomy'; id: number; run: number }
  | { type: 'loseDevice'; id: number }
  | { type: 'pause'; id: number; run: number }
  | { type: 'resume'; id: number; run: number }
  | { type: 'disposeRun'; id: number; run: number }
  | {
      type: 'generate';
      id: number;
      from: GenerationSource;
      /** '' starts from BOS alone. */
      prompt: string;
      /** Positions to run, the prompt's included (run.c's -n). */
      steps: number;
      /** 0 = greedy. */
      temperature: number;
      seed: number;
      /** Nucleus cut-off in (0, 1]. */
      topP: number;
      /** Default 'engine'; onnxruntime-web needs a finished run's merged weights. */
      runtime?: GenerationRuntime;
    }
  | {
      type: 'score';
      id: number;
      run: number;
      /** An item of the run's evaluation set by index, or any item of the run's task kind. */
      item: { index: number } | { item: MultipleChoiceItem };
    }
  | { type: 'export'; id: number; run: number; what: ExportSelection }
  /** Loads the model a spec names (kept for the runs that follow) and describes it; a local-files model needs its files. */
  | { type: 'inspectModel'; id: number; model: ModelSpec; files?: WireFile[] }
  /** Loads a spec's model and task and tokenizes the task as the run's tokenize stage will; picked files as its run needs them. */
  | { type: 'inspectTask'; id: number; spec: RunSpec; files?: WireFile[] }
  /** Stops the request `target` (a run between steps, a generation between tokens); absent: all. */
  | { type: 'cancel'; id: number; target?: number }
  | { type: 'dispose'; id: number };

export type EngineRequestType = EngineRequest['type'];

// ---------------------------------------------------------------------------------------------
// Responses and events (worker → page)

/** A run event as it crosses: 'done' carries the metrics and the artifacts' names and sizes (bytes via export). */
export type WireRunEvent = Exclude<RunEvent, { type: 'done' }> | { type: 'done'; metrics: RunMetrics; artifacts: { name: string; bytes: number }[] };

export type EngineResponse =
  | { type: 'ready'; id: number; adapter: AdapterSummary; features: string[]; limits: Record<ReportedLimit, number> }
  | { type: 'selftestCase'; id: number; case: SelfTestCase; done: number; total: number }
  | { type: 'selftestDone'; id: number; report: SelfTestReport }
  | { type: 'runEvent'; id: number; event: WireRunEvent }
  | { type: 'runEnded'; id: number; status: 'done' | 'failed' | 'cancelled'; stage: RunStage }
  /** A checkpoint's files (transferred), before the run's 'checkpoint' event. */
  | { type: 'checkpoint'; id: number; step: number; totalSteps: number; reason: CheckpointReason; files: WireFile[] }
  /** An event of a comparison's run (stages, progress and evaluations; no step records). */
  | { type: 'compareEvent'; id: number; run: WireCompareRun; event: WireRunEvent }
  /** A comparison's run finished. */
  | { type: 'compareRun'; id: number; run: WireCompareRun; metrics: RunMetrics }
  | ({ type: 'compared'; id: number } & WireCompareResult)
  | { type: 'anatomyMeasured'; id: number; anatomy: AdapterAnatomy }
  | { type: 'token'; id: number; token: number; text: string }
  | {
      type: 'generated';
      id: number;
      text: string;
      tokens: number[];
      promptTokens: number;
      generatedTokens: number;
      /** Time spent generating in the worker, prefill included (an onnxruntime-web session's creation not). */
      ms: number;
      runtime: RuntimeUsed;
    }
  | ({ type: 'scored'; id: number } & ScoredItem)
  | { type: 'exported'; id: number; files: WireFile[] }
  /** A file of an inspection being downloaded or read: bytes so far, of `total` when known. */
  | { type: 'loadProgress'; id: number; file: string; loaded: number; total: number | null }
  | { type: 'modelInspected'; id: number; inspection: ModelInspection }
  | { type: 'taskInspected'; id: number; inspection: TaskInspection }
  | { type: 'error'; id: number; message: string; name: string }
  | { type: 'cancelled'; id: number }
  | { type: 'ack'; id: number };

export type EngineResponseType = EngineResponse['type'];

/** The message that ends a request when it succeeds. */
export const TERMINAL_RESPONSE = {
  init: 'ready',
  selftest: 'selftestDone',
  startRun: 'runEnded',
  compare: 'compared',
  anatomy: 'anatomyMeasured',
  loseDevice: 'ack',
  pause: 'ack',
  resume: 'ack',
  disposeRun: 'ack',
  generate: 'generated',
  score: 'scored',
  export: 'exported',
  inspectModel: 'modelInspected',
  inspectTask: 'taskInspected',
  cancel: 'ack',
  dispose: 'ack',
} as const satisfies Record<EngineRequestType, EngineResponseType>;

/** A request without its id (the client assigns ids). */
export type RequestBody<R extends EngineRequest = EngineRequest> = R extends EngineRequest ? Omit<R, 'id'> : never;

export type { EvalSummary, ModelInspection, ModelSummary, TaskInspection };
