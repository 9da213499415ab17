// The run on the page: the spec it was started with (the form's), and what the engine worker
// reports as it goes — stages, the model, the tokenized task, every step's loss, held-out losses,
// progress, evaluations, the final metrics and the output folder's files — with the controls
// (start, pause, resume, cancel), going on from a stored checkpoint (after a reload, a lost GPU or
// a divergence, optionally with other training settings) and the downloads (the output folder as
// a zip, the adapter alone, metrics.json).
//
// Each recorded run holds a Web Lock named after its history record while it goes, so that
// another tab does not offer to resume a run that is still training (runsUnderWay).

import { create } from 'zustand';
import { ABOVE_UNIFORM_STEPS, ZERO_GRADIENT_STEPS, type ProgressEvent, type StepRecord, type TrainSetting } from '../train/trainer';
import { decodeRunCheckpoint, encodeRunCheckpoint, type RunCheckpoint } from '../run/checkpoint';
import type { EvalSummary, ModelSummary, RunDivergence, RunMetrics } from '../run/run';
import { isMergedWeights, METRICS_FILE, selectArtifacts } from '../run/output-files';
import { RUN_STAGES, type CheckpointReason, type EvalPhase, type RunStage } from '../run/stages';
import { DEFAULT_RUN_SPEC, outputName, parseRunSpec, TRAIN_SETTING_PATHS, type RunSpec } from '../run/spec';
import type { CheckpointMeta, RunRecord } from '../store/record';
import type { ExportSelection, StartOptions, WireFile, WireRunEvent } from '../worker/protocol';
import { useForm, type FormState } from './form';
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
  /** The run has ended and how it ended is being saved in the history (which checkpoint it keeps, among others). */
  recordingEnd: boolean;
  /** The step the run went on from, when it was resumed from a checkpoint. */
  resumedFrom: number | null;
  /** The download being prepared, and why the last one failed. */
  downloading: DownloadKind | null;
  downloadError: string | null;
  /** Starts a run of `spec` with the picked files it needs; `resume`: go on from a stored run's checkpoint. */
  start(spec: RunSpec, files: WireFile[], resume?: ResumeFrom): Promise<void>;
  /**
   * Goes on from the checkpoint of the history's run `id` (the form's picked files, when its model
   * or task is local), with `change`'s training settings instead of the run's (a diverged run's
   * suggestions), from that step on.
   */
  resumeStored(id: string, change?: TrainingChange): Promise<void>;
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
  recordingEnd: false,
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
    const keeper = new CheckpointKeeper(resume?.stored ?? null);
    const releaseLock = recorder === null ? () => {} : holdRunLock(recorder.id);
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
        (c) => {
          const files = new Map(c.files.map((f) => [f.name, new Uint8Array(f.bytes)]));
          const meta = { step: c.step, totalSteps: c.totalSteps, reason: c.reason, savedAt: new Date().toISOString() };
          if (recorder !== null) keeper.written(files, meta);
          void recorder?.checkpoint(files, meta, snapshot());
        },
      );
      set({ runId: call.id, status: 'running' });
      const ended = await call;
      set((s) => ({ status: ended.status === 'done' ? 'done' : ended.status, stage: ended.stage ?? s.stage, recordingEnd: recorder !== null }));
      if (recorder !== null) await recordEnd(recorder, call.id, get(), keeper);
    } catch (e) {
      forgetIfBroken(e);
      const err = e instanceof Error ? e : new Error(String(e));
      set((s) => ({ status: 'failed', error: s.error ?? { stage: s.stage, name: err.name, message: err.message, divergence: null }, recordingEnd: recorder !== null }));
      if (recorder !== null) await recordEnd(recorder, null, get(), keeper);
    } finally {
      set({ recordingEnd: false });
      releaseLock();
    }
  },

  async resumeStored(id, change) {
    const { status } = get();
    if (status === 'starting' || status === 'running' || status === 'paused') return;
    const refuse = (message: string) => set({ status: 'failed', error: { stage: null, name: 'Error', message, divergence: null } });
    let record: RunRecord | null;
    let stored: { meta: CheckpointMeta; files: Map<string, Uint8Array> } | null;
    let checkpoint: RunCheckpoint;
    try {
      const store = await runStore();
      [record, stored] = await Promise.all([store.getRun(id), store.loadCheckpoint(id)]);
      if (record === null || stored === null) return refuse(`the history has no checkpoint of run ${id} to go on from (it was deleted, or it finished)`);
      // Read here, so that a damaged checkpoint says so before a worker starts on it.
      checkpoint = decodeRunCheckpoint(stored.files);
    } catch (e) {
      return refuse(`the run's checkpoint could not be read: ${e instanceof Error ? e.message : String(e)}`);
    }
    const missing = localFilesMissing(record.spec, useForm.getState());
    if (missing.length > 0) return refuse(`this run reads files of your own: pick ${missing.join(', ')} again (Model, Task), then resume it`);
    let resumed: { spec: RunSpec; files: Map<string, Uint8Array> };
    try {
      resumed = change === undefined || Object.keys(change).length === 0 ? { spec: checkpoint.spec, files: stored.files } : withTrainingChange(checkpoint, change);
    } catch (e) {
      return refuse(e instanceof Error ? e.message : String(e));
    }
    const local = record.spec.model.kind === 'files' || record.spec.task.kind === 'file';
    const files = local ? await useForm.getState().wireFiles() : [];
    // The worker takes a copy: the history's bytes stay here, to go back to if training diverges again.
    const wire = [...resumed.files].map(([name, bytes]) => ({ name, bytes: bytes.slice().buffer as ArrayBuffer }));
    // The run goes on: why it stopped before no longer stands.
    const { result: _, ...going } = record;
    await get().start(resumed.spec, files, {
      record: { ...going, spec: resumed.spec },
      files: wire,
      step: checkpoint.step,
      stored: { files: resumed.files, meta: stored.meta, asStored: resumed.files === stored.files },
    });
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
  /**
   * The checkpoint's files as the page holds them (not sent to the worker), and whether they are
   * the history's own (false: changed training settings were written into them).
   */
  stored?: { files: Map<string, Uint8Array>; meta: CheckpointMeta; asStored: boolean };
}

/**
 * Training settings a resumed run may take instead of its own: those a divergence suggests. None
 * of them changes the data order or the number of steps, which going on from a checkpoint needs
 * (the trainer refuses another seed, batch or number of epochs).
 */
export type TrainingChange = Partial<Record<TrainSetting, number>>;

/** The settings a divergence suggests, as a change to resume with. */
export function suggestedChange(d: Pick<RunDivergence, 'suggestions'>): TrainingChange {
  return Object.fromEntries(d.suggestions.map((s) => [s.setting, s.value]));
}

/** Where a diverged run's record keeps the change its divergence suggested (in `result`, beside `stopped`). */
const CHANGE_KEY = 'suggestedChange';

/** The change a diverged run's record suggests resuming with; null for a run that did not diverge (or a record without one). */
export function recordedChange(record: Pick<RunRecord, 'result'>): TrainingChange | null {
  const raw = record.result?.[CHANGE_KEY];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const change: TrainingChange = {};
  for (const [setting, value] of Object.entries(raw)) {
    if (!(setting in TRAIN_SETTING_PATHS) || typeof value !== 'number' || !Number.isFinite(value)) return null;
    change[setting as TrainSetting] = value;
  }
  return Object.keys(change).length > 0 ? change : null;
}

/** The checkpoint with `change` written into its spec: the resumed run trains on with those settings. */
export function withTrainingChange(checkpoint: RunCheckpoint, change: TrainingChange): { spec: RunSpec; files: Map<string, Uint8Array> } {
  const draft = structuredClone(checkpoint.spec) as unknown as Record<string, Record<string, unknown>>;
  for (const [setting, value] of Object.entries(change) as [TrainSetting, number][]) {
    const [section, field] = TRAIN_SETTING_PATHS[setting] as [string, string];
    draft[section]![field] = value;
  }
  const spec = parseRunSpec(draft, 'the changed training settings');
  return { spec, files: encodeRunCheckpoint({ ...checkpoint, spec }) };
}

/**
 * The files a run of `spec` reads from the user's disk that the form does not hold now (by the
 * names the spec gives them); empty when it reads none or the form has them all. The worker
 * checks each one's sha256 when it reads them.
 */
export function localFilesMissing(spec: RunSpec, form: Pick<FormState, 'spec' | 'modelFiles' | 'taskFiles'>): string[] {
  const missing: string[] = [];
  if (spec.model.kind === 'files') {
    const picked = form.spec?.model.kind === 'files' && form.spec.model.name === spec.model.name ? new Set(form.modelFiles.map((f) => f.name)) : new Set<string>();
    const wanted = spec.model.files.map((f) => f.name);
    if (picked.size === 0 || wanted.some((name) => !picked.has(name))) missing.push(`the model folder ${spec.model.name}`);
  }
  if (spec.task.kind === 'file') {
    const formTask = form.spec?.task.kind === 'file' ? form.spec.task : null;
    for (const [role, ref] of [['test', spec.task.test], ['train', spec.task.train]] as const) {
      if (ref === undefined) continue;
      const held = form.taskFiles[role];
      const pinned = formTask?.[role];
      if (held === null || held.name !== ref.name || pinned?.sha256 !== ref.sha256) missing.push(`the task file ${ref.name}`);
    }
  }
  return missing;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints to go back to

type HeldCheckpoint = { files: Map<string, Uint8Array>; meta: CheckpointMeta };

/** The first step (1-based) of the stretch of bad steps that stopped a diverged run (the trainer's watch). */
export function firstBadStep(d: Pick<RunDivergence, 'kind' | 'step'>): number {
  const stretch = d.kind === 'above-uniform' ? ABOVE_UNIFORM_STEPS : d.kind === 'zero-gradient' ? ZERO_GRADIENT_STEPS : 1;
  return d.step - stretch + 1;
}

/**
 * Which checkpoint a run's record should keep when the run stops. A lost GPU or a dead worker:
 * the last one written. A divergence: the newest one from before the stretch of bad steps that
 * stopped it — a checkpoint written inside that stretch would only diverge again, whatever the
 * settings (its adapters already give a loss above the uniform guess, a dead gradient, or NaN on
 * the next batch). So the newest two sound checkpoints (the trainer's divergence watch in them
 * counting no bad step so far) are held in memory, the history keeping only the last written.
 */
export class CheckpointKeeper {
  private sound: HeldCheckpoint[] = [];
  /** Whether the history holds a checkpoint of the run, and its files when they are one of these. */
  private holds = false;
  private storedFiles: Map<string, Uint8Array> | null = null;

  /** `from`: the checkpoint a resumed run went on from (`asStored`: the history holds exactly these files). */
  constructor(from: (HeldCheckpoint & { asStored: boolean }) | null) {
    if (from === null) return;
    this.holds = true;
    this.storedFiles = from.asStored ? from.files : null;
    this.note({ files: from.files, meta: from.meta });
  }

  /** A checkpoint the engine wrote, which the history now holds. */
  written(files: Map<string, Uint8Array>, meta: CheckpointMeta): void {
    this.holds = true;
    this.storedFiles = files;
    this.note({ files, meta });
  }

  /** Whether the history holds a checkpoint of the run. */
  get holdsOne(): boolean {
    return this.holds;
  }

  /**
   * After divergence `d`: the checkpoint to keep (null: none from before it went wrong) and
   * whether the history must be given it again (it holds another).
   */
  afterDivergence(d: Pick<RunDivergence, 'kind' | 'step'>): { keep: HeldCheckpoint | null; save: boolean } {
    const first = firstBadStep(d);
    // Checkpoint k's adapters computed step k + 1: it must come before the first bad step.
    const keep = this.sound.filter((c) => c.meta.step + 1 < first).at(-1) ?? null;
    return { keep, save: keep !== null && keep.files !== this.storedFiles };
  }

  private note(c: HeldCheckpoint): void {
    let watch: RunCheckpoint['trainer']['watch'];
    try {
      watch = decodeRunCheckpoint(c.files).trainer.watch;
    } catch {
      return;
    }
    if (watch.aboveCeiling === 0 && watch.zeroGradient === 0) this.sound = [...this.sound.slice(-1), c];
  }
}

// ---------------------------------------------------------------------------------------------
// Runs under way in any tab

const RUN_LOCK_PREFIX = 'd2lora-run:';

/** Holds the run's Web Lock until the returned function is called (nothing where the browser has no Web Locks). */
function holdRunLock(id: string): () => void {
  const locks = globalThis.navigator?.locks;
  if (locks === undefined) return () => {};
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  locks.request(`${RUN_LOCK_PREFIX}${id}`, () => held).catch(() => undefined);
  return release;
}

/** The history ids of the runs some tab of this page is training now (empty where the browser cannot say). */
export async function runsUnderWay(): Promise<Set<string>> {
  const locks = globalThis.navigator?.locks;
  if (locks === undefined) return new Set();
  try {
    const { held = [] } = await locks.query();
    return new Set(held.map((l) => l.name ?? '').filter((n) => n.startsWith(RUN_LOCK_PREFIX)).map((n) => n.slice(RUN_LOCK_PREFIX.length)));
  } catch {
    return new Set();
  }
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
 * when the history keeps it); a run stopped by a lost GPU or a dead worker stays resumable from
 * its last checkpoint, a diverged one from its last checkpoint before the divergence (see
 * CheckpointKeeper); one the user cancelled, or whose setup failed, is kept as such.
 */
async function recordEnd(recorder: RunRecorder, runId: number | null, s: RunState, keeper: CheckpointKeeper): Promise<void> {
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
  if (error !== null && error.divergence !== null) {
    const { keep, save } = keeper.afterDivergence(error.divergence);
    if (keep === null) return recorder.finish('failed', snapshot, null, new Map(), error.message);
    if (save) {
      await recorder.checkpoint(keep.files, keep.meta, snapshot);
      useRun.setState({ checkpoint: { step: keep.meta.step, totalSteps: keep.meta.totalSteps, reason: keep.meta.reason } });
    }
    return recorder.stopped(error.divergence.what, snapshot, { [CHANGE_KEY]: suggestedChange(error.divergence) });
  }
  if (error !== null && (error.name === 'DeviceLostError' || error.name === 'WorkerError') && keeper.holdsOne) return recorder.stopped(error.message, snapshot);
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
