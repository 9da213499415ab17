// "History": every run the page started, kept in the browser's storage (src/state/history.ts over
// src/store/), newest first, with Rename, Export and Delete each; Import a run's zip (from this
// profile or another), Clear all; how much storage the runs take and whether the browser keeps
// them when space is short; the history's two settings; what went wrong with the storage and what
// to do; records this version cannot read. Runs picked in the list are compared below it
// (HistoryCompare). The list follows useHistory: it is read when the section mounts and again
// after every save of the run going on (its recorder refreshes the history).

import { useEffect, useRef, useState } from 'react';
import { MAX_COMPARED, useCompareRuns } from '../../state/compare-runs';
import { useHistory } from '../../state/history';
import { useRun } from '../../state/run';
import { HistoryCompare } from './HistoryCompare';
import styles from './History.module.css';
import { RunList } from './RunList';
import { HistorySettings, StorageUse } from './StorageUse';

export function HistorySection() {
  const available = useHistory((s) => s.available);
  const runs = useHistory((s) => s.runs);
  const refresh = useHistory((s) => s.refresh);
  const sync = useCompareRuns((s) => s.sync);
  const picked = useCompareRuns((s) => s.selected.length);

  useEffect(() => void refresh(), [refresh]);
  useEffect(() => sync(runs), [runs, sync]);

  return (
    <section className={`panel ${styles.section}`} aria-labelledby="history-heading" data-testid="history">
      <div className="panel-head">
        <h2 id="history-heading">History</h2>
        {available === true && <Toolbar count={runs.length} />}
      </div>
      <HistoryError />
      {available === null ? (
        <p className={styles.empty}>Reading the run history…</p>
      ) : available === false ? null : (
        <>
          {runs.length === 0 ? (
            <p className={styles.empty} data-testid="history-empty">
              No runs yet. Every run you start is kept here as it goes — its settings, curves, results and output folder — so you can compare
              runs, export them, and go on with one that was interrupted.
            </p>
          ) : (
            <>
              <p className={styles.hint} id="history-compare-full">
                {picked === 0
                  ? 'Tick runs to compare their loss curves and settings.'
                  : picked >= MAX_COMPARED
                    ? `Compare takes ${MAX_COMPARED} runs at most: untick one to pick another.`
                    : `${picked} picked for Compare, below.`}
              </p>
              <RunList runs={runs} />
            </>
          )}
          <Unreadable />
          {picked > 0 && <HistoryCompare />}
          <div className={styles.footer}>
            <h3 className={styles.subhead}>Storage and settings</h3>
            <StorageUse />
            <HistorySettings />
          </div>
        </>
      )}
    </section>
  );
}

/** Import a run's zip; Clear all, after a confirmation. */
function Toolbar({ count }: { count: number }) {
  const busy = useHistory((s) => s.busy);
  const importZip = useHistory((s) => s.importZip);
  const clearAll = useHistory((s) => s.clearAll);
  const running = useRun((s) => s.status === 'starting' || s.status === 'running' || s.status === 'paused');
  const [confirming, setConfirming] = useState(false);
  const keep = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming) keep.current?.focus();
  }, [confirming]);
  return (
    <div className={styles.toolbar}>
      <label className={`file-button ${busy !== null ? styles.fileButtonBusy : ''}`}>
        {busy === 'import' ? 'Importing…' : 'Import a run (.zip)…'}
        <input
          type="file"
          accept=".zip,application/zip"
          className="visually-hidden"
          disabled={busy !== null}
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            e.currentTarget.value = '';
            if (file !== undefined) void importZip(file);
          }}
          data-testid="history-import"
        />
      </label>
      {confirming ? (
        <div className={styles.confirm} role="group" aria-label="Delete every run?">
          <span>Delete all {count} runs and their files?</span>
          <div className={styles.buttons}>
            <button
              type="button"
              className={styles.danger}
              onClick={() => {
                setConfirming(false);
                void clearAll();
              }}
              data-testid="history-clear-confirm"
            >
              Delete all
            </button>
            <button ref={keep} type="button" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </div>
        </div>
      ) : (
        <button
          type="button"
          onClick={() => setConfirming(true)}
          disabled={count === 0 || busy !== null || running}
          title={running ? 'A run is going on: clear the history once it ends.' : undefined}
          data-testid="history-clear"
        >
          Clear all…
        </button>
      )}
    </div>
  );
}

/** The last storage failure, as the store words it (what failed, why, what to do). */
function HistoryError() {
  const error = useHistory((s) => s.error);
  const available = useHistory((s) => s.available);
  const dismiss = useHistory((s) => s.dismissError);
  if (error === null) return null;
  return (
    <div className={`note ${styles.error}`} role="alert" data-testid="history-error">
      <p className="error-text">{error}</p>
      {available === false ? (
        <p className={styles.hint}>Runs still work; they are just not kept. A private window, or a browser set to keep no site data, keeps none.</p>
      ) : (
        <button type="button" onClick={dismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}

/** Records this version of the app cannot read (a newer version's, or damaged), each with why and a way to delete it. */
function Unreadable() {
  const unreadable = useHistory((s) => s.unreadable);
  const remove = useHistory((s) => s.remove);
  const removeCheckpoint = useHistory((s) => s.removeCheckpoint);
  if (unreadable.length === 0) return null;
  return (
    <div className={styles.unreadable} data-testid="history-unreadable">
      <h3>
        {unreadable.length === 1 ? 'A record' : `${unreadable.length} records`} this version cannot read
      </h3>
      <ul>
        {unreadable.map((u, i) => (
          <li key={`${u.kind}-${u.id}-${i}`}>
            <span className={styles.unreadableWhat}>
              {u.kind === 'run' ? 'Run' : 'Checkpoint of run'} <code>{u.id || '(no id)'}</code>
            </span>
            <span className="error-text">{u.error.message}</span>
            {u.id !== '' ? (
              <button
                type="button"
                onClick={() => void (u.kind === 'run' ? remove(u.id) : removeCheckpoint(u.id))}
                aria-label={u.kind === 'run' ? `Delete the unreadable run ${u.id}` : `Delete the unreadable checkpoint of run ${u.id} (the run stays)`}
              >
                Delete
              </button>
            ) : (
              <span className={styles.hint}>Clear all removes it.</span>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
