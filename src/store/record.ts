// The run history's records as they lie in IndexedDB: a saved run and a run's checkpoint, at
// every schema this app has written, and the chain that brings an older record up to the
// current one. Reading a record is: its `schema` number (newer than this app knows: a
// NewerSchemaError, never a guess) → each older schema's own shape, checked, then its migration
// to the next → the current shape, checked strictly. Migrations are pure and synchronous, so the
// store can migrate inside a transaction and write the result back (src/store/store.ts); the
// database's own structure (object stores) is migrated by its upgrade callback (src/store/db.ts).
//
// Schema history (one number for both kinds of record):
//   1  the first history. A run's summary figures flat on the record (model, task, method,
//      accuracyBefore, accuracyAfter, mergeGapPoints, durationMs, steps, totalSteps), its
//      losses as `losses`, no updatedAt, no `result`; statuses done | failed | cancelled (no
//      checkpoints yet); files in IndexedDB only, under the save's `folder`, without sha256.
//   2  the figures grouped in `summary`, the curves in `curves`; updatedAt; `result`; the
//      status 'interrupted' (a run that may keep a checkpoint to resume from) and checkpoint
//      records; `location` {backend: 'opfs' | 'idb', folder}; each file's sha256.

import { z } from 'zod';
import type { RunMetrics } from '../run/run';
import { RunSpecSchema, type RunSpecInput } from '../run/spec';
import { CHECKPOINT_REASONS } from '../run/stages';
import { InvalidRecordError, NewerSchemaError } from './errors';

export const RECORD_SCHEMA = 2;

// ---------------------------------------------------------------------------------------------
// Pieces, shared by the schemas

const RUN_ID = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'a run id: 1 to 128 letters, digits, "_" or "-" (crypto.randomUUID() is one)');
/** A save's own folder inside its run's: the store names them ("out-<uuid>", "ckpt-<uuid>"). */
const FOLDER = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a folder name: 1 to 64 letters, digits, "_" or "-"');
/** Date.prototype.toISOString()'s form exactly, so that the strings sort as the times do. */
const ISO_TIME = z.iso.datetime({ precision: 3, message: 'a time as toISOString() writes it ("2025-01-31T12:00:00.000Z")' });
const SHA256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256: 64 lowercase hexadecimal digits');
const COUNT = z.number().int().min(0);
const ACCURACY = z.number().min(0).max(1).nullable();
/** A loss as it was recorded: a diverged run's last ones may be NaN or ±Infinity. */
const LOSS = z.custom<number>((v) => typeof v === 'number', 'a number');
const HELD_OUT = z.array(z.strictObject({ step: COUNT, loss: LOSS }));
/** RunMetrics is the run core's own output (metrics.json), passed through whole; the history reads none of its fields. */
const METRICS = z.custom<RunMetrics>(isPlainObject, "the run's metrics (metrics.json), an object");

/** A file of a save: "model.safetensors", or with one folder, "adapter/adapter_model.safetensors". */
function isStoredFileName(name: string): boolean {
  const parts = name.split('/');
  return name.length <= 255 && parts.length <= 2 && parts.every((p) => p !== '' && p !== '.' && p !== '..' && !/[\\\u0000-\u001f\u007f]/.test(p));
}

const FILE_NAME = z.string().refine(isStoredFileName, 'a file name with at most one folder ("adapter/…"): no empty, "." or ".." parts, no "\\" or control characters');
const FILE_SIZE = z.number().int().min(0);

const BACKENDS = ['opfs', 'idb'] as const;
export type FileBackendKind = (typeof BACKENDS)[number];

/** Where a save's files are: the storage that holds them and the save's folder in its run's. */
const LOCATION = z.strictObject({ backend: z.enum(BACKENDS), folder: FOLDER });
export type FileLocation = z.output<typeof LOCATION>;

const STORED_FILES = z
  .array(z.strictObject({ name: FILE_NAME, size: FILE_SIZE, sha256: SHA256.optional() }))
  .refine((files) => new Set(files.map((f) => f.name)).size === files.length, 'file names that are all different');
export type StoredFile = z.output<typeof STORED_FILES>[number];

// ---------------------------------------------------------------------------------------------
// Schema 2, the current one

const RUN_RECORD_STATUSES = ['done', 'interrupted', 'failed', 'cancelled'] as const;
export type RunRecordStatus = (typeof RUN_RECORD_STATUSES)[number];

const RUN_RECORD = z.strictObject({
  schema: z.literal(RECORD_SCHEMA),
  id: RUN_ID,
  /** The user's name for the run (the page proposes one from the method, model and task). */
  name: z.string().min(1).max(200),
  createdAt: ISO_TIME,
  updatedAt: ISO_TIME,
  /** 'interrupted': not finished — saved so when training starts, so a closed tab leaves it so. */
  status: z.enum(RUN_RECORD_STATUSES),
  spec: RunSpecSchema,
  /** What the history list shows. */
  summary: z.strictObject({
    model: z.string(),
    task: z.string(),
    /** The method as the page labels it, e.g. "D2-LoRA r=8". */
    method: z.string(),
    /** Accuracies in 0..1; null when that evaluation did not run. */
    accuracyBefore: ACCURACY,
    accuracyAfter: ACCURACY,
    /** (merged − unmerged) accuracy in percentage points; null without a merged evaluation. */
    mergeGapPoints: z.number().nullable(),
    durationMs: z.number().min(0),
    stepsDone: COUNT,
    totalSteps: COUNT,
  }),
  curves: z.strictObject({
    /** loss[i]: the training loss of step i + 1. */
    loss: z.array(LOSS),
    heldOut: HELD_OUT,
  }),
  metrics: METRICS.optional(),
  /** Free-form JSON the page keeps with the run (what it shows of the result). */
  result: z.record(z.string(), z.json()).optional(),
  location: LOCATION,
  files: STORED_FILES,
});
export type RunRecord = z.output<typeof RUN_RECORD>;

const CHECKPOINT_META = z
  .strictObject({
    /** Training steps done when it was saved. */
    step: COUNT,
    totalSteps: z.number().int().min(1),
    savedAt: ISO_TIME,
    reason: z.enum(CHECKPOINT_REASONS),
  })
  .refine((m) => m.step <= m.totalSteps, { message: 'step at most totalSteps', path: ['step'] });
export type CheckpointMeta = z.output<typeof CHECKPOINT_META>;

const CHECKPOINT_RECORD = z.strictObject({
  schema: z.literal(RECORD_SCHEMA),
  runId: RUN_ID,
  meta: CHECKPOINT_META,
  location: LOCATION,
  files: STORED_FILES,
});
export type CheckpointRecord = z.output<typeof CHECKPOINT_RECORD>;

// ---------------------------------------------------------------------------------------------
// Schema 1 and its migration

const RUN_RECORD_V1 = z.strictObject({
  schema: z.literal(1),
  id: RUN_ID,
  name: z.string(),
  createdAt: ISO_TIME,
  status: z.enum(['done', 'failed', 'cancelled']),
  /** Checked as the current RunSpec once migrated. */
  spec: z.custom<RunSpecInput>(isPlainObject, 'the run spec, an object'),
  model: z.string(),
  task: z.string(),
  method: z.string(),
  accuracyBefore: ACCURACY,
  accuracyAfter: ACCURACY,
  mergeGapPoints: z.number().nullable(),
  durationMs: z.number().min(0),
  steps: COUNT,
  totalSteps: COUNT,
  losses: z.array(LOSS),
  heldOut: HELD_OUT,
  metrics: METRICS.optional(),
  folder: FOLDER,
  files: z.array(z.strictObject({ name: FILE_NAME, size: FILE_SIZE })),
});

function runV1ToV2(r: z.output<typeof RUN_RECORD_V1>): z.input<typeof RUN_RECORD> {
  return {
    schema: 2,
    id: r.id,
    name: r.name,
    createdAt: r.createdAt,
    updatedAt: r.createdAt,
    status: r.status,
    spec: r.spec,
    summary: {
      model: r.model,
      task: r.task,
      method: r.method,
      accuracyBefore: r.accuracyBefore,
      accuracyAfter: r.accuracyAfter,
      mergeGapPoints: r.mergeGapPoints,
      durationMs: r.durationMs,
      stepsDone: r.steps,
      totalSteps: r.totalSteps,
    },
    curves: { loss: r.losses, heldOut: r.heldOut },
    ...(r.metrics === undefined ? {} : { metrics: r.metrics }),
    // Schema 1 kept files in IndexedDB only.
    location: { backend: 'idb', folder: r.folder },
    files: r.files,
  };
}

/** RUN_MIGRATIONS[v]: checks a schema-v record against its own shape and returns the record of schema v + 1 it becomes. */
const RUN_MIGRATIONS: Readonly<Record<number, (raw: unknown, what: string) => unknown>> = {
  1: (raw, what) => runV1ToV2(parseAs(RUN_RECORD_V1, raw, what, 1)),
};

// ---------------------------------------------------------------------------------------------
// Reading

/** A stored run record at the current schema, and whether it had to be migrated (then the store writes it back). */
export function readRunRecord(raw: unknown): { record: RunRecord; migrated: boolean } {
  const what = describeStoredRun(raw);
  const schema = schemaOf(raw, what);
  let value = raw;
  for (let v = schema; v < RECORD_SCHEMA; v++) value = RUN_MIGRATIONS[v]!(value, what);
  return { record: parseAs(RUN_RECORD, value, what, RECORD_SCHEMA), migrated: schema < RECORD_SCHEMA };
}

/** A stored checkpoint record (checkpoints began at schema 2: there is nothing to migrate yet). */
export function readCheckpointRecord(raw: unknown): CheckpointRecord {
  const runId = isPlainObject(raw) && typeof raw.runId === 'string' ? raw.runId : '(no run id)';
  const what = `the checkpoint of run ${runId}`;
  schemaOf(raw, what);
  return parseAs(CHECKPOINT_RECORD, raw, what, RECORD_SCHEMA);
}

/** A run record about to be saved, checked as it will be read back. */
export function checkRunRecord(value: z.input<typeof RUN_RECORD>): RunRecord {
  return parseAs(RUN_RECORD, value, `the run to save (id ${String(value.id)})`, RECORD_SCHEMA);
}

export function checkCheckpointRecord(value: z.input<typeof CHECKPOINT_RECORD>): CheckpointRecord {
  return parseAs(CHECKPOINT_RECORD, value, `the checkpoint to save for run ${String(value.runId)}`, RECORD_SCHEMA);
}

/** 'run "name" (id …)' for messages, from whatever a stored record holds. */
export function describeStoredRun(raw: unknown): string {
  const id = isPlainObject(raw) && typeof raw.id === 'string' ? raw.id : null;
  const name = isPlainObject(raw) && typeof raw.name === 'string' ? raw.name : null;
  if (id === null) return 'a run record without an id';
  return name === null ? `run ${id}` : `run "${name}" (id ${id})`;
}

/** True for a stored record of an older schema than the current one: what a migrated record may be written back over. */
export function isOlderRecord(raw: unknown): boolean {
  return isPlainObject(raw) && typeof raw.schema === 'number' && raw.schema < RECORD_SCHEMA;
}

/** The record's schema number, which this app must know. */
function schemaOf(raw: unknown, what: string): number {
  const schema = isPlainObject(raw) ? raw.schema : undefined;
  if (typeof schema !== 'number' || !Number.isInteger(schema) || schema < 1) {
    throw new InvalidRecordError(what, [`schema: found ${JSON.stringify(schema) ?? 'nothing'}; expected a schema number 1 to ${RECORD_SCHEMA}`]);
  }
  if (schema > RECORD_SCHEMA) throw new NewerSchemaError(what, schema, RECORD_SCHEMA);
  return schema;
}

function parseAs<S extends z.ZodType>(schema: S, value: unknown, what: string, version: number): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const prefix = version === RECORD_SCHEMA ? '' : `(as schema ${version}) `;
  throw new InvalidRecordError(what, r.error.issues.map((i) => `${prefix}${i.path.length === 0 ? 'the record' : i.path.join('.')}: ${i.message}`));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
