// RunStore: the browser's run history and resume checkpoints, the one owner of what the page and
// the engine worker keep between visits. Records (a run's spec, summary, curves, metrics and file
// list; a checkpoint's metadata and file list) live in IndexedDB (db.ts, record.ts); file bytes
// live in the origin private file system where it works (opfs.ts), else in IndexedDB (files.ts).
// Both work in dedicated workers, so the worker can save a checkpoint while the page lists runs.
//
// Nothing half-written. Every save writes its files into a fresh folder that no record names,
// then switches the record to that folder in one IndexedDB transaction, and removes the folder
// it replaced after. Until that transaction commits, readers get the previous record and its
// files: a new checkpoint replaces the old one whole or not at all. A save that fails removes
// its folder; one cut short (the tab closed mid-write) is in the `pending` journal, written
// before its first file, and its folder goes when a store next opens while no save is in flight
// in any tab or worker (every save holds a Web Lock in shared mode; removeLeftovers asks for it
// exclusively). Deleting goes the other way, files first: a delete cut short leaves a run that
// still lists, whose files are (partly) gone, and deleting it again finishes.
//
// A run keeps at most one checkpoint, and only while its status is 'interrupted': saving the run
// with another status drops it in the same transaction.

import type { IDBPTransaction } from 'idb';
import { sha256Hex } from '../io/fetch-cache';
import { inTransaction, openDatabase, type PendingFolder, type StoreDatabase, type StoreDB } from './db';
import { InvalidRecordError, isQuotaError, NewerSchemaError, StorageFullError, StoreClosedError, StoredFileError, UnknownRunError } from './errors';
import { IdbFileStore, type FileStore } from './files';
import { openOpfsFileStore, type OpfsDirectory, type OpfsFileStore } from './opfs';
import {
  checkCheckpointRecord,
  checkRunRecord,
  describeStoredRun,
  isOlderRecord,
  readCheckpointRecord,
  readRunRecord,
  RECORD_SCHEMA,
  type CheckpointMeta,
  type CheckpointRecord,
  type FileBackendKind,
  type FileLocation,
  type RunRecord,
  type RunRecordStatus,
  type StoredFile,
} from './record';

/** The part of navigator.storage the store uses; every method may be missing (the figures are then null, OPFS unused). */
export interface StorageLike {
  estimate?(): Promise<{ usage?: number; quota?: number }>;
  persisted?(): Promise<boolean>;
  persist?(): Promise<boolean>;
  getDirectory?(): Promise<OpfsDirectory>;
}

/** The part of navigator.locks the store uses. */
export interface SaveLocks {
  request<T>(name: string, options: { mode: 'shared' | 'exclusive'; ifAvailable?: boolean }, callback: (lock: unknown) => Promise<T>): Promise<T>;
}

export interface RunStoreOptions {
  /** Where new files go: OPFS where a probe write works ('auto', the default), OPFS or nothing ('opfs'), or IndexedDB ('idb'). */
  files?: 'auto' | 'opfs' | 'idb';
  /** navigator.storage by default; null: none (no quota figures, no OPFS). */
  storage?: StorageLike | null;
  /** navigator.locks by default; null: none (the leftovers of saves cut short then wait for clearAll or the run's deletion). */
  locks?: SaveLocks | null;
}

/** What saveRun takes: the record less what the store fills in. */
export type RunInput = Omit<RunRecord, 'schema' | 'updatedAt' | 'location' | 'files'>;

export interface CheckpointInfo extends CheckpointMeta {
  bytes: number;
}

/** A run as the history list shows it: no spec, curves, metrics or bytes. */
export interface RunEntry {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  status: RunRecordStatus;
  summary: RunRecord['summary'];
  files: StoredFile[];
  /** The files' bytes in all. */
  bytes: number;
  checkpoint: CheckpointInfo | null;
}

export type ResumableRun = RunEntry & { checkpoint: CheckpointInfo };

/** A record this app cannot read: written by a newer version, or damaged. The page may offer to delete it. */
export interface UnreadableRecord {
  kind: 'run' | 'checkpoint';
  /** The run's id, or '' when the record has none. */
  id: string;
  error: NewerSchemaError | InvalidRecordError;
}

export interface RunListing {
  /** Newest first (by createdAt). */
  runs: RunEntry[];
  unreadable: UnreadableRecord[];
}

export interface Checkpoint {
  meta: CheckpointMeta;
  files: Map<string, Uint8Array>;
}

export interface StorageUsage {
  /** navigator.storage.estimate() for the whole site; null where the browser does not say. */
  usage: number | null;
  quota: number | null;
  /** navigator.storage.persisted(): whether the browser may evict the site's data; null where it does not say. */
  persisted: boolean | null;
  /** The bytes of the files of the runs and checkpoints this store lists. */
  storeBytes: number;
  /** Where new files go. */
  backend: FileBackendKind;
}

const SAVE_LOCK = 'd2lora-run-store-save';
const RUN_ADVICE = 'Delete runs in the history, or save runs without the merged checkpoint (model.safetensors)';
const CHECKPOINT_ADVICE = 'Delete runs in the history to make room for the resume point';

type CommitTransaction = IDBPTransaction<StoreDB, ('runs' | 'checkpoints' | 'pending')[], 'readwrite'>;

/** Opens the run history, migrating the database from an older app version, and removes the leftovers of saves cut short. */
export async function openRunStore(options: RunStoreOptions = {}): Promise<RunStore> {
  const storage = options.storage === undefined ? (globalThis.navigator?.storage ?? null) : options.storage;
  const locks = options.locks === undefined ? (globalThis.navigator?.locks ?? null) : options.locks;
  const files = options.files ?? 'auto';
  // Opened even when new files go to IndexedDB: runs saved before may be in OPFS.
  const opfs = await openOpfsFileStore(storage?.getDirectory?.bind(storage)).catch((e: unknown) => {
    if (files !== 'opfs') return null;
    throw new Error(`the origin private file system is not usable here: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  });
  const store = new RunStore(await openDatabase(), opfs, files !== 'idb', storage, locks);
  await store.removeLeftovers();
  return store;
}

export class RunStore {
  /** Why the database connection is gone; null while it is open. */
  private closedBecause: string | null = null;
  private readonly idb: IdbFileStore;
  /** Where new files go. */
  private readonly writeTo: FileStore;

  /** Use openRunStore(). */
  constructor(
    private readonly database: StoreDatabase,
    private readonly opfs: OpfsFileStore | null,
    /** New files go to OPFS when there is one. */
    preferOpfs: boolean,
    private readonly storage: StorageLike | null,
    private readonly locks: SaveLocks | null,
  ) {
    this.idb = new IdbFileStore(() => this.db());
    this.writeTo = preferOpfs && opfs !== null ? opfs : this.idb;
    // Another tab opening a newer database version waits until every connection closes.
    database.addEventListener('versionchange', () => {
      database.close();
      this.closedBecause ??= 'another tab (a newer version of the app) is upgrading or deleting the run history: reload this page';
    });
    database.addEventListener('close', () => {
      this.closedBecause ??= 'the browser closed the run history (was the site data cleared?): reload this page';
    });
  }

  /** Every run, newest first, with its checkpoint's metadata; the records this app cannot read are listed apart. */
  async listRuns(): Promise<RunListing> {
    const tx = this.db().transaction(['runs', 'checkpoints'], 'readonly');
    const [rawRuns, rawCheckpoints] = await inTransaction(tx, () => Promise.all([tx.objectStore('runs').getAll(), tx.objectStore('checkpoints').getAll()]));
    const unreadable: UnreadableRecord[] = [];
    const checkpoints = new Map<string, CheckpointRecord>();
    for (const raw of rawCheckpoints) {
      const read = readOrError(() => readCheckpointRecord(raw));
      if (read instanceof Error) unreadable.push({ kind: 'checkpoint', id: stringField(raw, 'runId'), error: read });
      else checkpoints.set(read.runId, read);
    }
    const runs: RunEntry[] = [];
    const migrated: RunRecord[] = [];
    for (const raw of rawRuns) {
      const read = readOrError(() => readRunRecord(raw));
      if (read instanceof Error) {
        unreadable.push({ kind: 'run', id: stringField(raw, 'id'), error: read });
        continue;
      }
      if (read.migrated) migrated.push(read.record);
      runs.push(entryOf(read.record, checkpoints.get(read.record.id)));
    }
    await this.writeBack(migrated);
    runs.sort(newestFirst);
    return { runs, unreadable };
  }

  /** The run's whole record (no file bytes), or null when the history holds no such run. */
  async getRun(id: string): Promise<RunRecord | null> {
    const raw = await this.db().get('runs', id);
    if (raw === undefined) return null;
    const { record, migrated } = readRunRecord(raw);
    if (migrated) await this.writeBack([record]);
    return record;
  }

  /**
   * Saves the run with these files (its output folder; the merged model.safetensors is the
   * caller's choice), replacing the run of the same id, its files, and, unless the status is
   * 'interrupted', its checkpoint. Save a run with status 'interrupted' when its training
   * starts, so that a tab closed mid-run leaves it so. Out of space: a StorageFullError, and the
   * run stays as it was.
   */
  async saveRun(run: RunInput, files: ReadonlyMap<string, Uint8Array>): Promise<RunRecord> {
    const location = this.newLocation('out');
    const record = checkRunRecord({ ...run, schema: RECORD_SCHEMA, updatedAt: now(), location, files: await describeFiles(files) });
    const failure = { what: describeStoredRun(record), advice: RUN_ADVICE };
    await this.save(record.id, location, files, failure, async (tx) => {
      const replaced: FileLocation[] = [];
      const previous = readableOrNull(readRunRecord, await tx.objectStore('runs').get(record.id));
      if (previous !== null) replaced.push(previous.record.location);
      await tx.objectStore('runs').put(record);
      if (record.status !== 'interrupted') {
        const checkpoint = readableOrNull(readCheckpointRecord, await tx.objectStore('checkpoints').get(record.id));
        if (checkpoint !== null) replaced.push(checkpoint.location);
        await tx.objectStore('checkpoints').delete(record.id);
      }
      return replaced;
    });
    return record;
  }

  /** Renames the run (the name is trimmed; 1 to 200 characters). */
  async renameRun(id: string, name: string): Promise<RunRecord> {
    const tx = this.db().transaction('runs', 'readwrite');
    return inTransaction(tx, async () => {
      const raw = await tx.store.get(id);
      if (raw === undefined) throw new UnknownRunError(id);
      const renamed = checkRunRecord({ ...readRunRecord(raw).record, name: name.trim(), updatedAt: now() });
      await tx.store.put(renamed);
      return renamed;
    });
  }

  /** Deletes the run, its files and its checkpoint; nothing happens for an id the history does not hold. */
  async deleteRun(id: string): Promise<void> {
    // Files first (see the top of the file); every folder of the run, named by a record or not.
    await this.idb.removeRun(id);
    await this.opfs?.removeRun(id);
    const tx = this.db().transaction(['runs', 'checkpoints', 'pending'], 'readwrite');
    await inTransaction(tx, async () => {
      await tx.objectStore('runs').delete(id);
      await tx.objectStore('checkpoints').delete(id);
      await tx.objectStore('pending').delete(IDBKeyRange.bound([id], [id, []]));
    });
  }

  /** The run's files by name (all of them by default), checked against their saved sizes and sha256. */
  async readFiles(id: string, names?: readonly string[]): Promise<Map<string, Uint8Array>> {
    const run = await this.getRun(id);
    if (run === null) throw new UnknownRunError(id);
    const wanted = names === undefined ? run.files : names.map((name) => {
      const file = run.files.find((f) => f.name === name);
      if (file === undefined) throw new RangeError(`${describeStoredRun(run)} has no file ${name}; it has ${run.files.map((f) => f.name).join(', ') || 'none'}`);
      return file;
    });
    return this.readStored(describeStoredRun(run), id, run.location, wanted);
  }

  /**
   * Saves the run's checkpoint, replacing its previous one only once every file is written. The
   * run must be in the history with status 'interrupted'. Out of space: a StorageFullError, and
   * the previous checkpoint stays.
   */
  async saveCheckpoint(runId: string, files: ReadonlyMap<string, Uint8Array>, meta: CheckpointMeta): Promise<CheckpointRecord> {
    // Checked before any byte is written, and again as it commits.
    const run = await this.getRun(runId);
    if (run === null) throw new UnknownRunError(runId);
    checkResumable(run);
    const location = this.newLocation('ckpt');
    const record = checkCheckpointRecord({ schema: RECORD_SCHEMA, runId, meta, location, files: await describeFiles(files) });
    const failure = { what: `the checkpoint of ${describeStoredRun(run)} at step ${meta.step} of ${meta.totalSteps}`, advice: CHECKPOINT_ADVICE };
    await this.save(runId, location, files, failure, async (tx) => {
      const raw = await tx.objectStore('runs').get(runId);
      if (raw === undefined) throw new UnknownRunError(runId);
      checkResumable(readRunRecord(raw).record);
      const previous = readableOrNull(readCheckpointRecord, await tx.objectStore('checkpoints').get(runId));
      await tx.objectStore('checkpoints').put(record);
      return previous === null ? [] : [previous.location];
    });
    return record;
  }

  /** The run's checkpoint, its files checked; null when it has none. */
  async loadCheckpoint(runId: string): Promise<Checkpoint | null> {
    const raw = await this.db().get('checkpoints', runId);
    if (raw === undefined) return null;
    const checkpoint = readCheckpointRecord(raw);
    const files = await this.readStored(`the checkpoint of run ${runId}`, runId, checkpoint.location, checkpoint.files);
    return { meta: checkpoint.meta, files };
  }

  /** Deletes the run's checkpoint (the run stays); nothing happens when it has none. */
  async deleteCheckpoint(runId: string): Promise<void> {
    const tx = this.db().transaction(['checkpoints', 'pending'], 'readwrite');
    const entry = await inTransaction(tx, async () => {
      const previous = readableOrNull(readCheckpointRecord, await tx.objectStore('checkpoints').get(runId));
      await tx.objectStore('checkpoints').delete(runId);
      if (previous === null) return null;
      const journaled = pendingEntry(runId, previous.location);
      await tx.objectStore('pending').put(journaled);
      return journaled;
    });
    if (entry !== null) await this.discard([entry]);
  }

  /** The runs a page can offer to resume: status 'interrupted', with a checkpoint. Newest first. */
  async interruptedRuns(): Promise<ResumableRun[]> {
    return (await this.listRuns()).runs.filter((r): r is ResumableRun => r.status === 'interrupted' && r.checkpoint !== null);
  }

  /** The browser's figures for the site, and the bytes this history holds. */
  async storageUsage(): Promise<StorageUsage> {
    const [{ runs }, estimate, persisted] = await Promise.all([this.listRuns(), this.estimate(), this.persisted()]);
    const storeBytes = runs.reduce((n, r) => n + r.bytes + (r.checkpoint?.bytes ?? 0), 0);
    return { ...estimate, persisted, storeBytes, backend: this.writeTo.kind };
  }

  /** navigator.storage.persist(): asks the browser not to evict the site's data. Null where it cannot be asked. */
  async requestPersistence(): Promise<boolean | null> {
    return (await this.storage?.persist?.()) ?? null;
  }

  /** Deletes every run, file and checkpoint of the history. */
  async clearAll(): Promise<void> {
    await this.idb.removeAll();
    await this.opfs?.removeAll();
    const tx = this.db().transaction(['runs', 'checkpoints', 'pending'], 'readwrite');
    await inTransaction(tx, async () => {
      await tx.objectStore('runs').clear();
      await tx.objectStore('checkpoints').clear();
      await tx.objectStore('pending').clear();
    });
  }

  /**
   * Removes the folders of saves cut short, once no save is in flight in any tab or worker.
   * openRunStore calls it; without Web Locks (locks null) a save in flight elsewhere cannot be
   * told from one cut short, so nothing is removed.
   */
  async removeLeftovers(): Promise<void> {
    await this.locks?.request(SAVE_LOCK, { mode: 'exclusive', ifAvailable: true }, async (lock) => {
      if (lock !== null) await this.discard(await this.db().getAll('pending'));
    });
  }

  /** Closes the database connection; every later call throws a StoreClosedError. */
  close(): void {
    this.closedBecause ??= 'the run store was closed';
    this.database.close();
  }

  // -------------------------------------------------------------------------------------------

  private db(): StoreDatabase {
    if (this.closedBecause !== null) throw new StoreClosedError(this.closedBecause);
    return this.database;
  }

  private newLocation(prefix: 'out' | 'ckpt'): FileLocation {
    return { backend: this.writeTo.kind, folder: `${prefix}-${crypto.randomUUID()}` };
  }

  private files(kind: FileBackendKind): FileStore | null {
    return kind === 'idb' ? this.idb : this.opfs;
  }

  /**
   * The one way files are saved: journal the fresh folder, write the files into it, then
   * `commit` the record in one transaction (it returns the locations it replaced, which are
   * journaled and removed after). Any failure removes the folder; out of space becomes a
   * StorageFullError.
   */
  private async save(
    runId: string,
    location: FileLocation,
    files: ReadonlyMap<string, Uint8Array>,
    failure: { what: string; advice: string },
    commit: (tx: CommitTransaction) => Promise<FileLocation[]>,
  ): Promise<void> {
    const entry = pendingEntry(runId, location);
    const replaced = await this.holdingSaveLock(async () => {
      try {
        await this.db().put('pending', entry);
        await this.writeTo.write(runId, location.folder, files);
        const tx = this.db().transaction(['runs', 'checkpoints', 'pending'], 'readwrite');
        return await inTransaction(tx, async () => {
          const journaled = (await commit(tx)).map((l) => pendingEntry(runId, l));
          await tx.objectStore('pending').delete([runId, location.folder]);
          for (const e of journaled) await tx.objectStore('pending').put(e);
          return journaled;
        });
      } catch (e) {
        await this.discard([entry]);
        if (!isQuotaError(e)) throw e;
        const { usage, quota } = await this.estimate();
        throw new StorageFullError(failure.what, sumOf([...files.values()].map((b) => b.length)), usage, quota, failure.advice, { cause: e });
      }
    });
    await this.discard(replaced);
  }

  private holdingSaveLock<T>(body: () => Promise<T>): Promise<T> {
    return this.locks === null ? body() : this.locks.request(SAVE_LOCK, { mode: 'shared' }, () => body());
  }

  /**
   * Removes journaled folders, then their journal entries. Never throws: what cannot be removed
   * now stays journaled, and removeLeftovers tries again (removing a folder twice is harmless).
   */
  private async discard(entries: readonly PendingFolder[]): Promise<void> {
    const removed: PendingFolder[] = [];
    for (const e of entries) {
      const files = this.files(e.backend);
      if (files === null) continue; // OPFS is not available here: stays journaled
      try {
        await files.removeFolder(e.runId, e.folder);
        removed.push(e);
      } catch {
        // Stays journaled (see above).
      }
    }
    if (removed.length === 0) return;
    try {
      const tx = this.db().transaction('pending', 'readwrite');
      await inTransaction(tx, async () => {
        for (const e of removed) await tx.store.delete([e.runId, e.folder]);
      });
    } catch {
      // Stays journaled (see above).
    }
  }

  private async readStored(what: string, runId: string, location: FileLocation, files: readonly StoredFile[]): Promise<Map<string, Uint8Array>> {
    const backend = this.files(location.backend);
    const read = new Map<string, Uint8Array>();
    for (const f of files) {
      if (backend === null) throw new StoredFileError(what, f.name, 'is in the origin private file system, which this browser does not offer here (a private window?)');
      const bytes = await backend.read(runId, location.folder, f.name);
      if (bytes === null) throw new StoredFileError(what, f.name, "is missing from the browser's storage (was part of the site's data cleared?)");
      if (bytes.length !== f.size) throw new StoredFileError(what, f.name, `holds ${bytes.length} bytes where ${f.size} were saved`);
      if (f.sha256 !== undefined && (await sha256Hex(bytes)) !== f.sha256) throw new StoredFileError(what, f.name, 'does not hold the bytes that were saved (its sha256 differs)');
      read.set(f.name, bytes);
    }
    return read;
  }

  /** Writes records migrated on reading back, over the older records they came from only. */
  private async writeBack(records: readonly RunRecord[]): Promise<void> {
    if (records.length === 0) return;
    const tx = this.db().transaction('runs', 'readwrite');
    try {
      await inTransaction(tx, async () => {
        for (const r of records) if (isOlderRecord(await tx.store.get(r.id))) await tx.store.put(r);
      });
    } catch (e) {
      // Out of space: the records stay at their schema and are migrated again when next read.
      if (!isQuotaError(e)) throw e;
    }
  }

  /** navigator.storage.estimate()'s figures; null where it is missing or fails (an opaque origin, say). */
  private async estimate(): Promise<{ usage: number | null; quota: number | null }> {
    const e = await Promise.resolve(this.storage?.estimate?.()).catch(() => undefined);
    return { usage: e?.usage ?? null, quota: e?.quota ?? null };
  }

  private async persisted(): Promise<boolean | null> {
    return (await Promise.resolve(this.storage?.persisted?.()).catch(() => undefined)) ?? null;
  }
}

function checkResumable(run: RunRecord): void {
  if (run.status !== 'interrupted') {
    throw new Error(`${describeStoredRun(run)} is ${run.status}: only an interrupted run keeps a checkpoint (save it with status 'interrupted' when its training starts)`);
  }
}

async function describeFiles(files: ReadonlyMap<string, Uint8Array>): Promise<StoredFile[]> {
  return Promise.all([...files].map(async ([name, bytes]) => ({ name, size: bytes.length, sha256: await sha256Hex(bytes) })));
}

function entryOf(run: RunRecord, checkpoint: CheckpointRecord | undefined): RunEntry {
  const { id, name, createdAt, updatedAt, status, summary, files } = run;
  const bytes = sumOf(files.map((f) => f.size));
  return { id, name, createdAt, updatedAt, status, summary, files, bytes, checkpoint: checkpoint === undefined ? null : { ...checkpoint.meta, bytes: sumOf(checkpoint.files.map((f) => f.size)) } };
}

/** By createdAt, then id; toISOString()'s strings sort as the times do (record.ts checks the form). */
function newestFirst(a: RunEntry, b: RunEntry): number {
  const [x, y] = a.createdAt === b.createdAt ? [a.id, b.id] : [a.createdAt, b.createdAt];
  return x < y ? 1 : x > y ? -1 : 0;
}

function pendingEntry(runId: string, location: FileLocation): PendingFolder {
  return { runId, folder: location.folder, backend: location.backend, since: now() };
}

/** The read record, or the reason this app cannot read it; other errors are thrown. */
function readOrError<T>(read: () => T): T | NewerSchemaError | InvalidRecordError {
  try {
    return read();
  } catch (e) {
    if (e instanceof NewerSchemaError || e instanceof InvalidRecordError) return e;
    throw e;
  }
}

/**
 * The record being replaced, when this app can read it; otherwise null, and its files (in a
 * folder it cannot name) stay until the run is deleted.
 */
function readableOrNull<T>(read: (raw: unknown) => T, raw: unknown): T | null {
  if (raw === undefined) return null;
  const r = readOrError(() => read(raw));
  return r instanceof Error ? null : r;
}

function stringField(raw: unknown, key: string): string {
  const v = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v : '';
}

function sumOf(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function now(): string {
  return new Date().toISOString();
}
