// The run history on the page: every run the page starts is recorded in the browser's storage
// (src/store/: IndexedDB records, OPFS files) as it goes — its spec when training starts
// (status 'interrupted'), its curves and checkpoints while it trains, its metrics and output
// folder when it ends — so that a closed tab, a reload or a lost GPU leaves a run to resume. The
// history lists, renames, deletes, exports and imports runs, says how much storage they use, and
// words every storage failure (full, unreadable, a newer app's records) for the page.
//
// The run's own store (state/run.ts) drives a RunRecorder; nothing here talks to the engine.

import { unzipSync } from 'fflate';
import { create } from 'zustand';
import type { RunMetrics } from '../run/run';
import { METRICS_FILE, RUN_SPEC_FILE } from '../run/output-files';
import { methodLabel, modelName, outputName, parseRunSpec, taskName, type RunSpec } from '../run/spec';
import type { CheckpointReason } from '../run/stages';
import type { StepRecord } from '../train/trainer';
import { openRunStore, type ResumableRun, type RunEntry, type RunInput, type RunStore, type StorageUsage, type UnreadableRecord } from '../store/store';
import type { RunRecord } from '../store/record';
import { offerDownload } from './download';
import { zipParts } from './zip';

let opened: Promise<RunStore> | null = null;

/** The page's one run store, opened on first use. */
export function runStore(): Promise<RunStore> {
  opened ??= openRunStore().catch((e: unknown) => {
    opened = null;
    throw e;
  });
  return opened;
}

export interface HistoryState {
  /** null until the store was first opened; false where the browser gives the page no storage. */
  available: boolean | null;
  runs: RunEntry[];
  /** Records this app cannot read (a newer app's, damaged ones): listed so they can be deleted. */
  unreadable: UnreadableRecord[];
  /** Runs that stopped before they finished and kept a checkpoint: the page offers to resume them. */
  interrupted: ResumableRun[];
  usage: StorageUsage | null;
  /** Why the last history action (or a save while a run went on) failed, as the page shows it. */
  error: string | null;
  /** Keep each finished run's merged model (model.safetensors) in the history too, not only its adapter and metrics. */
  keepMergedModel: boolean;
  /** Also save a checkpoint every this many training steps (0: only at the start, each epoch, on pause and every two minutes). */
  checkpointEverySteps: number;
  /** The action under way ("export", "import", "clear"), for the buttons to wait. */
  busy: string | null;
  refresh(): Promise<void>;
  rename(id: string, name: string): Promise<void>;
  remove(id: string): Promise<void>;
  /**
   * An interrupted run is no longer to be resumed: it stays in the history as it stood (its
   * figures, curves and why it stopped), marked cancelled, and its checkpoint is deleted.
   */
  discard(id: string): Promise<void>;
  /** Deletes the run's checkpoint alone (the run stays, no longer resumable): what an unreadable checkpoint record offers. */
  removeCheckpoint(runId: string): Promise<void>;
  clearAll(): Promise<void>;
  /** Offers the run's stored files as a zip (the folder `d2lora train` writes, as Export's). */
  exportZip(id: string): Promise<void>;
  /** Adds the run of a zip exported by a playground (its run.json and metrics.json, and the files beside them). */
  importZip(file: File): Promise<void>;
  requestPersistence(): Promise<void>;
  setKeepMergedModel(keep: boolean): void;
  setCheckpointEverySteps(steps: number): void;
  dismissError(): void;
}

const SETTINGS_KEY = 'd2lora-history-settings';

function loadSettings(): { keepMergedModel: boolean; checkpointEverySteps: number } {
  const defaults = { keepMergedModel: true, checkpointEverySteps: 0 };
  try {
    const raw = JSON.parse(globalThis.localStorage?.getItem(SETTINGS_KEY) ?? '{}') as Record<string, unknown>;
    return {
      keepMergedModel: typeof raw.keepMergedModel === 'boolean' ? raw.keepMergedModel : defaults.keepMergedModel,
      checkpointEverySteps: Number.isInteger(raw.checkpointEverySteps) && (raw.checkpointEverySteps as number) >= 0 ? (raw.checkpointEverySteps as number) : defaults.checkpointEverySteps,
    };
  } catch {
    return defaults;
  }
}

function saveSettings(s: { keepMergedModel: boolean; checkpointEverySteps: number }): void {
  try {
    globalThis.localStorage?.setItem(SETTINGS_KEY, JSON.stringify(s));
  } catch {
    // A browser without localStorage keeps the settings for this visit only.
  }
}

export const useHistory = create<HistoryState>()((set, get) => {
  /** Runs `work` on the store, then lists again; a failure becomes `error`. */
  const act = async (busy: string | null, work: (store: RunStore) => Promise<void>) => {
    set({ busy, error: null });
    try {
      await work(await runStore());
    } catch (e) {
      set({ error: describeStorageError(e) });
    } finally {
      set({ busy: null });
      await get().refresh();
    }
  };
  return {
    available: null,
    runs: [],
    unreadable: [],
    interrupted: [],
    usage: null,
    error: null,
    busy: null,
    ...loadSettings(),

    async refresh() {
      let store: RunStore;
      try {
        store = await runStore();
      } catch (e) {
        set({ available: false, error: `the run history is not available in this browser: ${describeStorageError(e)}` });
        return;
      }
      try {
        const [{ runs, unreadable }, usage] = await Promise.all([store.listRuns(), store.storageUsage()]);
        set({ available: true, runs, unreadable, usage, interrupted: runs.filter((r): r is ResumableRun => r.status === 'interrupted' && r.checkpoint !== null) });
      } catch (e) {
        set({ available: true, error: describeStorageError(e) });
      }
    },

    rename: (id, name) => act(null, async (store) => void (await store.renameRun(id, name))),
    remove: (id) => act(null, (store) => store.deleteRun(id)),
    discard: (id) =>
      act(null, async (store) => {
        const record = await store.getRun(id);
        if (record === null) return;
        const { schema: _, updatedAt: __, location: ___, files: ____, ...kept } = record;
        // Saved with another status than 'interrupted', the run loses its checkpoint in the same transaction.
        await store.saveRun({ ...kept, status: 'cancelled' }, record.files.length === 0 ? new Map() : await store.readFiles(id));
      }),
    removeCheckpoint: (runId) => act(null, (store) => store.deleteCheckpoint(runId)),
    clearAll: () => act('clear', (store) => store.clearAll()),

    exportZip: (id) =>
      act('export', async (store) => {
        const record = await store.getRun(id);
        if (record === null) throw new Error(`the history has no run ${id} any more`);
        const files = await store.readFiles(id);
        const parts = zipParts([...files].map(([name, bytes]) => ({ name, bytes })), new Date(record.createdAt));
        offerDownload(new Blob(parts as Uint8Array<ArrayBuffer>[], { type: 'application/zip' }), `${outputName(record.spec)}.zip`);
      }),

    importZip: (file) =>
      act('import', async (store) => {
        const { record, files } = runFromZip(file.name, new Uint8Array(await file.arrayBuffer()));
        await store.saveRun(record, files);
      }),

    requestPersistence: () => act(null, async (store) => void (await store.requestPersistence())),

    setKeepMergedModel(keep) {
      set({ keepMergedModel: keep });
      saveSettings({ keepMergedModel: keep, checkpointEverySteps: get().checkpointEverySteps });
    },

    setCheckpointEverySteps(steps) {
      const every = Number.isInteger(steps) && steps >= 0 ? steps : 0;
      set({ checkpointEverySteps: every });
      saveSettings({ keepMergedModel: get().keepMergedModel, checkpointEverySteps: every });
    },

    dismissError: () => set({ error: null }),
  };
});

/** A storage failure as the page words it: the store's own errors say what and what to do; the browser's are named. */
export function describeStorageError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

// ---------------------------------------------------------------------------------------------
// Recording a run as it goes

/** What the page knows of a run at a moment: the figures the history's record holds. */
export interface RunSnapshot {
  totalSteps: number;
  steps: readonly StepRecord[];
  heldOut: readonly { step: number; loss: number }[];
  before: number | null;
  after: number | null;
  merged: number | null;
  /** Training time so far (from the progress events), ms. */
  durationMs: number;
}

/**
 * One run's record in the history, kept as the run goes. Every save goes through one queue, in
 * order; a failed save (storage full) is shown as the history's error and never stops the run.
 */
export class RunRecorder {
  private queue: Promise<void> = Promise.resolve();
  private status: RunRecord['status'] = 'interrupted';
  private result: RunRecord['result'];

  private constructor(
    readonly id: string,
    private spec: RunSpec,
    private readonly createdAt: string,
    private name: string,
  ) {}

  /** A new run's record; null when the browser keeps no history (the run goes on without one). */
  static async begin(spec: RunSpec): Promise<RunRecorder | null> {
    try {
      await runStore();
    } catch {
      return null;
    }
    return new RunRecorder(crypto.randomUUID(), spec, new Date().toISOString(), defaultRunName(spec));
  }

  /** The recorder of a stored run that goes on (resumed). */
  static continuing(record: RunRecord): RunRecorder {
    const r = new RunRecorder(record.id, record.spec, record.createdAt, record.name);
    r.result = record.result;
    return r;
  }

  /** The spec as run (a local model's files pinned once read). */
  setSpec(spec: RunSpec): void {
    this.spec = spec;
  }

  /** The run's figures so far; it stays 'interrupted' (resumable) until it ends. */
  progress(s: RunSnapshot): Promise<void> {
    return this.enqueue(async (store) => void (await store.saveRun(this.input(s), new Map())));
  }

  /** A checkpoint from the engine (its message: the files beside the step, taken apart; or an earlier one again, with when it was written), with the figures at that step. */
  checkpoint(files: Map<string, Uint8Array>, meta: { step: number; totalSteps: number; reason: CheckpointReason; savedAt?: string }, s: RunSnapshot): Promise<void> {
    // The record holds exactly these fields: the engine's message has more (its files, its id).
    const { step, totalSteps, reason, savedAt = new Date().toISOString() } = meta;
    return this.enqueue(async (store) => {
      await store.saveRun(this.input(s), new Map());
      await store.saveCheckpoint(this.id, files, { step, totalSteps, reason, savedAt });
    });
  }

  /**
   * The run stopped and can go on from its last checkpoint (the GPU was lost, training diverged):
   * it stays 'interrupted', with why it stopped (`stopped`) and what else the page keeps about
   * that (a diverged run's suggested settings).
   */
  stopped(why: string, s: RunSnapshot, more: NonNullable<RunRecord['result']> = {}): Promise<void> {
    this.result = { ...more, stopped: why };
    return this.progress(s);
  }

  /** The run ended: its metrics and output folder (a finished run), or how it ended; the checkpoint goes. */
  finish(status: 'done' | 'failed' | 'cancelled', s: RunSnapshot, metrics: RunMetrics | null, files: Map<string, Uint8Array>, why?: string): Promise<void> {
    this.status = status;
    this.result = why === undefined ? undefined : { stopped: why };
    return this.enqueue(async (store) => void (await store.saveRun({ ...this.input(s), ...(metrics === null ? {} : { metrics }) }, files)));
  }

  private input(s: RunSnapshot): RunInput {
    const a = this.spec.adapter;
    return {
      id: this.id,
      name: this.name,
      createdAt: this.createdAt,
      status: this.status,
      spec: this.spec,
      summary: {
        model: modelName(this.spec.model),
        task: taskName(this.spec.task),
        method: methodLabel(a),
        accuracyBefore: s.before,
        accuracyAfter: s.after,
        mergeGapPoints: s.after !== null && s.merged !== null ? 100 * (s.merged - s.after) : null,
        durationMs: Math.max(0, s.durationMs),
        stepsDone: s.steps.length,
        totalSteps: Math.max(s.totalSteps, s.steps.length),
      },
      curves: { loss: s.steps.map((x) => x.loss), heldOut: s.heldOut.map(({ step, loss }) => ({ step, loss })) },
      ...(this.result === undefined ? {} : { result: this.result }),
    };
  }

  private enqueue(work: (store: RunStore) => Promise<void>): Promise<void> {
    this.queue = this.queue.then(async () => {
      try {
        await work(await runStore());
      } catch (e) {
        useHistory.setState({ error: describeStorageError(e) });
      }
    });
    return this.queue.then(() => useHistory.getState().refresh());
  }
}

/** "D2-LoRA r=8 · stories260K · story": what a new run is called until renamed. */
export function defaultRunName(spec: RunSpec): string {
  return `${methodLabel(spec.adapter)} · ${modelName(spec.model)} · ${taskName(spec.task)}`;
}

// ---------------------------------------------------------------------------------------------
// Import

/** The most bytes an imported zip may inflate to: a run's folder with a model of a few hundred million parameters. */
const MAX_IMPORT_BYTES = 4 * 1024 ** 3;

/**
 * A run's zip (as Export or the history's export writes it, from any profile or machine) as a new
 * record: run.json gives the spec, metrics.json the figures and curves; every file goes with it.
 * A zip that is not a run's names the file and what is missing.
 */
export function runFromZip(fileName: string, bytes: Uint8Array): { record: RunInput; files: Map<string, Uint8Array> } {
  let entries: Record<string, Uint8Array>;
  let total = 0;
  try {
    entries = unzipSync(bytes, {
      filter: (f) => {
        total += f.originalSize;
        if (total > MAX_IMPORT_BYTES) throw new RangeError(`it inflates to more than ${MAX_IMPORT_BYTES / 1024 ** 3} GiB`);
        return !f.name.endsWith('/');
      },
    });
  } catch (e) {
    throw new Error(`${fileName}: not a zip the playground can read (${(e as Error).message})`);
  }
  // A zip of a folder may hold it under one top folder: names relative to the folder with run.json.
  const specPath = Object.keys(entries).find((n) => n === RUN_SPEC_FILE || n.endsWith(`/${RUN_SPEC_FILE}`));
  if (specPath === undefined) throw new Error(`${fileName}: no ${RUN_SPEC_FILE} in it; import the zip of a run's output folder (Export → the output folder, or a history export)`);
  const root = specPath.slice(0, specPath.length - RUN_SPEC_FILE.length);
  const files = new Map<string, Uint8Array>();
  for (const [name, data] of Object.entries(entries)) if (name.startsWith(root)) files.set(name.slice(root.length), data);
  const text = new TextDecoder();
  let spec: RunSpec;
  try {
    spec = parseRunSpec(JSON.parse(text.decode(files.get(RUN_SPEC_FILE)!)), `${fileName}: ${RUN_SPEC_FILE}`);
  } catch (e) {
    throw new Error(e instanceof SyntaxError ? `${fileName}: ${RUN_SPEC_FILE} is not JSON (${e.message})` : (e as Error).message);
  }
  const metricsBytes = files.get(METRICS_FILE);
  if (metricsBytes === undefined) throw new Error(`${fileName}: no ${METRICS_FILE} beside ${RUN_SPEC_FILE}; a run's zip holds both`);
  let metrics: RunMetrics;
  try {
    metrics = JSON.parse(text.decode(metricsBytes)) as RunMetrics;
  } catch (e) {
    throw new Error(`${fileName}: ${METRICS_FILE} is not JSON (${(e as Error).message})`);
  }
  const problem = metricsProblem(metrics);
  if (problem !== null) throw new Error(`${fileName}: ${METRICS_FILE}: ${problem}; it is not a run's metrics`);
  const createdAt = Number.isNaN(Date.parse(metrics.createdAt)) ? new Date().toISOString() : new Date(metrics.createdAt).toISOString();
  return {
    record: {
      id: crypto.randomUUID(),
      name: `${defaultRunName(spec)} (imported)`,
      createdAt,
      status: 'done',
      spec,
      summary: {
        model: metrics.model.name,
        task: metrics.task.name,
        method: methodLabel(spec.adapter),
        accuracyBefore: metrics.before.accuracy,
        accuracyAfter: metrics.after.accuracy,
        mergeGapPoints: metrics.mergeGapPoints,
        durationMs: metrics.timings.trainMs,
        stepsDone: metrics.steps.length,
        totalSteps: metrics.train.steps,
      },
      curves: { loss: metrics.steps.map((s) => s.loss), heldOut: (metrics.heldOut ?? []).map(({ step, loss }) => ({ step, loss })) },
      metrics,
    },
    files,
  };
}

/** What is missing from a metrics.json for the history to list it; null when it has it all. */
function metricsProblem(m: unknown): string | null {
  const at = (path: string[]): unknown => path.reduce<unknown>((v, k) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined), m);
  for (const path of [['model', 'name'], ['task', 'name'], ['createdAt']]) if (typeof at(path) !== 'string') return `"${path.join('.')}" is not text`;
  for (const path of [['before', 'accuracy'], ['after', 'accuracy'], ['mergeGapPoints'], ['timings', 'trainMs'], ['train', 'steps']]) {
    if (typeof at(path) !== 'number' || !Number.isFinite(at(path))) return `"${path.join('.')}" is not a number`;
  }
  const steps = at(['steps']);
  if (!Array.isArray(steps) || !steps.every((s) => typeof s === 'object' && s !== null && typeof (s as StepRecord).loss === 'number')) return '"steps" is not a list of steps with their losses';
  return null;
}
