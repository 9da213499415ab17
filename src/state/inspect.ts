// The setup as the engine sees it before anything trains: the form's model loaded in the worker
// (kept there for the run), its task drawn and tokenized as the run will (src/run/inspect.ts),
// and what follows from them and the form — the trainable parameters, the steps, the GPU memory
// and whether it fits this device — with the reason Start must wait, if any.
//
// Inspections follow the form: a changed model or task cancels the one under way and starts
// another (after a short pause, so typing does not start one per keystroke). Presets and picked
// files load by themselves; a model typed as a Hugging Face repository or URL loads when asked
// (it can be large), or when the address asks to start the run.

import { create } from 'zustand';
import { useMemo } from 'react';
import { MODEL_PRESETS } from '../model/registry';
import { defaultTargets, targetMatches } from '../model/names';
import type { ModelFamily } from '../model/config';
import { boundingLengths, checkFit, estimateMemory, resolveTargets, trainableParameters, trainingSteps, type FitCheck, type MemoryEstimate, type StepsEstimate } from '../run/estimate';
import type { ModelInspection, TaskInspection } from '../run/inspect';
import { parseRunSpecLeniently, type RunSpec } from '../run/spec';
import { EngineCancelledError } from '../worker/client';
import { fieldLabel, useForm, type FormState } from './form';
import { useRun } from './run';
import { useSystem } from './system';
import { engine, forgetIfBroken } from './worker';

/** The presets the model picker offers (the registry's), for components. */
export const MODEL_CHOICES = MODEL_PRESETS.map((p) => ({ name: p.name, description: p.description, approxBytes: p.approxBytes, embedded: p.embedded === true }));

export type InspectionStatus = 'idle' | 'waiting' | 'loading' | 'ready' | 'failed';

export interface Progress {
  file: string;
  loaded: number;
  total: number | null;
}

export interface Inspection<T> {
  status: InspectionStatus;
  /** What the inspection is of (the spec parts it depends on, as JSON). */
  key: string | null;
  /** While waiting: what for ('files': picked files the spec names; 'load': the user's go-ahead; 'model': the model's inspection; 'fields': a field with a problem). */
  waitingFor: 'files' | 'load' | 'model' | 'fields' | null;
  progress: Progress | null;
  result: T | null;
  error: { name: string; message: string } | null;
}

export interface InspectState {
  model: Inspection<ModelInspection>;
  task: Inspection<TaskInspection>;
  /** The model key the user asked to load (a repository or URL). */
  loadRequested: string | null;
  /** Loads the form's model now (a Hugging Face repository or URL waits for this). */
  requestModelLoad(): void;
  /** Forgets a failed inspection, so that it is tried again. */
  retry(part: 'model' | 'task'): void;
}

const idle = <T>(): Inspection<T> => ({ status: 'idle', key: null, waitingFor: null, progress: null, result: null, error: null });

export const useInspect = create<InspectState>()((set, get) => ({
  model: idle(),
  task: idle(),
  loadRequested: null,
  requestModelLoad() {
    const key = get().model.key;
    if (key !== null) set({ loadRequested: key });
  },
  retry(part) {
    set({ [part]: idle() });
  },
}));

/** Milliseconds the form must stay still before an inspection starts. */
const SETTLE_MS = 350;

/**
 * Keeps the inspections following the form, and starts the run when the address asked for it
 * and everything is ready. Returns the unsubscribe.
 */
export function startInspecting(): () => void {
  /** The inspection under way of each part: its key, and the engine's request id once sent. */
  const calls: Record<'model' | 'task', { key: string; id: number | null } | null> = { model: null, task: null };
  let timer: ReturnType<typeof setTimeout> | null = null;

  const cancel = (part: 'model' | 'task') => {
    const call = calls[part];
    calls[part] = null;
    if (call?.id == null) return;
    const id = call.id;
    void engine().then(({ client }) => client.cancel(id), () => undefined);
  };

  const update = () => {
    const form = useForm.getState();
    const state = useInspect.getState();
    const want = wantedInspections(form, state.model, state.loadRequested);
    for (const part of ['model', 'task'] as const) {
      const now = state[part];
      const w = want[part];
      if (w.key === now.key && !(w.go && now.status === 'waiting')) continue;
      cancel(part);
      useInspect.setState({ [part]: { ...idle(), key: w.key, status: w.key === null ? 'idle' : w.go ? 'loading' : 'waiting', waitingFor: w.waitingFor } });
    }
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      for (const part of ['model', 'task'] as const) {
        const now = useInspect.getState()[part];
        if (now.status === 'loading' && calls[part]?.key !== now.key) void inspect(part, now.key!);
      }
    }, SETTLE_MS);
    maybeAutostart();
  };

  const inspect = async (part: 'model' | 'task', key: string) => {
    const call = { key, id: null as number | null };
    calls[part] = call;
    const current = () => calls[part] === call && useInspect.getState()[part].key === key;
    const onProgress = (p: Progress) => {
      if (current()) useInspect.setState((s) => ({ [part]: { ...s[part], progress: p } }));
    };
    const form = useForm.getState();
    const spec = inspectableSpec(form);
    try {
      const { client } = await engine();
      if (part === 'model') {
        const request = client.inspectModel(spec.model, spec.model.kind === 'files' ? await wireHeld(form.modelFiles) : [], onProgress);
        call.id = request.id;
        if (!current()) return cancel(part);
        const { inspection } = await request;
        if (!current()) return;
        // Picked files once pinned name the same model: the inspection moves to the pinned
        // spec's key, so that pinning the form's spec does not load the model again.
        const pinned = spec.model.kind === 'files' && inspection.files !== undefined ? modelKeyOf({ ...spec.model, files: inspection.files }, form.modelFiles) : key;
        calls.model = null;
        useInspect.setState({ model: { status: 'ready', key: pinned, waitingFor: null, progress: null, result: inspection, error: null } });
        if (pinned !== key) useForm.getState().pinModelFiles(inspection.files!);
      } else {
        const held = spec.task.kind === 'file' ? [form.taskFiles.test, form.taskFiles.train].filter((f) => f !== null) : [];
        const request = client.inspectTask(spec, await wireHeld(held), onProgress);
        call.id = request.id;
        if (!current()) return cancel(part);
        const { inspection } = await request;
        if (!current()) return;
        calls.task = null;
        useInspect.setState({ task: { status: 'ready', key, waitingFor: null, progress: null, result: inspection, error: null } });
      }
      update();
    } catch (e) {
      if (e instanceof EngineCancelledError || !current()) return;
      calls[part] = null;
      forgetIfBroken(e);
      useInspect.setState((s) => ({ [part]: { ...s[part], status: 'failed', progress: null, error: errorOf(e) } }));
    }
  };

  const offForm = useForm.subscribe((s, prev) => {
    if (s.draft !== prev.draft || s.modelFiles !== prev.modelFiles || s.taskFiles !== prev.taskFiles || s.autostart !== prev.autostart) update();
  });
  const offInspect = useInspect.subscribe((s, prev) => {
    // A load asked for, or a failed inspection forgotten (retry).
    if (s.loadRequested !== prev.loadRequested || (s.model.key === null && prev.model.key !== null) || (s.task.key === null && prev.task.key !== null)) update();
  });
  const offSystem = useSystem.subscribe((s, prev) => {
    if (s.webgpu !== prev.webgpu) update();
  });
  update();
  return () => {
    offForm();
    offInspect();
    offSystem();
    if (timer !== null) clearTimeout(timer);
    cancel('model');
    cancel('task');
  };
}

/** Starts the form's run once, when the address asked for it and nothing blocks it. */
function maybeAutostart(): void {
  const form = useForm.getState();
  if (!form.autostart || useRun.getState().status !== 'idle') return;
  if (startBlockOf(form, useInspect.getState(), systemReadiness(), figuresOf(form, useInspect.getState(), useSystem.getState().limits)) !== null) return;
  void startFromForm();
}

/**
 * Starts a run of the form's spec with the picked files it needs (read now): what Start does.
 * Nothing happens while the form has a problem.
 */
export async function startFromForm(): Promise<void> {
  const form = useForm.getState();
  if (form.spec === null) return;
  const spec = form.spec;
  form.consumeAutostart();
  const files = await form.wireFiles();
  await useRun.getState().start(spec, files);
}

// ---------------------------------------------------------------------------------------------
// What to inspect

interface Wanted {
  key: string | null;
  /** Whether it may start now (false: waiting for `waitingFor`). */
  go: boolean;
  waitingFor: Inspection<unknown>['waitingFor'];
}

/** Fields the model's inspection depends on, and those the task's does (besides the model). */
const MODEL_FIELDS = ['model'];
const TASK_FIELDS = ['model', 'task', 'seed', 'limits.maxTrain', 'limits.maxEval', 'limits.maxLength'];

function touches(issues: FormState['issues'], fields: readonly string[]): boolean {
  return issues.some((i) => fields.some((f) => i.path === f || i.path.startsWith(`${f}.`) || i.path.startsWith(`${f}[`)));
}

/** The spec the inspections use: the form's, with fields that have problems (and matter to neither inspection) at their defaults. */
export function inspectableSpec(form: Pick<FormState, 'draft' | 'spec'>): RunSpec {
  return form.spec ?? parseRunSpecLeniently(form.draft).spec;
}

/** The model and task inspections the form calls for, and whether each may start. */
export function wantedInspections(
  form: Pick<FormState, 'draft' | 'spec' | 'issues' | 'modelFiles' | 'taskFiles' | 'autostart'>,
  model: Pick<Inspection<ModelInspection>, 'status' | 'key'>,
  loadRequested: string | null,
): { model: Wanted; task: Wanted } {
  const waiting = (key: string, waitingFor: Wanted['waitingFor']): Wanted => ({ key, go: false, waitingFor });
  // What an inspection waits for when the draft cannot say what to inspect.
  const unsure = (waitingFor: Wanted['waitingFor']) => waiting(`(${waitingFor})`, waitingFor);
  const draftTask = form.draft.task as { kind?: unknown } | undefined;
  const taskFilesMissing = draftTask?.kind === 'file' && form.taskFiles.test === null;
  if (touches(form.issues, MODEL_FIELDS)) return { model: unsure('fields'), task: unsure(taskFilesMissing ? 'files' : 'fields') };
  const spec = inspectableSpec(form);
  const modelKey = modelKeyOf(spec.model, form.modelFiles);
  let modelWanted: Wanted;
  if (spec.model.kind === 'files' && form.modelFiles.length === 0) modelWanted = waiting(modelKey, 'files');
  else if ((spec.model.kind === 'hub' || spec.model.kind === 'url') && loadRequested !== modelKey && !form.autostart) modelWanted = waiting(modelKey, 'load');
  else modelWanted = { key: modelKey, go: true, waitingFor: null };
  // A model already inspected is not loaded again (its key is the pinned spec's for picked files).
  if (model.key === modelKey && (model.status === 'ready' || model.status === 'loading' || model.status === 'failed')) modelWanted = { key: modelKey, go: model.status !== 'failed', waitingFor: null };

  if (touches(form.issues, TASK_FIELDS)) return { model: modelWanted, task: unsure(taskFilesMissing ? 'files' : 'fields') };
  const taskKey = JSON.stringify({ model: spec.model, task: spec.task, seed: spec.seed, maxTrain: spec.limits.maxTrain, maxEval: spec.limits.maxEval, maxLength: spec.limits.maxLength });
  let taskWanted: Wanted;
  if (spec.task.kind === 'file' && (form.taskFiles.test === null || (spec.task.train !== undefined && form.taskFiles.train === null))) taskWanted = waiting(taskKey, 'files');
  else if (!(model.key === modelKey && model.status === 'ready')) taskWanted = waiting(taskKey, 'model');
  else taskWanted = { key: taskKey, go: true, waitingFor: null };
  return { model: modelWanted, task: taskWanted };
}

/**
 * What a model inspection is of: the spec's model, and for picked files which files (by name,
 * size and date), so that picking other files under the same name loads them.
 */
export function modelKeyOf(model: RunSpec['model'], files: readonly { name: string; file: Blob }[]): string {
  if (model.kind !== 'files') return JSON.stringify(model);
  const picked = files.map((f) => [f.name, f.file.size, f.file instanceof File ? f.file.lastModified : 0]);
  return JSON.stringify({ model, picked });
}

// ---------------------------------------------------------------------------------------------
// Figures and readiness

/** What the setup adds up to: each figure null until what it needs is known (and its fields are valid). */
export interface SetupFigures {
  trainableParameters: number | null;
  /** The targets that match no linear layer of the model. */
  unmatchedTargets: string[];
  steps: StepsEstimate | null;
  memory: MemoryEstimate | null;
  /** Whether the run's buffers fit this device's limits. */
  fit: FitCheck | null;
  /** Why the model's own tensors cannot go on this device (the model inspection's checkModelFitsDevice), else null. */
  modelTooLarge: string | null;
  /** Whether the memory assumed the tokenized task's lengths (else the spec's longest sequence). */
  fromTask: boolean;
  /** Fields with a problem that hold a figure back, by figure (their labels). */
  heldBy: { trainable: string[]; steps: string[]; memory: string[] };
}

/** The fields each figure is computed from. */
const FIGURE_FIELDS = {
  trainable: ['adapter.method', 'adapter.r', 'targets'],
  steps: ['training.batch', 'training.epochs', 'training.earlyStopping'],
  memory: ['adapter', 'targets', 'training.batch', 'limits'],
} as const;

export function figuresOf(
  form: Pick<FormState, 'draft' | 'spec' | 'issues'>,
  inspect: Pick<InspectState, 'model' | 'task'>,
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number } | null,
): SetupFigures {
  const heldBy = {
    trainable: heldFields(form.issues, FIGURE_FIELDS.trainable),
    steps: heldFields(form.issues, FIGURE_FIELDS.steps),
    memory: heldFields(form.issues, FIGURE_FIELDS.memory),
  };
  const model = inspect.model.status === 'ready' ? inspect.model.result : null;
  if (model === null) return { trainableParameters: null, unmatchedTargets: [], steps: null, memory: null, fit: null, modelTooLarge: null, fromTask: false, heldBy };
  // Fields with problems are at their defaults here; a figure that reads one of them is not shown.
  const spec = inspectableSpec(form);
  const task = inspect.task.status === 'ready' ? inspect.task.result : null;
  const memory = heldBy.memory.length > 0 ? null : estimateMemory(model.config, spec, task?.lengths ?? boundingLengths(model.config, spec));
  return {
    trainableParameters: heldBy.trainable.length > 0 ? null : trainableParameters(model.config, spec),
    unmatchedTargets: resolveTargets(model.config, spec.targets).unmatched,
    steps: task === null || heldBy.steps.length > 0 ? null : trainingSteps(spec, Number(task.counts.trainTokenized)),
    memory,
    fit: limits === null || memory === null ? null : checkFit(memory, spec, limits),
    modelTooLarge: model.tooLarge,
    fromTask: task !== null,
    heldBy,
  };
}

/** The labels of the fields among `fields` (and inside them) that have a problem. */
function heldFields(issues: FormState['issues'], fields: readonly string[]): string[] {
  return [...new Set(issues.filter((i) => touches([i], fields)).map((i) => fieldLabel(i.path)))];
}

/** The setup's figures, recomputed when the form, the inspections or the limits change. */
export function useSetupFigures(): SetupFigures {
  const draft = useForm((s) => s.draft);
  const spec = useForm((s) => s.spec);
  const issues = useForm((s) => s.issues);
  const model = useInspect((s) => s.model);
  const task = useInspect((s) => s.task);
  const limits = useSystem((s) => s.limits);
  return useMemo(() => figuresOf({ draft, spec, issues }, { model, task }, limits), [draft, spec, issues, model, task, limits]);
}

function systemReadiness(): 'ready' | 'waiting' {
  return useSystem.getState().webgpu === 'ready' ? 'ready' : 'waiting';
}

/** Why Start must wait, in one sentence; null when the run can start. */
export function startBlockOf(
  form: Pick<FormState, 'spec' | 'issues'>,
  inspect: Pick<InspectState, 'model' | 'task'>,
  system: 'ready' | 'waiting',
  figures: SetupFigures,
): string | null {
  if (system !== 'ready') return 'Start waits for the GPU.';
  if (form.spec === null) {
    const n = form.issues.length;
    return `Start needs a valid setup: ${n === 1 ? 'one field has a problem' : `${n} fields have problems`} (${fieldLabel(form.issues[0]!.path)}: ${form.issues[0]!.message}).`;
  }
  const { model, task } = inspect;
  if (model.status === 'failed') return `The model could not be loaded: ${model.error!.message}`;
  if (model.waitingFor === 'files') return 'Start waits for the model\'s files: pick them in Model.';
  if (model.waitingFor === 'load') return 'Start waits for the model: load it in Model.';
  if (model.status !== 'ready') return 'Start waits for the model to load.';
  if (figures.modelTooLarge !== null) return `This model cannot go on this GPU: ${figures.modelTooLarge}`;
  if (figures.unmatchedTargets.length > 0) return `Target ${figures.unmatchedTargets.join(', ')} names no linear layer of this model.`;
  if (figures.fit !== null && !figures.fit.fits) {
    const s = figures.fit.suggestions;
    return `This run cannot fit on this GPU: ${figures.fit.reason}.${s.length > 0 ? ` Try ${s.map((x) => x.text).join(', or ')}.` : ' No batch or sequence length helps: choose a smaller model.'}`;
  }
  if (task.status === 'failed') return `The task could not be prepared: ${task.error!.message}`;
  if (task.waitingFor === 'files') return 'Start waits for the task\'s file: pick it in Task.';
  if (task.status !== 'ready') return 'Start waits for the task to be prepared.';
  if (figures.steps !== null && !figures.steps.ok) return `Training cannot start: ${figures.steps.problem}.`;
  return null;
}

/** Why Start must wait (null: it can start), as the page shows it beside Start. */
export function useStartBlock(): string | null {
  const form = useForm((s) => s);
  const inspect = useInspect((s) => s);
  const ready = useSystem((s) => s.webgpu === 'ready');
  const figures = useSetupFigures();
  return startBlockOf(form, inspect, ready ? 'ready' : 'waiting', figures);
}

// ---------------------------------------------------------------------------------------------
// Targets

/** The model's linear modules with whether the spec's targets adapt each (null targets: the family's defaults). */
export function targetChoices(modules: readonly string[], family: ModelFamily, targets: readonly string[] | null): { module: string; checked: boolean }[] {
  const names = targets ?? defaultTargets(family);
  return modules.map((module) => ({ module, checked: names.some((t) => targetMatches(t, module)) }));
}

/** The targets after a module is checked or unchecked: null when they are the family's defaults again. */
export function toggledTargets(modules: readonly string[], family: ModelFamily, targets: readonly string[] | null, module: string, on: boolean): string[] | null {
  const next = targetChoices(modules, family, targets)
    .filter((c) => (c.module === module ? on : c.checked))
    .map((c) => c.module);
  const defaults = targetChoices(modules, family, null).filter((c) => c.checked).map((c) => c.module);
  return next.length === defaults.length && next.every((m, i) => m === defaults[i]) ? null : next;
}

// ---------------------------------------------------------------------------------------------

async function wireHeld(files: readonly { name: string; file: Blob }[]) {
  return Promise.all(files.map(async (f) => ({ name: f.name, bytes: await f.file.arrayBuffer() })));
}

function errorOf(e: unknown): { name: string; message: string } {
  return e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
}
