// The run history's errors. Each names the run (its name and id) or the file, says what is wrong
// and what the user can do about it, so that the page can show the message as it is; the fields
// let it offer the matching action (delete the run, update the app, free space).

import { bytesText } from '../io/read-limits';

/** The browser refused a write for lack of space (IndexedDB or OPFS: a QuotaExceededError). Nothing of the save remains. */
export class StorageFullError extends Error {
  override name = 'StorageFullError';

  constructor(
    /** What failed to save: 'run "…" (id …)', 'the checkpoint of run "…" at step 40 of 200'. */
    readonly what: string,
    /** The bytes of the save's files. */
    readonly neededBytes: number,
    /** navigator.storage.estimate() at the time of the failure; null where the browser does not say. */
    readonly usage: number | null,
    readonly quota: number | null,
    /** What the user can do, as a sentence. */
    advice: string,
    options?: ErrorOptions,
  ) {
    const used = usage !== null && quota !== null
      ? `${bytesText(usage)} of this site's ${bytesText(quota)} quota are in use`
      : 'the browser does not say how much of its quota is in use';
    super(`could not save ${what}: the browser's storage for this site is full (the save needs ${bytesText(neededBytes)}; ${used}). ${advice}.`, options);
  }
}

/** A record, or the database, written by a newer version of the app than this one. */
export class NewerSchemaError extends Error {
  override name = 'NewerSchemaError';

  constructor(
    readonly what: string,
    /** The schema (or database version) found. */
    readonly schema: number,
    /** The newest this app reads. */
    readonly known: number,
    unit: 'schema' | 'database version' = 'schema',
  ) {
    super(`${what} was saved by a newer version of the app (${unit} ${schema}; this version reads up to ${unit} ${known}): update the app (reload the page) to open it`);
  }
}

/** A record that is not what its schema says (damaged, or written by hand), or a record to save that is not valid. */
export class InvalidRecordError extends Error {
  override name = 'InvalidRecordError';

  constructor(
    readonly what: string,
    /** "summary.accuracyBefore: Too big: expected number to be <=1", one per problem. */
    readonly problems: string[],
  ) {
    super(`${what} is not a valid record: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
  }
}

/** A file that a record lists but the browser's storage does not hold as saved. */
export class StoredFileError extends Error {
  override name = 'StoredFileError';

  constructor(
    readonly what: string,
    readonly file: string,
    /** "is missing from the browser's storage", "holds 10 bytes; 12 were saved". */
    readonly problem: string,
  ) {
    super(`${what}: file ${file} ${problem}; delete the run from the history, or run it again`);
  }
}

/** A run id that the history does not hold (never saved, or deleted, perhaps in another tab). */
export class UnknownRunError extends Error {
  override name = 'UnknownRunError';

  constructor(readonly runId: string) {
    super(`the run history holds no run ${runId} (it may have been deleted in another tab)`);
  }
}

/** The store's database connection is gone: closed by close(), by a newer app in another tab, or by the browser. */
export class StoreClosedError extends Error {
  override name = 'StoreClosedError';
}

/** True for an error (a DOMException, mostly) of that name. */
export function isErrorNamed(e: unknown, name: string): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === name;
}

/** True for the browser's "out of space" error, whichever storage (IndexedDB, OPFS) raised it. */
export function isQuotaError(e: unknown): boolean {
  return isErrorNamed(e, 'QuotaExceededError');
}
