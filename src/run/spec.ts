// RunSpec: the one description of a run — everything that decides its result, and nothing else:
// the model, the task, the adapter method and its settings, the target modules, the training
// settings, the protocol's limits, the scoring and one seed. Every default of a run is defined
// here, once, in the schema; the layers below take complete configurations.
//
// Three forms, one schema (zod):
//   object  RunSpec, what the Run takes (src/run/run.ts);
//   JSON    run.json in every output folder; `d2lora train --spec run.json` reads it back strictly;
//   link    a URL fragment (src/share/link.ts), decoded leniently: unknown fields and invalid values
//           are listed and replaced by their defaults.
//
// One seed drives the 5k-sample draw of the training items, their order in every epoch and the
// adapters' initialisation. The story task's own `seed` is the generator's: which stories the
// task holds, the same for every run, like a dataset's version.
//
// A spec never carries weights or a user's data: local and uploaded files appear by name and
// sha256 only, so a link can say which files a run needs but never hold them.

import { z } from 'zod';
import { ADAPTER_METHODS, ADAPTER_SCALINGS, checkAdapterConfig, type AdapterConfig, type LayerShape } from '../adapters/config';
import { MODEL_PRESETS } from '../model/registry';
import { GPT2_MODULES, LLAMA_MODULES } from '../model/names';
import { ANSWER_FORMATS, TASK_FILE_FORMATS } from '../tasks/formats';
import { TASK_CATALOG } from '../tasks/catalog';
import { checkStoryOptions, STORY_QUESTION_TYPES, type StoryOptions } from '../tasks/story';
import { TEMPLATE_IDS } from '../tasks/templates';
import { CHOICE_SCORINGS } from '../train/eval';
import { LR_DECAYS } from '../train/schedule';
import { didYouMean } from '../util/suggest';
import { checkTrainConfig, type TrainConfig } from '../train/config';
import type { TrainSetting } from '../train/trainer';

export const RUN_SPEC_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Pieces

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const finite = (min: number, max: number) => z.number().min(min).max(max);

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256: 64 lowercase hexadecimal digits');

/** A file named relative to the folder the user picks: no absolute paths, no "..", no control characters. */
const RELATIVE_FILE = z
  .string()
  .min(1)
  .max(256)
  .regex(/^(?![\\/])(?!.*(?:^|[\\/])\.\.(?:[\\/]|$))[^\u0000-\u001f<>:"|?*]+$/, 'a file name relative to its folder (no "..", no absolute path)');

const FILE_REF = z.strictObject({ name: RELATIVE_FILE, sha256: SHA256 });

/**
 * A folder's own name, as the run calls a local model: no path separators, not "." or "..", no
 * control characters and none of <>:"|?*, because it becomes a part of the output folder's path
 * (defaultOutFolder) and a heading in the report.
 */
const FOLDER_NAME = z
  .string()
  .min(1)
  .max(128)
  .regex(/^(?!\.\.?$)[^\u0000-\u001f\u007f\\/<>:"|?*]+$/, 'a folder name (no "/", "\\", ".." or any of <>:"|?*)');

/** A Hugging Face repository id, "owner/name". */
const HUB_REPO = z.string().regex(/^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/, 'a Hugging Face repository id "owner/name"');
const HUB_REVISION = z.string().regex(/^(?!.*\.\.)[\w.-][\w./-]{0,127}$/, 'a branch, tag or commit (letters, digits, ".", "_", "-", "/")');

/** https anywhere, http only on this machine. */
const MODEL_URL = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || (u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname));
    } catch {
      return false;
    }
  }, 'an https:// URL of a Hugging Face model folder (http:// only for localhost)');

export const MODEL_PRESET_NAMES = MODEL_PRESETS.map((p) => p.name) as [string, ...string[]];

const ModelSpec = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('preset'), name: z.enum(MODEL_PRESET_NAMES) }),
  z.strictObject({ kind: z.literal('hub'), repo: HUB_REPO, revision: HUB_REVISION.default('main') }),
  z.strictObject({ kind: z.literal('url'), url: MODEL_URL }),
  z.strictObject({
    kind: z.literal('files'),
    /** What the run calls the model (a folder's name). */
    name: FOLDER_NAME,
    /** The files as read, each with its sha256; empty until the run has read them (see Run). */
    files: z.array(FILE_REF).max(256).default([]),
  }),
]);

/** Catalog tasks that are downloaded (the story task and user-file tasks have their own kinds). */
export const CATALOG_TASK_NAMES = TASK_CATALOG.filter((t) => t.source === 'download').map((t) => t.name) as [string, ...string[]];
/** Catalog names that lend a user's files their template and column mapping. */
const CATALOG_NAMES = TASK_CATALOG.map((t) => t.name) as [string, ...string[]];

const FIELD_NAME = z.string().min(1).max(128);
const COLUMN_MAPPING = z.strictObject({
  question: FIELD_NAME.optional(),
  context: FIELD_NAME.optional(),
  choices: FIELD_NAME.optional(),
  choiceColumns: z.array(FIELD_NAME).min(2).max(26).optional(),
  answer: FIELD_NAME.optional(),
  answerFormat: z.enum(ANSWER_FORMATS).optional(),
  id: FIELD_NAME.optional(),
});

const StoryTaskSpec = z.strictObject({
  kind: z.literal('story'),
  trainSize: int(1, 100_000).default(5000),
  testSize: int(1, 100_000).default(500),
  /** The generator's seed: which stories the task holds (not the run's seed). */
  seed: int(0, 2 ** 31 - 1).default(0),
  questionTypes: z
    .array(z.enum(STORY_QUESTION_TYPES))
    .min(1)
    .max(STORY_QUESTION_TYPES.length)
    .refine((t) => new Set(t).size === t.length, 'distinct question types')
    .default(['color']),
  characters: int(1, 6).default(2),
  choices: int(2, 6).default(4),
});

const TaskSpec = z.discriminatedUnion('kind', [
  StoryTaskSpec,
  z.strictObject({ kind: z.literal('catalog'), name: z.enum(CATALOG_TASK_NAMES) }),
  z.strictObject({
    kind: z.literal('file'),
    /** A catalog name lends the task its template and column mapping (hellaswag, commonsense_qa …). */
    name: z.enum(CATALOG_NAMES).optional(),
    /** Without a train file the test file is a dev split, which the protocol splits. */
    train: FILE_REF.optional(),
    test: FILE_REF,
    format: z.enum(TASK_FILE_FORMATS).optional(),
    mapping: COLUMN_MAPPING.optional(),
    template: z.enum(TEMPLATE_IDS).optional(),
  }),
]);

const AdapterSpec = z.strictObject({
  method: z.enum(ADAPTER_METHODS).default('d2lora'),
  /** Rank of each branch (D2-LoRA has two of rank r). */
  r: int(1, 1024).default(8),
  /** s = α/r (α/√r with rsLoRA). */
  alpha: finite(1e-6, 1e6).default(16),
  /** D2-LoRA's minus-branch weight. */
  tau: finite(0, 16).default(0.5),
  /** D2-LoRA: project each row onto its original norm (off: a signed LoRA of rank 2r). */
  project: z.boolean().default(true),
  /** D2-LoRA: ρ, the re-added update (1 = the paper's Eq. 3, 0 = the ablation). */
  readd: finite(0, 4).default(1),
  /** D2-LoRA: treat the row norms as constants in the backward (DoRA always does). */
  detachNorm: z.boolean().default(false),
  scaling: z.enum(ADAPTER_SCALINGS).default('standard'),
  /** ε in n_j = sqrt(‖V_j‖² + ε). */
  eps: finite(1e-30, 1e-2).default(1e-12),
});

const MODULE_NAMES = [...new Set([...LLAMA_MODULES, ...GPT2_MODULES, ...GPT2_MODULES.map((m) => m.slice(m.indexOf('.') + 1))])] as [string, ...string[]];

const TrainingSpec = z
  .strictObject({
    epochs: int(1, 100).default(2),
    /** Examples per step. */
    batch: int(1, 4096).default(16),
    /** Peak learning rate. Chosen so that the default run learns the story task (README, "Choosing the defaults"). */
    lr: finite(1e-9, 1).default(5e-3),
    minLr: finite(0, 1).default(0),
    /** Fraction of all steps spent warming up linearly from 0. */
    warmup: finite(0, 1).default(0.05),
    decay: z.enum(LR_DECAYS).default('linear'),
    beta1: finite(0, 0.999999).default(0.9),
    beta2: finite(0, 0.999999999).default(0.999),
    eps: finite(1e-30, 1).default(1e-8),
    weightDecay: finite(0, 10).default(0),
    /** Global gradient-norm clip; 0 disables it. */
    maxGradNorm: finite(0, 1e6).default(1),
    /**
     * Steps between two held-out losses; null: about ten per epoch; 0: none. The held-out items
     * are evaluation items (their correct answers), which never steer training — unless early
     * stopping is on, which holds out items of its own from the training items.
     */
    heldOutEvery: int(0, 1_000_000).nullable().default(null),
    /** Items the held-out loss is computed on. */
    heldOutItems: int(1, 10_000).default(64),
    /**
     * Stop when the held-out loss has not improved for `patience` held-out evaluations, and keep
     * the adapters of the best one; null: train every step. Its held-out items (`devItems`) are
     * taken out of the training items, never from the evaluation items.
     */
    earlyStopping: z
      .strictObject({ patience: int(1, 1000).default(3), devItems: int(8, 10_000).default(200) })
      .nullable()
      .default(null),
  })
  .refine((t) => !(t.lr > 0) || !(t.minLr >= 0) || t.minLr <= t.lr, { message: 'a number at most the peak learning rate (lr)', path: ['minLr'] });

const LimitsSpec = z.strictObject({
  /** Training items at most (the paper's 5k-sample protocol). */
  maxTrain: int(1, 1_000_000).default(5000),
  /** Evaluation items at most. */
  maxEval: int(1, 100_000).default(1000),
  /** Longest prompt + answer in tokens (and at most the model's context). */
  maxLength: int(2, 131_072).default(256),
  /** (item, choice) sequences per evaluation batch. */
  evalBatch: int(1, 4096).default(64),
  /**
   * Run each layer's forward again in the backward instead of keeping its activations: one
   * layer's saved tensors alive at a time instead of every layer's, for one more forward per
   * step. The same numbers, bit for bit.
   */
  recomputeActivations: z.boolean().default(false),
});

export const RunSpecSchema = z.strictObject({
  version: z.literal(RUN_SPEC_VERSION).default(RUN_SPEC_VERSION),
  model: ModelSpec.prefault({ kind: 'preset', name: 'stories260K' }),
  task: TaskSpec.prefault({ kind: 'story' }),
  adapter: AdapterSpec.prefault({}),
  /** Module names to adapt (PEFT-style suffixes); null: the family's attention projections. */
  targets: z.array(z.enum(MODULE_NAMES)).min(1).max(MODULE_NAMES.length).nullable().default(null),
  training: TrainingSpec.prefault({}),
  limits: LimitsSpec.prefault({}),
  /** Which log-likelihood picks the answer: summed over the choice's tokens, or per token. */
  scoring: z.enum(CHOICE_SCORINGS).default('sum'),
  seed: int(0, 2 ** 31 - 1).default(0),
});

export type RunSpec = z.output<typeof RunSpecSchema>;
/** What a caller may give: any field left out takes its default. */
export type RunSpecInput = z.input<typeof RunSpecSchema>;
export type ModelSpec = RunSpec['model'];
export type TaskSpec = RunSpec['task'];
export type StoryTaskSpec = Extract<TaskSpec, { kind: 'story' }>;
export type FileRef = z.output<typeof FILE_REF>;

// ---------------------------------------------------------------------------------------------
// Parsing

/** A spec that does not validate: each problem names the field path, the value found and what was expected. */
export class RunSpecError extends Error {
  override name = 'RunSpecError';
  /** "adapter.r: found 0; expected an integer ≥ 1", one per problem. */
  readonly problems: string[];
  constructor(
    /** Each problem's field path (dotted, "[i]" for array entries) and what is wrong there. */
    readonly issues: { path: (string | number)[]; text: string }[],
    where = 'run spec',
  ) {
    const problems = issues.map((i) => `${formatPath(i.path)}: ${i.text}`);
    super(`${where}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
    this.problems = problems;
  }
}

/** The spec with every default filled in, or RunSpecError listing every problem. */
export function parseRunSpec(value: unknown, where = 'run spec'): RunSpec {
  const r = RunSpecSchema.safeParse(value);
  if (r.success) return r.data;
  throw new RunSpecError(r.error.issues.map((issue) => issueAt(issue, value)), where);
}

/** Every default: what `{}` parses to. Frozen to the leaves: it is shared, so never a spec to change. */
export const DEFAULT_RUN_SPEC: RunSpec = deepFreeze(parseRunSpec({}));

/** A spec from the defaults and the given sections (each merged over its defaults). */
export function runSpecWith(overrides: RunSpecInput = {}): RunSpec {
  return parseRunSpec(overrides);
}

/**
 * Lenient parsing, for links: unknown fields are dropped and invalid values replaced by their
 * defaults, each listed in `problems`. Never throws for any JSON value; the spec is always the
 * caller's own (never the shared DEFAULT_RUN_SPEC).
 */
export function parseRunSpecLeniently(value: unknown): { spec: RunSpec; problems: string[] } {
  if (!isRecord(value)) return { spec: parseRunSpec({}), problems: [`the spec is ${describeValue(value)}, not an object; using the default run`] };
  const input: Record<string, unknown> = structuredClone(value);
  const problems: string[] = [];
  /** Fields replaced by their defaults, and the problem that says so (completed with the default once known). */
  const replaced: { path: (string | number)[]; problem: number; replacing: string }[] = [];
  // Each round removes at least one offending field, so this ends; the bound is a guard.
  for (let round = 0; round < 256; round++) {
    const r = RunSpecSchema.safeParse(input);
    if (r.success) {
      for (const { path, problem, replacing } of replaced) {
        const v = valueAt(r.data, path);
        // An optional field without a default is left out rather than given a default.
        problems[problem] += v === undefined ? '; left out' : `${replacing} (${describeValue(v)})`;
      }
      return { spec: r.data, problems };
    }
    let progressed = false;
    /** What this round removed: an issue inside it is repaired with it (one problem listed, for the first). */
    const removed: (string | number)[][] = [];
    for (const issue of r.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        const parent = valueAt(input, issue.path);
        if (!isRecord(parent)) continue;
        for (const key of issue.keys) {
          if (!Object.hasOwn(parent, key)) continue;
          delete parent[key];
          problems.push(`${formatPath([...keyPath(issue.path), key])}: unknown field, ignored`);
          progressed = true;
        }
        continue;
      }
      // Replace the whole field an invalid value sits in: an array's entry replaces the array, a
      // field of one kind of model or task the whole model or task (a preset without a valid
      // name: the default model), a missing field the object that lacks it.
      const issuePath = keyPath(issue.path);
      if (removed.some((p) => p.every((k, i) => issuePath[i] === k))) continue;
      let path = replaceablePath(issuePath, input);
      while (path.length > 0 && valueAt(input, path) === undefined) path = path.slice(0, -1);
      if (path.length === 0) {
        problems.push(`${describeIssue(issue, value)}; using the default run`);
        return { spec: parseRunSpec({}), problems };
      }
      if (!removeAt(input, path)) continue;
      removed.push(path);
      const replacing = path.length < issuePath.length ? `; using the default ${formatPath(path)}` : '; using the default';
      replaced.push({ path, replacing, problem: problems.push(describeIssue(issue, value)) - 1 });
      progressed = true;
    }
    if (!progressed) break;
  }
  problems.push('the spec could not be repaired; using the default run');
  return { spec: parseRunSpec({}), problems };
}

// ---------------------------------------------------------------------------------------------
// The layers' configurations from a spec

/** The adapter configuration of the run (the run's seed initialises the factors). */
export function adapterConfigOf(spec: RunSpec): AdapterConfig {
  return checkAdapterConfig({ ...spec.adapter, init: 'paper', seed: spec.seed });
}

/** The trainer's configuration of the run (the run's seed orders the data). */
export function trainConfigOf(spec: RunSpec): TrainConfig {
  const t = spec.training;
  return checkTrainConfig({
    epochs: t.epochs,
    batchSize: t.batch,
    lr: t.lr,
    minLr: t.minLr,
    warmupRatio: t.warmup,
    decay: t.decay,
    seed: spec.seed,
    beta1: t.beta1,
    beta2: t.beta2,
    eps: t.eps,
    weightDecay: t.weightDecay,
    maxGradNorm: t.maxGradNorm,
  });
}

/** The RunSpec field each trainer setting a diverged run can suggest changing comes from (as trainConfigOf maps it). */
export const TRAIN_SETTING_PATHS: Readonly<Record<TrainSetting, readonly string[]>> = {
  lr: ['training', 'lr'],
  maxGradNorm: ['training', 'maxGradNorm'],
  weightDecay: ['training', 'weightDecay'],
};

/** The story generator's options of a story task. */
export function storyOptionsOf(task: StoryTaskSpec): StoryOptions {
  return checkStoryOptions({
    trainSize: task.trainSize,
    testSize: task.testSize,
    seed: task.seed,
    questionTypes: [...task.questionTypes],
    characters: task.characters,
    choices: task.choices,
  });
}

/** A complete adapter configuration: the defaults with the given fields (tests, benchmarks). */
export function defaultAdapterConfig(overrides: Partial<AdapterConfig> = {}, layer?: LayerShape): AdapterConfig {
  return checkAdapterConfig({ ...adapterConfigOf(DEFAULT_RUN_SPEC), ...overrides }, layer);
}

/** A complete trainer configuration: the defaults with the given fields (tests, benchmarks). */
export function defaultTrainConfig(overrides: Partial<TrainConfig> = {}): TrainConfig {
  return checkTrainConfig({ ...trainConfigOf(DEFAULT_RUN_SPEC), ...overrides });
}

/** Complete story options: the story task's defaults with the given fields (tests). */
export function defaultStoryOptions(overrides: Partial<StoryOptions> = {}): StoryOptions {
  return checkStoryOptions({ ...storyOptionsOf(DEFAULT_RUN_SPEC.task as StoryTaskSpec), ...overrides });
}

// ---------------------------------------------------------------------------------------------
// Messages

type Issue = z.core.$ZodIssue;

/** "adapter.r: found 0; expected an integer ≥ 1". */
function describeIssue(issue: Issue, input: unknown): string {
  const { path, text } = issueAt(issue, input);
  return `${formatPath(path)}: ${text}`;
}

function issueAt(issue: Issue, input: unknown): { path: (string | number)[]; text: string } {
  const path = keyPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownFields(path, input);
    return {
      path: [...path, issue.keys[0]!],
      text: `unknown field${issue.keys.length > 1 ? `s ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : ''}${known ? ` (the fields here: ${known})` : ''}`,
    };
  }
  if (issue.code === 'invalid_union') {
    const kinds = unionKinds(path[path.length - 1] === 'kind' ? path.slice(0, -1) : path);
    if (kinds !== null) return { path, text: `found ${describeValue(valueAt(input, path))}; expected one of the kinds ${kinds}` };
  }
  const found = valueAt(input, path);
  // A misspelt name of an enum (a preset, a task, a module) gets the nearest one suggested.
  const near = issue.code === 'invalid_value' && typeof found === 'string' ? didYouMean(found, issue.values.filter((v) => typeof v === 'string')) : '';
  return { path, text: `found ${describeValue(found)}${near}; expected ${expectation(issue, isIntegerField(path, input))}` };
}

/** The `kind` values of the discriminated union at a path ("preset", "hub" …), or null. */
function unionKinds(path: readonly (string | number)[]): string | null {
  const schema = schemaAt(path, undefined);
  if (!(schema instanceof z.ZodDiscriminatedUnion)) return null;
  const kinds = (schema.options as z.ZodType[]).flatMap((o) => {
    const inner = unwrap(o);
    const kind = inner instanceof z.ZodObject ? (inner.shape as Record<string, z.ZodType>).kind : undefined;
    return kind instanceof z.ZodLiteral ? [...kind.values].map((v) => JSON.stringify(v)) : [];
  });
  return kinds.join(', ');
}

/**
 * The schema at a path (through objects, arrays, and the union option of the `kind` the input has
 * there), or null.
 */
function schemaAt(path: readonly (string | number)[], input: unknown): z.ZodType | null {
  let schema: z.ZodType = RunSpecSchema;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    let inner = unwrap(schema);
    if (inner instanceof z.ZodDiscriminatedUnion) {
      const option = optionOfKind(inner, valueAt(input, [...path.slice(0, i), 'kind']));
      if (option === undefined) return null;
      inner = option;
    }
    if (inner instanceof z.ZodObject && typeof key === 'string') {
      const next = (inner.shape as Record<string, z.ZodType>)[key];
      if (next === undefined) return null;
      schema = next;
    } else if (inner instanceof z.ZodArray && typeof key === 'number') {
      schema = inner.element as z.ZodType;
    } else {
      return null;
    }
  }
  return unwrap(schema);
}

function isIntegerField(path: readonly (string | number)[], input: unknown): boolean {
  const schema = schemaAt(path, input);
  return schema instanceof z.ZodNumber && schema.isInt === true;
}

/**
 * What a lenient parse replaces by its default for an issue at `path`: the field itself when it
 * has a default, an array when one of its entries is wrong, and the whole model or task when a
 * field of its kind has no default (a preset with no valid name: the default model).
 */
function replaceablePath(path: readonly (string | number)[], input: unknown): (string | number)[] {
  let schema: z.ZodType = RunSpecSchema;
  let unionCut: number | null = null;
  for (let i = 0; i < path.length; i++) {
    let inner = unwrap(schema);
    if (inner instanceof z.ZodDiscriminatedUnion) {
      unionCut = i;
      const option = optionOfKind(inner, valueAt(input, [...path.slice(0, i), 'kind']));
      if (option === undefined) return path.slice(0, i);
      inner = option;
    }
    if (inner instanceof z.ZodArray) return path.slice(0, i);
    const key = path[i]!;
    if (!(inner instanceof z.ZodObject) || typeof key !== 'string') return path.slice(0, i);
    const next = (inner.shape as Record<string, z.ZodType>)[key];
    if (next === undefined) return path.slice(0, i + 1);
    schema = next;
  }
  const defaulted = schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault || schema instanceof z.ZodOptional;
  return defaulted || unionCut === null ? [...path] : path.slice(0, unionCut);
}

/** The object schema of a discriminated union whose `kind` is `kind`, unwrapped. */
function optionOfKind(union: z.ZodDiscriminatedUnion, kind: unknown): z.ZodObject | undefined {
  for (const o of union.options as z.ZodType[]) {
    const inner = unwrap(o);
    const k = inner instanceof z.ZodObject ? (inner.shape as Record<string, z.ZodType>).kind : undefined;
    if (k instanceof z.ZodLiteral && k.values.has(kind as never)) return inner as z.ZodObject;
  }
  return undefined;
}

/** The field names the schema has at a path of plain objects, for messages. */
function knownFields(path: readonly (string | number)[], input: unknown): string | null {
  let schema = schemaAt(path, input);
  if (schema instanceof z.ZodDiscriminatedUnion) schema = optionOfKind(schema, valueAt(input, [...path, 'kind'])) ?? null;
  return schema instanceof z.ZodObject ? Object.keys(schema.shape).join(', ') : null;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (let i = 0; i < 8; i++) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else break;
  }
  return s;
}

function expectation(issue: Issue, integer: boolean): string {
  const number = integer ? 'an integer' : 'a number';
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'int' || (integer && issue.expected === 'number') ? 'an integer' : `${article(issue.expected)} ${issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return 'one of the kinds the field allows';
    case 'too_small':
      if (issue.origin === 'array') return `at least ${plural(Number(issue.minimum), 'entry', 'entries')}`;
      if (issue.origin === 'string') return `at least ${plural(Number(issue.minimum), 'character', 'characters')}`;
      return `${number} ${issue.inclusive ? '≥' : '>'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'array') return `at most ${plural(Number(issue.maximum), 'entry', 'entries')}`;
      if (issue.origin === 'string') return `at most ${plural(Number(issue.maximum), 'character', 'characters')}`;
      return `${number} ${issue.inclusive ? '≤' : '<'} ${issue.maximum}`;
    case 'invalid_format':
      return issue.message || `a ${issue.format}`;
    case 'not_multiple_of':
      return `a multiple of ${issue.divisor}`;
    default:
      return issue.message;
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

/** What the output folder, reports and the run history call the spec's model before it is loaded. */
export function modelName(m: ModelSpec): string {
  switch (m.kind) {
    case 'preset':
      return m.name;
    case 'hub':
      return m.repo.slice(m.repo.indexOf('/') + 1);
    case 'url': {
      const path = new URL(m.url).pathname.replace(/\/resolve\/.*$/, '').replace(/\/+$/, '');
      return path.slice(path.lastIndexOf('/') + 1).replace(/\.bin$/i, '') || 'model';
    }
    case 'files':
      return m.name;
  }
}

/** What they call the spec's task. */
export function taskName(t: TaskSpec): string {
  switch (t.kind) {
    case 'story':
      return 'story';
    case 'catalog':
      return t.name;
    case 'file':
      return t.name ?? t.test.name.replace(/\.[^.]*$/, '');
  }
}

export const METHOD_NAMES: Readonly<Record<RunSpec['adapter']['method'], string>> = { lora: 'LoRA', dora: 'DoRA', d2lora: 'D2-LoRA' };

/** "D2-LoRA r=8": the method and its rank, as tables and lists name a run's adapter. */
export function methodLabel(adapter: Pick<RunSpec['adapter'], 'method' | 'r'>): string {
  return `${METHOD_NAMES[adapter.method]} r=${adapter.r}`;
}

/** The methods compared: "lora2r" is LoRA with r and α doubled (s = α/r unchanged), D2-LoRA's parameter count. */
export const COMPARED_METHODS = ['lora', 'lora2r', 'dora', 'd2lora'] as const;
export type ComparedMethod = (typeof COMPARED_METHODS)[number];

/** The adapter settings of a compared method at rank r and α (every other setting as given). */
export function comparedAdapter<A extends { method: string; r: number; alpha: number }>(adapter: A, method: ComparedMethod): A & { method: RunSpec['adapter']['method'] } {
  if (method === 'lora2r') return { ...adapter, method: 'lora', r: 2 * adapter.r, alpha: 2 * adapter.alpha };
  return { ...adapter, method };
}

/** <model>-<task>-<method>-r<r>-s<seed>: the output folder's name (`d2lora train` puts it under out/), the page's downloads'. */
export function outputName(spec: RunSpec): string {
  return `${modelName(spec.model)}-${taskName(spec.task)}-${spec.adapter.method}-r${spec.adapter.r}-s${spec.seed}`;
}

/**
 * Where two specs differ: the path of every setting whose value is not the same (arrays, such as
 * targets or a model's files, compared whole). What a settings diff shows.
 */
export function specDifferences(a: RunSpec, b: RunSpec): string[][] {
  const walk = (x: unknown, y: unknown, path: string[]): string[][] => {
    const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (isObject(x) && isObject(y)) return [...new Set([...Object.keys(x), ...Object.keys(y)])].flatMap((k) => walk(x[k], y[k], [...path, k]));
    return JSON.stringify(x) === JSON.stringify(y) ? [] : [path];
  };
  return walk(a, b, []);
}

export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(the spec)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** A short, inert description of any JSON value: it is printed, never interpreted. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  // JSON.parse reads 1e999 as Infinity, which JSON.stringify would print as null.
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const text = JSON.stringify(v) ?? typeof v;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function keyPath(path: readonly PropertyKey[]): (string | number)[] {
  return path.map((p) => (typeof p === 'symbol' ? String(p) : p));
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function removeAt(root: Record<string, unknown>, path: readonly (string | number)[]): boolean {
  const parent = valueAt(root, path.slice(0, -1));
  const key = path[path.length - 1]!;
  if (typeof parent !== 'object' || parent === null || !Object.hasOwn(parent, key)) return false;
  delete (parent as Record<PropertyKey, unknown>)[key];
  return true;
}
