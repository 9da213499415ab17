// The run on the page: its spec (from the share link in the address, else the defaults), and
// what the engine worker reports as it goes — stages, the model, the tokenized task, every
// step's loss, progress, evaluations, the final metrics — with the controls (start, pause,
// resume, cancel), the export as a zip of the output folder, and the share link.

import { create } from 'zustand';
import { zipSync } from 'fflate';
import type { ProgressEvent, StepRecord } from '../train/trainer';
import type { EvalSummary, ModelSummary, RunMetrics } from '../run/run';
import { RUN_STAGES, type EvalPhase, type RunStage } from '../run/stages';
import { DEFAULT_RUN_SPEC, type RunSpec } from '../run/spec';
import type { WireFile, WireRunEvent } from '../worker/protocol';
import { engine, forgetIfBroken } from './worker';

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
  metrics: RunMetrics | null;
  artifacts: { name: string; bytes: number }[];
  error: { stage: RunStage | null; name: string; message: string } | null;
  /** Starts a run of `spec` with the picked files it needs. */
  start(spec: RunSpec, files: WireFile[]): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  /** The output folder as a zip, offered as a download. */
  downloadZip(): Promise<void>;
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
  metrics: null,
  artifacts: [],
  error: null,
} satisfies Partial<RunState>;

export const useRun = create<RunState>()((set, get) => ({
  spec: DEFAULT_RUN_SPEC,
  status: 'idle',
  ...fresh,

  async start(spec, files) {
    const { status, runId } = get();
    if (status === 'starting' || status === 'running' || status === 'paused') return;
    set({ status: 'starting', spec, ...fresh });
    try {
      const { client } = await engine();
      if (runId !== null) await client.disposeRun(runId).catch(() => undefined);
      // The worker takes the bytes (transferred): the form keeps its own copies.
      const call = client.startRun(spec, files.map((f) => ({ name: f.name, bytes: f.bytes.slice(0) })), (e) => set((s) => applyEvent(s, e)));
      set({ runId: call.id, status: 'running' });
      const ended = await call;
      set((s) => ({ status: ended.status === 'done' ? 'done' : ended.status, stage: ended.stage ?? s.stage }));
    } catch (e) {
      forgetIfBroken(e);
      const err = e instanceof Error ? e : new Error(String(e));
      set((s) => ({ status: 'failed', error: s.error ?? { stage: s.stage, name: err.name, message: err.message } }));
    }
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

  async downloadZip() {
    const { runId, status, spec } = get();
    if (runId === null || status !== 'done') return;
    const { files } = await (await engine()).client.export(runId, 'all');
    const zip = zipSync(Object.fromEntries(files.map((f) => [f.name, new Uint8Array(f.bytes)])), { level: 6 });
    const name = `${outputName(spec)}.zip`;
    const url = URL.createObjectURL(new Blob([zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  },
}));

/** What the output folder is called (as `d2lora train` names it). */
function outputName(spec: RunSpec): string {
  const model = spec.model.kind === 'preset' ? spec.model.name : spec.model.kind === 'hub' ? spec.model.repo.split('/')[1] : spec.model.kind === 'files' ? spec.model.name : 'model';
  const task = spec.task.kind === 'story' ? 'story' : spec.task.kind === 'catalog' ? spec.task.name : (spec.task.name ?? 'task');
  return `${model}-${task}-${spec.adapter.method}-r${spec.adapter.r}-s${spec.seed}`;
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
    case 'done': {
      const stages = pendingStages();
      for (const st of RUN_STAGES) stages[st] = 'done';
      return { metrics: e.metrics, artifacts: e.artifacts, stages };
    }
    case 'cancelled':
      return { status: 'cancelled' };
    case 'error':
      return { error: { stage: e.stage, name: e.name, message: e.message } };
  }
}
