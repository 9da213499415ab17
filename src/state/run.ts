// The run on the page: the spec it was started with (the form's), and what the engine worker
// reports as it goes — stages, the model, the tokenized task, every step's loss, held-out losses,
// progress, evaluations, the final metrics and the output folder's files — with the controls
// (start, pause, resume, cancel) and the downloads (the output folder as a zip, the adapter alone,
// metrics.json).

import { create } from 'zustand';
import type { ProgressEvent, StepRecord } from '../train/trainer';
import type { EvalSummary, ModelSummary, RunDivergence, RunMetrics } from '../run/run';
import { isMergedWeights, METRICS_FILE, selectArtifacts } from '../run/output-files';
import { RUN_STAGES, type CheckpointReason, type EvalPhase, type RunStage } from '../run/stages';
import { DEFAULT_RUN_SPEC, outputName, type RunSpec } from '../run/spec';
import type { RunRecord } from '../store/record';
import type { ExportSelection, StartOptions, WireFile, WireRunEvent } from '../worker/protocol';
import { useForm } from './form';
import { RunRecorder, runStore, useHistory, type RunSnapshot } from './history';
import { engine, forgetIfBroken } from './worker';
import { offerDownload } from './download';
import { zipParts } from './zip';

export type RunStatus = 'idle' | 'starting' | 'running' | 'paused' | 'done' | 'failed' | 'cancelled';
export type StageState = 'pending' | 'active' | 'done';

type Tokenized = Extract<WireRunEvent, { type: 'tokenized' }>;

export interface RunState {
  /** The spec of the run started last (the form's when it was started). */
  spec: RunSpec;
  status: RunStatus;
  /** The engine's id of the run (for pause, resume, export). */
  runId: number | null;
  stage: RunStage | null;
  stages: Record<RunStage, StageState>;
  stageDetail: string;
  download: { file: string; loaded: number; total: number | null } | null;
  model: ModelSummary | null;
  tokenized: Tokenized | null;
  steps: StepRecord[];
  /** Held-out losses by step (the best so far marked). */
  heldOut: { step: number; loss: number; best: boolean }[];
  /** Where early stopping ended training, and which step's adapters it kept. */
  stoppedEarly: { step: number; bestStep: number; bestLoss: number } | null;
  progress: ProgressEvent | null;
  evalProgress: { phase: EvalPhase; done: number; total: number } | null;
  evals: Partial<Record<EvalPhase, EvalSummary>>;
  /** The last checkpoint written (the step a reload would go on from). */
  checkpoint: { step: number; totalSteps: number; reason: CheckpointReason } | null;
  metrics: RunMetrics | null;
  artifacts: { name: string; bytes: number }[];
  /** What stopped the run; `divergence` when the trainer's watch saw it diverge (with the settings to change). */
  error: { stage: RunStage | null; name: string; message: string; divergence: RunDivergence | null } | null;
  /** The run's record in the history (null where the browser keeps none). */
  recordId: string | null;
  /** The step the run went on from, when it was resumed from a checkpoint. */
  resumedFrom: number | null;
  /** The download being prepared, and why the last one failed. */
  downloading: DownloadKind | null;
  downloadError: string | null;
  /** Starts a run of `spec` with the picked files it needs; `resume`: go on from a stored run's checkpoint. */
  start(spec: RunSpec, files: WireFile[], resume?: ResumeFrom): Promise<void>;
  /** Goes on from the checkpoint of the history's run `id` (the form's picked files, when its model or task is local). */
  resumeStored(id: string): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  /** Offers a finished run's files as a download: the output folder or the adapter as a zip, or metrics.json. */
  downloadExport(kind: DownloadKind): Promise<void>;
}

/** What a finished run offers to download. */
export type DownloadKind = 'output' | 'adapter' | 'metrics';

export const DOWNLOADS: Record<DownloadKind, { what: ExportSelection; zip: boolean; fileName: (outputName: string) => string }> = {
  /** Exactly the folder `d2lora train` writes. */
  output: { what: 'all', zip: true, fileName: (n) => `${n}.zip` },
  /** adapter/ alone (the folder inside the zip, as in the output folder). */
  adapter: { what: 'adapter', zip: true, fileName: (n) => `${n}-adapter.zip` },
  /** Named as `d2lora compare` names a run's metrics. */
  metrics: { what: [METRICS_FILE], zip: false, fileName: (n) => `${n}.metrics.json` },
};

/** The files of a download among the run's artifacts (as the worker's export selects them), with their sizes. */
export function downloadFiles(kind: DownloadKind, artifacts: readonly { name: string; bytes: number }[]): { name: string; bytes: number }[] {
  const sizes = new Map(artifacts.map((a) => [a.name, a.bytes]));
  return selectArtifacts(sizes, DOWNLOADS[kind].what).map(([name, bytes]) => ({ name, bytes }));
}

const pendingStages = (): Record<RunStage, StageState> => Object.fromEntries(RUN_STAGES.map((s) => [s, 'pending'])) as Record<RunStage, StageState>;

const fresh = {
  runId: null,
  stage: null,
  stages: pendingStages(),
  stageDetail: '',
  download: null,
  model: null,
  tokenized: null,
  steps: [],
  heldOut: [],
  stoppedEarly: null,
  progress: null,
  evalProgress: null,
  evals: {},
  checkpoint: null,
  recordId: null,
  resumedFrom: null,
  metrics: null,
  artifacts: [],
  error: null,
  downloadError: null,
} satisfies Partial<RunState>;

export const useRun = create<RunState>()((set, get) => ({
  spec: DEFAULT_RUN_SPEC,
  status: 'idle',
  downloading: null,
  ...fresh,

  async start(spec, files, resume) {
    const { status, runId } = get();
    if (status === 'starting' || status === 'running' || status === 'paused') return;
    set({ status: 'starting', spec, ...fresh, resumedFrom: resume?.step ?? null });
    const recorder = resume !== undefined ? RunRecorder.continuing(resume.record) : await RunRecorder.begin(spec);
    set({ recordId: recorder?.id ?? null });
    const snapshot = () => snapshotOf(get());
    try {
      const { client } = await engine();
      if (runId !== null) await client.disposeRun(runId).catch(() => undefined);
      const options: StartOptions = {
        ...(recorder === null ? {} : { checkpoints: { everySteps: useHistory.getState().checkpointEverySteps } }),
        ...(resume === undefined ? {} : { resumeFrom: resume.files }),
      };
      // The worker takes the bytes (transferred): they were read from the picked files for this run alone.
      const call = client.startRun(
        spec,
        files,
        (e) => {
          set((s) => applyEvent(s, e));
          if (e.type === 'tokenized') void recorder?.progress(snapshot());
        },
        options,
        (c) => void recorder?.checkpoint(new Map(c.files.map((f) => [f.name, new Uint8Array(f.bytes)])), c, snapshot()),
      );
      set({ runId: call.id, status: 'running' });
      const ended = await call;
      set((s) => ({ status: ended.status === 'done' ? 'done' : ended.status, stage: ended.stage ?? s.stage }));
      if (recorder !== null) await recordEnd(recorder, call.id, get());
    } catch (e) {
      forgetIfBroken(e);
      const err = e instanceof Error ? e : new Error(String(e));
      set((s) => ({ status: 'failed', error: s.error ?? { stage: s.stage, name: err.name, message: err.message, divergence: null } }));
      if (recorder !== null) await recordEnd(recorder, null, get());
    }
  },

  async resumeStored(id) {
    const store = await runStore();
    const [record, checkpoint] = await Promise.all([store.getRun(id), store.loadCheckpoint(id)]);
    if (record === null || checkpoint === null) {
      set({ status: 'failed', error: { stage: null, name: 'Error', message: `the history has no checkpoint of run ${id} to go on from (it was deleted, or it finished)`, divergence: null } });
      return;
    }
    const local = record.spec.model.kind === 'files' || record.spec.task.kind === 'file';
    const files = local ? await useForm.getState().wireFiles() : [];
    const wire = [...checkpoint.files].map(([name, bytes]) => ({ name, bytes: bytes.slice().buffer as ArrayBuffer }));
    await get().start(record.spec, files, { record, files: wire, step: checkpoint.meta.step });
  },

  async pause() {
    const { runId, status } = get();
    if (runId === null || status !== 'running') return;
    await (await engine()).client.pause(runId);
  },

  async resume() {
    const { runId, status } = get();
    if (runId === null || status !== 'paused') return;
    await (await engine()).client.resume(runId);
  },

  async cancel() {
    const { runId, status } = get();
    if (runId === null || (status !== 'running' && status !== 'paused')) return;
    await (await engine()).client.cancel(runId);
  },

  async downloadExport(kind) {
    const { runId, status, spec, metrics, downloading } = get();
    if (runId === null || status !== 'done' || metrics === null || downloading !== null) return;
    const d = DOWNLOADS[kind];
    set({ downloading: kind, downloadError: null });
    try {
      const { files } = await (await engine()).client.export(runId, d.what);
      // The worker transferred the bytes: these views are the only copy until the Blob takes them.
      const inputs = files.map((f) => ({ name: f.name, bytes: new Uint8Array(f.bytes) }));
      const blob = d.zip
        ? new Blob(zipParts(inputs, new Date(metrics.createdAt)) as Uint8Array<ArrayBuffer>[], { type: 'application/zip' })
        : new Blob(inputs.map((f) => f.bytes as Uint8Array<ArrayBuffer>), { type: 'application/json' });
      offerDownload(blob, d.fileName(outputName(spec)));
      set({ downloading: null });
    } catch (e) {
      forgetIfBroken(e);
      set({ downloading: null, downloadError: `${d.fileName(outputName(spec))}: ${e instanceof Error ? e.message : String(e)}` });
    }
  },
}));

/** Where a resumed run goes on from: its record in the history and its checkpoint's files. */
export interface ResumeFrom {
  record: RunRecord;
  files: WireFile[];
  step: number;
}

/** The figures of the run so far, as the history records them. */
function snapshotOf(s: RunState): RunSnapshot {
  return {
    totalSteps: s.tokenized?.totalSteps ?? s.checkpoint?.totalSteps ?? s.steps.length,
    steps: s.steps,
    heldOut: s.heldOut,
    before: s.evals.before?.accuracy ?? null,
    after: s.evals.after?.accuracy ?? null,
    merged: s.evals.merged?.accuracy ?? null,
    durationMs: s.metrics?.timings.trainMs ?? s.progress?.elapsedMs ?? 0,
  };
}

/**
 * How the run ended, in the history: a finished run with its output folder (the merged model
 * when the history keeps it); a run stopped by a lost GPU, a dead worker or a divergence stays
 * resumable from its last checkpoint; one the user cancelled, or whose setup failed, is kept as such.
 */
async function recordEnd(recorder: RunRecorder, runId: number | null, s: RunState): Promise<void> {
  const snapshot = snapshotOf(s);
  if (s.status === 'done' && s.metrics !== null && runId !== null) {
    const keepMerged = useHistory.getState().keepMergedModel;
    const names = s.artifacts.map((a) => a.name).filter((n) => keepMerged || !isMergedWeights(n));
    try {
      const { files } = await (await engine()).client.export(runId, names);
      await recorder.finish('done', snapshot, s.metrics, new Map(files.map((f) => [f.name, new Uint8Array(f.bytes)])));
    } catch (e) {
      useHistory.setState({ error: `the finished run could not be kept in the history: ${e instanceof Error ? e.message : String(e)}` });
    }
    return;
  }
  if (s.status === 'cancelled') return recorder.finish('cancelled', snapshot, null, new Map());
  const error = s.error;
  const resumable = error !== null && (error.divergence !== null || error.name === 'DeviceLostError' || error.name === 'WorkerError') && s.checkpoint !== null;
  if (resumable) return recorder.stopped(error.message, snapshot);
  return recorder.finish('failed', snapshot, null, new Map(), error?.message);
}

/** The state after one run event. */
function applyEvent(s: RunState, e: WireRunEvent): Partial<RunState> {
  switch (e.type) {
    case 'stage': {
      const stages = { ...s.stages };
      for (const st of RUN_STAGES) {
        if (st === e.stage) break;
        stages[st] = 'done';
      }
      stages[e.stage] = 'active';
      return { stage: e.stage, stages, stageDetail: e.detail, download: null, evalProgress: null };
    }
    case 'download':
      return { download: { file: e.file, loaded: e.loaded, total: e.total } };
    case 'model':
      return { model: e.model };
    case 'tokenized':
      return { tokenized: e };
    case 'step': {
      const { type: _, ...record } = e;
      return { steps: [...s.steps, record] };
    }
    case 'progress': {
      const { type: _, ...progress } = e;
      return { progress };
    }
    case 'held-out':
      return { heldOut: [...s.heldOut, { step: e.step, loss: e.loss, best: e.best }] };
    case 'stopped-early':
      return { stoppedEarly: { step: e.step, bestStep: e.bestStep, bestLoss: e.bestLoss } };
    case 'eval-progress':
      return { evalProgress: { phase: e.phase, done: e.done, total: e.total } };
    case 'eval':
      return { evals: { ...s.evals, [e.phase]: e.summary } };
    case 'paused':
      return { status: 'paused' };
    case 'resumed':
      return { status: 'running' };
    case 'restored':
      return { steps: e.steps, heldOut: e.heldOut };
    case 'checkpoint':
      return { checkpoint: { step: e.step, totalSteps: e.totalSteps, reason: e.reason } };
    case 'done': {
      const stages = pendingStages();
      for (const st of RUN_STAGES) stages[st] = 'done';
      return { metrics: e.metrics, artifacts: e.artifacts, stages };
    }
    case 'cancelled':
      return { status: 'cancelled' };
    case 'error':
      return { error: { stage: e.stage, name: e.name, message: e.message, divergence: e.divergence ?? null } };
  }
}
