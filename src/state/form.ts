// The run the page is set up to start: a draft of the RunSpec that the form edits field by field,
// checked by the spec's own schema on every change, with each problem kept under its field's path
// so the form can explain it beside the field.
//
// The address bar is the form's share link: `#run=1.<spec>` (src/share/link.ts), written with
// history.replaceState as the form changes, read back when the page opens or the fragment
// changes. Beside `run=` the fragment takes two page options:
//   hide=model,task,…   sections the page does not show (a lesson shows only what it teaches);
//   autostart=1         start the run once its model and task are ready (once per page load).
// A link's repairs are listed; a link that names local files says which ones to pick.
//
// Picked files (a model folder's, a task file) stay File handles here; their bytes are read only
// when they are sent to the worker (wireFiles), so a large model is never held twice.

import { create } from 'zustand';
import { useShallow } from 'zustand/react/shallow';
import { comparedAdapter, DEFAULT_RUN_SPEC, formatPath, parseRunSpec, RunSpecError, type ComparedMethod, type FileRef, type RunSpec } from '../run/spec';
import { decodeRunLink, encodeRunLink, isDefaultSpec, LINK_PARAM } from '../share/link';
import type { ResultSummary } from '../share/result';
import { sha256Hex } from '../io/fetch-cache';
import type { WireFile } from '../worker/protocol';

/** A problem of the draft: the field path ("training.lr") and what is wrong there. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** The page's sections, as `hide=` names them. */
export const PAGE_SECTIONS = ['model', 'task', 'method', 'train', 'try', 'adapter', 'export', 'methods', 'history', 'gpu'] as const;
export type PageSection = (typeof PAGE_SECTIONS)[number];

/** A file the user picked, by its name relative to the folder picked (the name the spec pins). */
export interface HeldFile {
  name: string;
  file: Blob;
}

/** The page options a link carries beside the spec, and what was wrong with them. */
export interface PageOptions {
  hidden: PageSection[];
  autostart: boolean;
  problems: string[];
}

export interface FormState {
  /** The spec as the form holds it: any JSON, edited field by field. */
  draft: Record<string, unknown>;
  /** The draft parsed: every default filled in; null while the draft has a problem. */
  spec: RunSpec | null;
  /** The draft's problems, by field path. */
  issues: FieldIssue[];
  /**
   * The method as the form offers it: LoRA 2r is LoRA with r and α doubled, which a spec cannot
   * tell from LoRA at that rank (a link of it opens as LoRA).
   */
  method: ComparedMethod;
  /** What the share link in the address had to have repaired, or why it could not be read. */
  link: { problems: string[]; error: string | null; fromLink: boolean };
  /** The sender's result the link carried (`&result=`), with the spec of the link it came with; null without one. */
  sender: { result: ResultSummary; spec: RunSpec } | null;
  /** Sections the address hides. */
  hidden: PageSection[];
  /** The address asked to start the run once its model and task are ready, and it has not started yet. */
  autostart: boolean;
  /** Why the address could not be updated (a spec too large for a link), else null. */
  addressError: string | null;
  /** The picked model files (a files-kind model's). */
  modelFiles: HeldFile[];
  /** The picked task files (a file-kind task's). */
  taskFiles: { test: HeldFile | null; train: HeldFile | null };
  /** Sets one field of the draft (a path of keys) and checks the draft again; undefined removes it. */
  set(path: readonly string[], value: unknown): void;
  /** Replaces the whole draft (a spec from elsewhere). */
  replace(draft: Record<string, unknown>): void;
  /** Reads the spec and the page options from a URL's fragment (`#run=…&hide=…`); without `run=`, the defaults. */
  loadLink(url: string): void;
  /** Picks a method; r and α stay as the form shows them (LoRA 2r doubles them in the spec). */
  setMethod(method: ComparedMethod): void;
  /** Sets r or α as the form shows it (the spec's value is doubled for LoRA 2r). */
  setNominal(key: 'r' | 'alpha', value: unknown): void;
  /**
   * The model is these picked files. A spec that pins files (from a link) keeps its pins when
   * the files picked include every pinned name (the worker then checks each sha256); otherwise
   * the model becomes `name` with no pins yet.
   */
  pickModelFiles(name: string, files: HeldFile[]): void;
  /** The files the worker read for the model, each with its sha256: the spec pins them. */
  pinModelFiles(files: FileRef[]): void;
  /** A task file picked for the file task (its sha256 computed by the caller), or removed (null). */
  pickTaskFile(role: 'test' | 'train', file: HeldFile | null, sha256: string | null): void;
  /** Reads a picked task file's sha256 (task files are small), then pickTaskFile. */
  pickTaskBlob(role: 'test' | 'train', name: string, blob: Blob): Promise<void>;
  /** The picked files the spec needs, read now, as the worker takes them. */
  wireFiles(): Promise<WireFile[]>;
  /** Marks the autostart as used (the run was started). */
  consumeAutostart(): void;
}

const defaultDraft = () => structuredClone(DEFAULT_RUN_SPEC) as unknown as Record<string, unknown>;

export const useForm = create<FormState>()((set, get) => ({
  ...checked(defaultDraft()),
  method: 'd2lora',
  link: { problems: [], error: null, fromLink: false },
  sender: null,
  hidden: [],
  autostart: false,
  addressError: null,
  modelFiles: [],
  taskFiles: { test: null, train: null },

  set(path, value) {
    set(checked(withValue(get().draft, path, value)));
  },

  replace(draft) {
    set({ ...checked(structuredClone(draft)), method: methodOfDraft(draft) });
  },

  loadLink(url) {
    const options = readPageOptions(url);
    const page = { hidden: options.hidden, autostart: options.autostart };
    if (!new RegExp(`[#&]${LINK_PARAM}=`).test(url)) {
      set({ ...checked(defaultDraft()), method: 'd2lora', ...page, link: { problems: options.problems, error: null, fromLink: false }, sender: null });
      return;
    }
    const decoded = decodeRunLink(url);
    if (decoded.ok) {
      const draft = structuredClone(decoded.spec) as unknown as Record<string, unknown>;
      const sender = decoded.result === null ? null : { result: decoded.result, spec: decoded.spec };
      set({ ...checked(draft), method: methodOfDraft(draft), ...page, link: { problems: [...decoded.problems, ...options.problems], error: null, fromLink: true }, sender });
    } else {
      set({ ...checked(defaultDraft()), method: 'd2lora', ...page, link: { problems: options.problems, error: decoded.error, fromLink: true }, sender: null });
    }
  },

  setMethod(method) {
    const { draft, method: from } = get();
    const adapter = { ...asRecord(draft.adapter) };
    const r = nominalValue(adapter, 'r', from);
    const alpha = nominalValue(adapter, 'alpha', from);
    if (typeof r === 'number' && typeof alpha === 'number') {
      Object.assign(adapter, comparedAdapter({ method: adapter.method as string, r, alpha }, method));
    } else {
      // r or α is not a number yet: the method changes, the fields stay as typed.
      adapter.method = method === 'lora2r' ? 'lora' : method;
    }
    set({ ...checked(withValue(draft, ['adapter'], adapter)), method });
  },

  setNominal(key, value) {
    const doubled = get().method === 'lora2r' && typeof value === 'number' ? 2 * value : value;
    get().set(['adapter', key], doubled);
  },

  pickModelFiles(name, files) {
    const model = asRecord(get().draft.model);
    const pins = model.kind === 'files' && Array.isArray(model.files) ? (model.files as FileRef[]) : [];
    const names = new Set(files.map((f) => f.name));
    const keepPins = pins.length > 0 && pins.every((p) => names.has(p.name));
    set({ modelFiles: files, ...checked(withValue(get().draft, ['model'], keepPins ? model : { kind: 'files', name, files: [] })) });
  },

  pinModelFiles(files) {
    const model = asRecord(get().draft.model);
    if (model.kind !== 'files') return;
    set(checked(withValue(get().draft, ['model'], { ...model, files })));
  },

  pickTaskFile(role, file, sha256) {
    const taskFiles = { ...get().taskFiles, [role]: file };
    const task = asRecord(get().draft.task);
    const ref = file === null || sha256 === null ? undefined : { name: file.name, sha256 };
    const next = task.kind === 'file' ? { ...task, [role]: ref } : { kind: 'file', [role]: ref };
    if (ref === undefined) delete next[role];
    set({ taskFiles, ...checked(withValue(get().draft, ['task'], next)) });
  },

  async pickTaskBlob(role, name, blob) {
    const sha256 = await sha256Hex(new Uint8Array(await blob.arrayBuffer()));
    get().pickTaskFile(role, { name, file: blob }, sha256);
  },

  async wireFiles() {
    const { spec, modelFiles, taskFiles } = get();
    const held = [...(spec?.model.kind === 'files' ? modelFiles : []), ...(spec?.task.kind === 'file' ? [taskFiles.test, taskFiles.train] : [])];
    return Promise.all(held.filter((f) => f !== null).map(async (f) => ({ name: f.name, bytes: await f.file.arrayBuffer() })));
  },

  consumeAutostart() {
    set({ autostart: false });
  },
}));

/** What the page calls each field of the spec (paths as issues name them; array entries by their array). */
export const FIELD_LABELS: Readonly<Record<string, string>> = {
  model: 'Model',
  'model.name': 'Model name',
  'model.repo': 'Repository',
  'model.revision': 'Revision',
  'model.url': 'URL',
  'model.files': 'Model files',
  task: 'Task',
  'task.trainSize': 'Training stories',
  'task.testSize': 'Test stories',
  'task.seed': 'Generator seed',
  'task.questionTypes': 'Question types',
  'task.characters': 'Children per story',
  'task.choices': 'Choices',
  'task.name': 'Columns and template like',
  'task.test': 'Test file',
  'task.train': 'Training file',
  'task.format': 'Format',
  'task.template': 'Template',
  'task.mapping.question': 'Question column',
  'task.mapping.context': 'Context column',
  'task.mapping.choices': 'Choices column',
  'task.mapping.choiceColumns': 'Choice columns',
  'task.mapping.answer': 'Answer column',
  'task.mapping.answerFormat': 'Answer format',
  'task.mapping.id': 'Id column',
  'adapter.method': 'Method',
  'adapter.r': 'Rank r',
  'adapter.alpha': 'Alpha α',
  'adapter.tau': 'Tau τ',
  'adapter.project': 'Project each row onto its norm',
  'adapter.readd': 'Re-add ρ',
  'adapter.detachNorm': 'Detach the norm in the backward',
  'adapter.scaling': 'Scaling',
  'adapter.eps': 'Norm ε',
  targets: 'Target modules',
  'training.epochs': 'Epochs',
  'training.batch': 'Batch',
  'training.lr': 'Learning rate',
  'training.minLr': 'Minimum learning rate',
  'training.warmup': 'Warm-up',
  'training.decay': 'Decay',
  'training.beta1': 'AdamW β₁',
  'training.beta2': 'AdamW β₂',
  'training.eps': 'AdamW ε',
  'training.weightDecay': 'Weight decay',
  'training.maxGradNorm': 'Gradient clip',
  'training.heldOutEvery': 'Held-out loss every',
  'training.heldOutItems': 'Held-out items',
  'training.earlyStopping': 'Stop early',
  'training.earlyStopping.patience': 'Patience',
  'training.earlyStopping.devItems': 'Dev items',
  'limits.maxTrain': 'Training items at most',
  'limits.maxEval': 'Evaluation items at most',
  'limits.maxLength': 'Max length',
  'limits.evalBatch': 'Evaluation batch',
  'limits.recomputeActivations': 'Recompute activations',
  scoring: 'Scoring',
  seed: 'Seed',
};

/** The label of the field at an issue's path ("training.lr" → "Learning rate"); the path itself when unnamed. */
export function fieldLabel(path: string): string {
  for (let p = path.replace(/\[\d+\]/g, ''); p !== ''; p = p.slice(0, Math.max(0, p.lastIndexOf('.')))) {
    const label = FIELD_LABELS[p];
    if (label !== undefined) return label;
  }
  return path;
}

/** Whether the address lets section `name` show (`&hide=` did not name it). */
export function useSectionVisible(name: PageSection): boolean {
  return useForm((s) => !s.hidden.includes(name));
}

/** The draft's problems at a field's path (its own, and those of fields inside it). */
export function useFieldIssues(path: string): FieldIssue[] {
  return useForm(useShallow((s) => s.issues.filter((i) => i.path === path || i.path.startsWith(`${path}.`) || i.path.startsWith(`${path}[`))));
}

/**
 * Picked model files as the spec names them: a folder's files by their names inside it (the
 * folder's name names the model); loose files by their own names, the model named after its
 * llama2.c checkpoint, else "local-model". Paths use '/'.
 */
export function pickedModel(picked: readonly { path: string; file: Blob }[]): { name: string; files: HeldFile[] } {
  const parts = picked.map((p) => p.path.split(/[\\/]/).filter((x) => x !== ''));
  const folder = parts.length > 0 && parts.every((p) => p.length > 1 && p[0] === parts[0]![0]) ? parts[0]![0]! : null;
  const files = picked.map((p, i) => ({ name: (folder === null ? parts[i]!.slice(-1) : parts[i]!.slice(1)).join('/'), file: p.file }));
  const checkpoint = files.find((f) => /\.bin$/i.test(f.name) && !/^(tok\d+|tokenizer)\.bin$/i.test(f.name.split('/').pop()!));
  const name = folder ?? (checkpoint === undefined ? 'local-model' : checkpoint.name.split('/').pop()!.replace(/\.bin$/i, ''));
  return { name: name.replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '_').slice(0, 128), files };
}

/**
 * The column names a task file offers for the mapping, from its first line: a CSV header's
 * names, a JSON Lines object's keys (one level of nesting as dotted paths); none for a JSON
 * array (LLM-Adapters files need no mapping) or text that tells nothing.
 */
export function taskFileColumns(head: string, fileName: string): string[] {
  const line = head.replace(/^\uFEFF/, '').split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  if (/\.csv$/i.test(fileName)) return line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1')).filter((c) => c !== '');
  if (!line.trimStart().startsWith('{')) return [];
  try {
    const row: unknown = JSON.parse(line);
    if (typeof row !== 'object' || row === null || Array.isArray(row)) return [];
    return Object.entries(row).flatMap(([k, v]) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) ? [k, ...Object.keys(v).map((inner) => `${k}.${inner}`)] : [k],
    );
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// The address

/** `hide=` and `autostart=` of a URL's fragment; unknown section names and values are problems, never errors. */
export function readPageOptions(url: string): PageOptions {
  const hashAt = url.indexOf('#');
  const fragment = hashAt >= 0 ? url.slice(hashAt + 1) : '';
  const options: PageOptions = { hidden: [], autostart: false, problems: [] };
  for (const part of fragment.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1));
    } catch {
      options.problems.push(`${key}: the value is not valid percent-encoding; ignored`);
      continue;
    }
    if (key === 'hide') {
      for (const name of value.split(',').map((n) => n.trim()).filter((n) => n !== '')) {
        const section = PAGE_SECTIONS.find((s) => s === name.toLowerCase());
        if (section === undefined) options.problems.push(`hide: unknown section ${JSON.stringify(name.slice(0, 40))} (the sections: ${PAGE_SECTIONS.join(', ')}); ignored`);
        else if (!options.hidden.includes(section)) options.hidden.push(section);
      }
    } else if (key === 'autostart') {
      if (value === '1' || value === 'true') options.autostart = true;
      else if (value !== '0' && value !== 'false') options.problems.push(`autostart: found ${JSON.stringify(value.slice(0, 40))}; expected 1 (or 0); not started`);
    }
  }
  return options;
}

/**
 * The fragment for the form's state (without '#'): the spec's link (none for the default run),
 * then `hide=`. `autostart` is not written back: the address of a page that has started its run
 * must not start it again when reloaded. Throws RangeError for a spec too large for a link.
 */
export function pageFragment(spec: RunSpec, hidden: readonly PageSection[]): string {
  const parts: string[] = [];
  if (!isDefaultSpec(spec)) parts.push(encodeRunLink(spec).slice(1));
  if (hidden.length > 0) parts.push(`hide=${hidden.join(',')}`);
  return parts.join('&');
}

/**
 * Keeps the address bar's fragment the form's share link as the form changes (replaceState:
 * no history entry per keystroke, no hashchange). A draft with problems leaves the address as it
 * was; the address a page opened with stays until the form changes. Returns the unsubscribe.
 */
export function syncAddress(history: Pick<History, 'replaceState'>, location: Pick<Location, 'href'>): () => void {
  return useForm.subscribe((s, prev) => {
    // A used autostart leaves the address too, so that a reload does not start the run again.
    if (s.spec === null || (s.spec === prev.spec && s.hidden === prev.hidden && s.autostart === prev.autostart)) return;
    let fragment: string;
    try {
      fragment = pageFragment(s.spec, s.hidden);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      const message = `The address is not updated: ${e.message}.`;
      if (s.addressError !== message) useForm.setState({ addressError: message });
      return;
    }
    if (s.addressError !== null) useForm.setState({ addressError: null });
    const url = new URL(location.href);
    url.hash = fragment;
    // An empty hash leaves a bare '#'; the default run's address is the page itself.
    const href = fragment === '' ? url.href.replace(/#$/, '') : url.href;
    if (href !== location.href) history.replaceState(null, '', href);
  });
}

// ---------------------------------------------------------------------------------------------

/** The draft with its parse: the spec, or the problems by field (worded as the spec words them). */
function checked(draft: Record<string, unknown>): Pick<FormState, 'draft' | 'spec' | 'issues'> {
  try {
    return { draft, spec: parseRunSpec(draft), issues: [] };
  } catch (e) {
    if (!(e instanceof RunSpecError)) throw e;
    return { draft, spec: null, issues: e.issues.map((i) => ({ path: formatPath(i.path), message: i.text })) };
  }
}

/** A copy of the draft with one field set (undefined: removed), creating the objects on the way. */
function withValue(draft: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  const next = structuredClone(draft);
  let at: Record<string, unknown> = next;
  for (const key of path.slice(0, -1)) {
    if (typeof at[key] !== 'object' || at[key] === null || Array.isArray(at[key])) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = structuredClone(value);
  return next;
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The method a draft shows as: a spec's LoRA is LoRA (it cannot say it was LoRA 2r). */
function methodOfDraft(draft: Record<string, unknown>): ComparedMethod {
  const m = asRecord(draft.adapter).method ?? DEFAULT_RUN_SPEC.adapter.method;
  return m === 'lora' || m === 'dora' || m === 'd2lora' ? m : 'd2lora';
}

/** r or α as the form shows it for `method`: the spec's (its default when absent), halved for LoRA 2r. */
function nominalValue(adapter: Record<string, unknown>, key: 'r' | 'alpha', method: ComparedMethod): unknown {
  const v = adapter[key] ?? DEFAULT_RUN_SPEC.adapter[key];
  return method === 'lora2r' && typeof v === 'number' ? v / 2 : v;
}

/** r or α as the form shows it (the spec's value, halved for LoRA 2r). */
export function nominalAdapterValue(state: Pick<FormState, 'draft' | 'method'>, key: 'r' | 'alpha'): unknown {
  return nominalValue(asRecord(state.draft.adapter), key, state.method);
}
