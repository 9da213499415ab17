// The flags that describe a run, each mapped onto one field of the RunSpec (src/run/spec.ts), whose
// schema holds every default: a flag that is not given leaves the field as the base spec has it
// (the defaults, run.json with --spec, or a share link with --link). `train`, `compare` and `link`
// take them all; values are checked by the spec's schema and the errors name the flag.

import { basename } from 'node:path';
import { ADAPTER_METHODS, ADAPTER_SCALINGS } from '../adapters/config';
import { sha256Hex } from '../io/fetch-cache';
import { readFileIfPresent } from '../io/node-source';
import { TEXT_FILE_LIMIT } from '../io/read-limits';
import { didYouMean } from '../util/suggest';
import { isHttpUrl } from '../io/mirror';
import { findPreset } from '../model/registry';
import type { NodeRunLocations } from '../run/node-env';
import {
  CATALOG_TASK_NAMES,
  DEFAULT_RUN_SPEC,
  formatPath,
  modelName,
  outputName,
  parseRunSpec,
  RunSpecError,
  type FileRef,
  type ModelSpec,
  type RunSpec,
  type TaskSpec,
} from '../run/spec';
import { decodeRunLink } from '../share/link';
import { ANSWER_FORMATS, TASK_FILE_FORMATS } from '../tasks/formats';
import { STORY_QUESTION_TYPES } from '../tasks/story';
import { TEMPLATE_IDS } from '../tasks/templates';
import { TASK_CATALOG } from '../tasks/catalog';
import { CHOICE_SCORINGS } from '../train/eval';
import { LR_DECAYS } from '../train/schedule';
import { UsageError, type FlagSpec, type FlagValues } from './args';

interface SpecFlag extends FlagSpec {
  /** The spec field the flag sets (for defaults in --help and for naming the flag in errors). */
  path: (string | number)[];
  /** Converts the flag's value to the field's (strings are split into lists where the field is one). */
  value?: (raw: string | number | boolean) => unknown;
}

const list = (raw: string | number | boolean) =>
  String(raw)
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/** Flags of the spec's simple fields: flag → path (and, for lists, how to split). */
const FIELD_FLAGS: Record<string, SpecFlag> = {
  method: { type: 'string', path: ['adapter', 'method'], help: `adapter method: ${ADAPTER_METHODS.join(', ')}` },
  r: { type: 'number', path: ['adapter', 'r'], help: 'rank (D2-LoRA: of each branch)' },
  alpha: { type: 'number', path: ['adapter', 'alpha'], help: 'scale numerator α (s = α/r)' },
  tau: { type: 'number', path: ['adapter', 'tau'], help: "D2-LoRA: the minus branch's weight τ" },
  project: { type: 'boolean', path: ['adapter', 'project'], help: 'D2-LoRA: project each row onto its original norm (--project=false: a signed LoRA of rank 2r)' },
  readd: { type: 'number', path: ['adapter', 'readd'], help: 'D2-LoRA: ρ, the re-added update (1 = the paper, 0 = the ablation)' },
  'detach-norm': { type: 'boolean', path: ['adapter', 'detachNorm'], help: 'D2-LoRA: treat the row norms as constants in the backward (DoRA always does)' },
  scaling: { type: 'string', path: ['adapter', 'scaling'], help: `adapter scale: ${ADAPTER_SCALINGS.join(', ')} (α/r or α/√r)` },
  'norm-eps': { type: 'number', path: ['adapter', 'eps'], help: 'ε in the row norms sqrt(‖V_j‖² + ε)' },
  targets: {
    type: 'string',
    path: ['targets'],
    help: "comma-separated module names (default: the family's attention projections, q_proj,k_proj,v_proj,o_proj or c_attn,attn.c_proj)",
    value: list,
  },
  lr: { type: 'number', path: ['training', 'lr'], help: 'peak learning rate' },
  'min-lr': { type: 'number', path: ['training', 'minLr'], help: 'learning rate at the end of the decay' },
  batch: { type: 'number', path: ['training', 'batch'], help: 'examples per step' },
  epochs: { type: 'number', path: ['training', 'epochs'], help: 'passes over the training set' },
  warmup: { type: 'number', path: ['training', 'warmup'], help: 'fraction of steps spent warming up' },
  decay: { type: 'string', path: ['training', 'decay'], help: `learning-rate decay after warm-up: ${LR_DECAYS.join(', ')}` },
  beta1: { type: 'number', path: ['training', 'beta1'], help: "AdamW's β₁" },
  beta2: { type: 'number', path: ['training', 'beta2'], help: "AdamW's β₂" },
  'adam-eps': { type: 'number', path: ['training', 'eps'], help: "AdamW's ε" },
  'weight-decay': { type: 'number', path: ['training', 'weightDecay'], help: 'AdamW weight decay (decoupled)' },
  'max-grad-norm': { type: 'number', path: ['training', 'maxGradNorm'], help: 'clip the global gradient norm to this (0: no clipping)' },
  'held-out-every': { type: 'number', path: ['training', 'heldOutEvery'], help: 'steps between held-out losses (default: about ten per epoch; 0: none)' },
  'held-out-items': { type: 'number', path: ['training', 'heldOutItems'], help: 'evaluation items the held-out loss is computed on' },
  'early-stopping': {
    type: 'number',
    path: ['training', 'earlyStopping', 'patience'],
    help: 'stop when the held-out loss has not improved for this many held-out losses, keeping the best adapters (default: off)',
  },
  'dev-items': { type: 'number', path: ['training', 'earlyStopping', 'devItems'], help: 'with --early-stopping: training items held out to decide when to stop (default 200)' },
  'seq-len': { type: 'number', path: ['limits', 'maxLength'], help: "longest prompt + answer in tokens (at most the model's context)" },
  'max-train': { type: 'number', path: ['limits', 'maxTrain'], help: 'training items at most (the 5k-sample protocol)' },
  'max-eval': { type: 'number', path: ['limits', 'maxEval'], help: 'evaluation items at most' },
  'eval-batch': { type: 'number', path: ['limits', 'evalBatch'], help: '(item, choice) sequences per evaluation batch' },
  recompute: { type: 'boolean', path: ['limits', 'recomputeActivations'], help: "recompute each layer's activations in the backward: less GPU memory, one more forward per step, the same result" },
  scoring: { type: 'string', path: ['scoring'], help: `choice scoring: ${CHOICE_SCORINGS.join(', ')} (summed or per-token log-likelihood)` },
  seed: { type: 'number', path: ['seed'], help: 'seed of the data draw, the data order and the adapter init' },
};

/** Flags of the story task's options (they make the task the story task). */
const STORY_FLAGS: Record<string, SpecFlag> = {
  'story-types': { type: 'string', path: ['task', 'questionTypes'], help: `story task: question types (${STORY_QUESTION_TYPES.join(', ')})`, value: list },
  'story-characters': { type: 'number', path: ['task', 'characters'], help: 'story task: children per story (1-6)' },
  'story-choices': { type: 'number', path: ['task', 'choices'], help: 'story task: choices per question, yes/no aside (2-6)' },
  'story-train': { type: 'number', path: ['task', 'trainSize'], help: 'story task: training items generated' },
  'story-test': { type: 'number', path: ['task', 'testSize'], help: 'story task: test items generated' },
  'story-seed': { type: 'number', path: ['task', 'seed'], help: "story task: the generator's seed (which stories; not the run's seed)" },
};

/** Flags of a task file (they need --task <file>): which catalog task it is, its format, and its columns. */
const TASK_FILE_FLAGS: Record<string, SpecFlag> = {
  'task-name': { type: 'string', path: ['task', 'name'], help: 'task file: the catalog task it holds (hellaswag, commonsense_qa, …), which lends its prompt template and columns' },
  'task-format': { type: 'string', path: ['task', 'format'], help: `task file: its format (${TASK_FILE_FORMATS.join(', ')}; default: from the file name)` },
  template: { type: 'string', path: ['task', 'template'], help: `task file: how an item becomes the prompt (${TEMPLATE_IDS.join(', ')}; default question-answer)` },
  question: { type: 'string', path: ['task', 'mapping', 'question'], help: 'task file: the field (JSONL) or column (CSV) of the question (default "question"; dotted paths reach nested fields)' },
  context: { type: 'string', path: ['task', 'mapping', 'context'], help: 'task file: the field of a passage read before the question (default "context", optional)' },
  choices: { type: 'string', path: ['task', 'mapping', 'choices'], help: 'task file: the field holding all the choices (default "choices")' },
  'choice-columns': { type: 'string', path: ['task', 'mapping', 'choiceColumns'], help: 'task file: comma-separated fields, one per choice, in order', value: list },
  answer: { type: 'string', path: ['task', 'mapping', 'answer'], help: 'task file: the field of the correct answer (default "answer")' },
  'answer-format': { type: 'string', path: ['task', 'mapping', 'answerFormat'], help: `task file: how the answer names the choice (${ANSWER_FORMATS.join(', ')}; default auto)` },
  'item-id': { type: 'string', path: ['task', 'mapping', 'id'], help: "task file: the field of each item's id (default: <file>:<line>)" },
};

/** Every flag that describes a run, with --spec and --link to start from a saved one. */
export const SPEC_FLAGS: Record<string, FlagSpec> = {
  model: {
    type: 'string',
    help: 'preset name, Hugging Face URL (https://huggingface.co/<owner>/<name>/resolve/<revision>/), local Hugging Face folder or llama2.c .bin',
    shows: modelName(DEFAULT_RUN_SPEC.model),
  },
  task: {
    type: 'string',
    help: `"story" (built in), a catalog task (${CATALOG_TASK_NAMES.join(', ')}), or a task file (.json, .jsonl, .csv)`,
    shows: DEFAULT_RUN_SPEC.task.kind,
  },
  'task-train': { type: 'string', help: "with a task file: its training file (without one, --task's file is split)" },
  ...TASK_FILE_FLAGS,
  ...withDefaults(FIELD_FLAGS),
  ...withDefaults(STORY_FLAGS),
  spec: { type: 'string', help: 'start from a run.json (an output folder has one); other flags change it' },
  link: { type: 'string', help: "start from a share link (the page's URL or its #run=… part); other flags change it" },
};

function withDefaults(flags: Record<string, SpecFlag>): Record<string, SpecFlag> {
  return Object.fromEntries(
    Object.entries(flags).map(([name, f]) => {
      const v = valueAt(DEFAULT_RUN_SPEC, f.path);
      return [name, { ...f, shows: v === null ? undefined : Array.isArray(v) ? v.join(',') : String(v) }];
    }),
  );
}

export interface FlagsRun {
  spec: RunSpec;
  /** Where the spec's local files are. */
  locations: NodeRunLocations;
  /** What a link had to have repaired, to print. */
  warnings: string[];
}

/**
 * The run the flags describe: the base (the defaults, --spec, --link, or the caller's `baseSpec`, e.g.
 * a checkpoint's spec, named by `baseSpec.from` in messages) with every given flag applied.
 */
export async function runFromFlags(flags: FlagValues, baseSpec?: { spec: RunSpec; from: string }): Promise<FlagsRun> {
  if (flags.spec !== undefined && flags.link !== undefined) throw new UsageError(`give --spec or --link, not both`);
  if (baseSpec !== undefined && (flags.spec !== undefined || flags.link !== undefined)) throw new UsageError(`${baseSpec.from} gives the run's spec: drop ${flags.spec !== undefined ? '--spec' : '--link'}`);
  const warnings: string[] = [];
  let base: RunSpec = baseSpec?.spec ?? DEFAULT_RUN_SPEC;
  if (typeof flags.spec === 'string') {
    const bytes = await readFileIfPresent(flags.spec, TEXT_FILE_LIMIT);
    if (bytes === null) throw new UsageError(`--spec ${flags.spec}: no such file`);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new UsageError(`--spec ${flags.spec} is not JSON (${(e as Error).message})`);
    }
    try {
      base = parseRunSpec(json, flags.spec);
    } catch (e) {
      if (e instanceof RunSpecError) throw new UsageError(`${e.message}`);
      throw e;
    }
  } else if (typeof flags.link === 'string') {
    const decoded = decodeRunLink(flags.link);
    if (!decoded.ok) throw new UsageError(`--link: ${decoded.error}`);
    base = decoded.spec;
    warnings.push(...decoded.problems.map((p) => `the link: ${p}`));
  }
  const draft = structuredClone(base) as Record<string, unknown>;
  const locations: NodeRunLocations = {};
  const given = (name: string) => flags[name] !== undefined;

  if (given('model')) {
    const m = String(flags.model);
    const model = modelFromFlag(m);
    // A path for a spec whose model is already local files: where those pinned files are.
    if (model.kind === 'files') {
      locations.modelPath = m;
      if (base.model.kind !== 'files') draft.model = model;
    } else {
      draft.model = model;
    }
  } else if (base.model.kind === 'files') {
    throw new UsageError(`the run's model is local files ("${base.model.name}"); give --model <folder or .bin> where they are`);
  }

  if (given('task')) {
    const t = String(flags.task);
    if (looksLikeFile(t)) {
      locations.taskFiles = { test: t, ...(given('task-train') ? { train: String(flags['task-train']) } : {}) };
      if (base.task.kind !== 'file') draft.task = await taskFileSpec(t, given('task-train') ? String(flags['task-train']) : undefined);
    } else {
      if (given('task-train')) throw new UsageError(`--task-train goes with a task file given to --task, not with --task ${t}`);
      // The story task keeps the base's options (--spec, --link); the story flags change them.
      if (t !== 'story' || base.task.kind !== 'story') draft.task = taskFromName(t);
    }
  } else if (base.task.kind === 'file') {
    throw new UsageError(`the run's task is a file ("${base.task.test.name}"); give --task <file> where it is`);
  } else if (given('task-train')) {
    throw new UsageError(`--task-train goes with a task file given to --task`);
  }

  const storyGiven = Object.keys(STORY_FLAGS).filter(given);
  if (storyGiven.length > 0 && (draft.task as TaskSpec).kind !== 'story') {
    throw new UsageError(`--${storyGiven[0]} sets an option of the story task, but the task is ${(draft.task as { name?: string }).name ?? (draft.task as TaskSpec).kind}`);
  }
  if (given('dev-items') && !given('early-stopping') && base.training.earlyStopping === null) throw new UsageError('--dev-items goes with --early-stopping');
  const fileGiven = Object.keys(TASK_FILE_FLAGS).filter(given);
  if (fileGiven.length > 0 && (draft.task as TaskSpec).kind !== 'file') {
    throw new UsageError(`--${fileGiven[0]} describes a task file, but the task is ${(draft.task as { name?: string }).name ?? (draft.task as TaskSpec).kind}: give the file to --task`);
  }
  for (const [name, f] of Object.entries({ ...FIELD_FLAGS, ...STORY_FLAGS, ...TASK_FILE_FLAGS })) {
    if (!given(name)) continue;
    setAt(draft, f.path, f.value ? f.value(flags[name]!) : flags[name]);
  }
  try {
    return { spec: parseRunSpec(draft, 'flags'), locations, warnings };
  } catch (e) {
    if (!(e instanceof RunSpecError)) throw e;
    throw new UsageError(`${e.issues.map((i) => `${flagOf(i.path)}: ${i.text}`).join('\n  ')}`);
  }
}

/** The flag that sets a spec path ("--lr"), else the path itself. */
export function flagOf(path: readonly (string | number)[]): string {
  const key = formatPath(path.filter((p) => typeof p === 'string'));
  for (const [name, f] of Object.entries({ ...FIELD_FLAGS, ...STORY_FLAGS, ...TASK_FILE_FLAGS })) {
    if (formatPath(f.path) === key) return `--${name}`;
  }
  if (path[0] === 'model') return '--model';
  if (path[0] === 'task') return '--task';
  return formatPath(path);
}

const HUB_URL = /^https:\/\/huggingface\.co\/([^/]+\/[^/]+)\/resolve\/([^?#]+?)\/?$/;

/** --model: a preset, a Hugging Face folder URL, another URL, or a local path. */
export function modelFromFlag(value: string): ModelSpec {
  if (value.trim() === '') throw new UsageError('--model needs a value: a preset name, a URL or a path');
  if (findPreset(value) !== undefined) return { kind: 'preset', name: value };
  const hub = HUB_URL.exec(value);
  if (hub !== null) return { kind: 'hub', repo: hub[1]!, revision: hub[2]! };
  if (isHttpUrl(value)) return { kind: 'url', url: value };
  return { kind: 'files', name: basename(value.replace(/[\\/]+$/, '')).replace(/\.bin$/i, ''), files: [] };
}

function looksLikeFile(value: string): boolean {
  return /[\\/]/.test(value) || /\.(jsonl?|ndjson|csv)$/i.test(value);
}

function taskFromName(name: string): TaskSpec {
  if (name === 'story') return { ...(DEFAULT_RUN_SPEC.task as TaskSpec & { kind: 'story' }) };
  const entry = TASK_CATALOG.find((t) => t.name === name);
  if (entry?.source === 'download') return { kind: 'catalog', name: entry.name };
  if (entry?.source === 'user') {
    throw new UsageError(`--task ${name} needs your own files: ${entry.expectedFiles} Give the file with its name, e.g. --task ./${name}.jsonl --task-name ${name}`);
  }
  const names = ['story', ...TASK_CATALOG.map((t) => t.name)];
  throw new UsageError(`--task: unknown task "${name}"${didYouMean(name, names)}; expected story, ${CATALOG_TASK_NAMES.join(', ')}, or a task file`);
}

async function taskFileSpec(test: string, train: string | undefined): Promise<TaskSpec> {
  const ref = async (path: string): Promise<FileRef> => {
    const bytes = await readFileIfPresent(path, TEXT_FILE_LIMIT);
    if (bytes === null) throw new UsageError(`${path}: no such task file`);
    return { name: basename(path), sha256: await sha256Hex(bytes) };
  };
  return { kind: 'file', test: await ref(test), ...(train !== undefined ? { train: await ref(train) } : {}) };
}

/** out/<model>-<task>-<method>-r<r>-s<seed>. */
export function defaultOutFolder(spec: RunSpec): string {
  return `out/${outputName(spec)}`;
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const p of path) v = v === null || typeof v !== 'object' ? undefined : (v as Record<string | number, unknown>)[p];
  return v;
}

function setAt(root: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let v: Record<string | number, unknown> = root;
  for (const p of path.slice(0, -1)) {
    if (typeof v[p] !== 'object' || v[p] === null) v[p] = {};
    v = v[p] as Record<string | number, unknown>;
  }
  v[path[path.length - 1]!] = value;
}
