// The history's runs, newest first: each run's name, what it ran (method, model, task), how it
// ended (an interrupted run with the step it reached and the step it can go on from) and when it
// started, its accuracies before → after, merge gap and training time; a box to pick it for Compare; and
// Rename (in place), Export (its zip) and Delete (after a confirmation). The run going on now
// shows as running and keeps its name and record until it ends: its recorder saves both.

import { useEffect, useId, useRef, useState } from 'react';
import { MAX_COMPARED, useCompareRuns } from '../../state/compare-runs';
import { useHistory } from '../../state/history';
import { useRun } from '../../state/run';
import type { RunEntry } from '../../store/store';
import { formatCount, formatDuration } from '../format';
import { accuracyText, dateText, mergeGapText, STATUS_BADGE, stepsText, type ShownStatus } from './figures';
import styles from './History.module.css';

/** The longest name the store keeps. */
const MAX_NAME = 200;

/** The run the page is running now (its record's id), while it runs. */
function useActiveRun(): { id: string | null; status: 'running' | 'paused' | null } {
  const id = useRun((s) => s.recordId);
  const status = useRun((s) => s.status);
  const active = status === 'starting' || status === 'running' ? 'running' : status === 'paused' ? 'paused' : null;
  return { id: active === null ? null : id, status: active };
}

export function RunList({ runs }: { runs: readonly RunEntry[] }) {
  const active = useActiveRun();
  const selected = useCompareRuns((s) => s.selected);
  const full = selected.length >= MAX_COMPARED;
  return (
    <div className="table-scroll">
      <table className={styles.runs} data-testid="history-list">
        <thead>
          <tr>
            <th scope="col" className={styles.pickCol}>
              Compare
            </th>
            <th scope="col">Run</th>
            <th scope="col" className="num">
              Accuracy
            </th>
            <th scope="col" className="num">
              Merge gap
            </th>
            <th scope="col" className="num">
              Training time
            </th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <RunRow
              key={run.id}
              run={run}
              status={run.id === active.id ? active.status! : run.status}
              picked={selected.some((p) => p.id === run.id)}
              colour={selected.find((p) => p.id === run.id)?.colour ?? null}
              canPick={!full}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The run going on, as it goes (its record is saved only at its checkpoints): steps done and training time. */
function useLiveSummary(run: RunEntry, going: boolean): RunEntry['summary'] {
  const done = useRun((s) => (going ? s.steps.length : null));
  const total = useRun((s) => (going ? (s.tokenized?.totalSteps ?? null) : null));
  const elapsed = useRun((s) => (going ? (s.progress?.elapsedMs ?? null) : null));
  if (!going) return run.summary;
  return { ...run.summary, stepsDone: done ?? run.summary.stepsDone, totalSteps: total ?? run.summary.totalSteps, durationMs: elapsed ?? run.summary.durationMs };
}

function RunRow({ run, status, picked, colour, canPick }: { run: RunEntry; status: ShownStatus; picked: boolean; colour: number | null; canPick: boolean }) {
  const [mode, setMode] = useState<'view' | 'rename' | 'delete'>('view');
  /** The button that opened the form just closed, which takes the focus back. */
  const [returnTo, setReturnTo] = useState<'rename' | 'delete' | null>(null);
  const close = (from: 'rename' | 'delete') => {
    setReturnTo(from);
    setMode('view');
  };
  const pick = useCompareRuns((s) => s.pick);
  const going = status === 'running' || status === 'paused';
  const s = useLiveSummary(run, going);
  // What it ran, under its name once renamed (the name it starts with says as much).
  const ranText = `${s.method} · ${s.model} · ${s.task}`;
  return (
    <tr data-testid="history-run" data-run-id={run.id} data-status={status} className={picked ? styles.picked : undefined}>
      <td className={styles.pickCol}>
        <input
          type="checkbox"
          className={styles.pick}
          checked={picked}
          disabled={!picked && !canPick}
          onChange={(e) => pick(run, e.currentTarget.checked)}
          aria-label={`Compare ${run.name}`}
          aria-describedby={!picked && !canPick ? 'history-compare-full' : undefined}
          title={!picked && !canPick ? `Compare takes ${MAX_COMPARED} runs at most` : undefined}
          data-testid="history-pick"
        />
        {colour !== null && <span className={`${styles.swatch} ${styles[`series${colour}`]}`} aria-hidden="true" />}
      </td>
      <td className={styles.runCell}>
        {mode === 'rename' ? (
          <RenameForm run={run} onDone={() => close('rename')} />
        ) : (
          <div className={styles.name} data-testid="history-name">
            {run.name}
          </div>
        )}
        {!run.name.startsWith(ranText) && <div className={styles.meta}>{ranText}</div>}
        <div className={styles.meta}>
          <span className={`badge ${STATUS_BADGE[status]} ${styles.status}`} data-testid="history-status">
            {status}
          </span>{' '}
          <span data-testid="history-steps">{stepsText(s)}</span>
          {status === 'interrupted' && run.checkpoint !== null && (
            <span data-testid="history-checkpoint"> · can go on from step {formatCount(run.checkpoint.step)}</span>
          )}
          {' · '}
          <time dateTime={run.createdAt}>{dateText(run.createdAt)}</time>
        </div>
      </td>
      <td className="num" data-testid="history-accuracy">
        {accuracyText(s.accuracyBefore)} → {accuracyText(s.accuracyAfter)}
      </td>
      <td className="num" data-testid="history-merge-gap">
        {mergeGapText(s.mergeGapPoints)}
      </td>
      <td className="num" data-testid="history-duration">
        {formatDuration(s.durationMs)}
      </td>
      <td className={styles.actions}>
        {mode === 'rename' ? null : mode === 'delete' ? (
          <ConfirmDelete run={run} onDone={() => close('delete')} />
        ) : (
          <RowActions run={run} going={going} onRename={() => setMode('rename')} onDelete={() => setMode('delete')} focus={returnTo} />
        )}
      </td>
    </tr>
  );
}

function RowActions({ run, going, onRename, onDelete, focus }: { run: RunEntry; going: boolean; onRename(): void; onDelete(): void; focus: 'rename' | 'delete' | null }) {
  const busy = useHistory((s) => s.busy);
  const renameButton = useRef<HTMLButtonElement>(null);
  const deleteButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (focus !== null) (focus === 'rename' ? renameButton : deleteButton).current?.focus();
  }, [focus]);
  const exportZip = useHistory((s) => s.exportZip);
  const [exporting, setExporting] = useState(false);
  const waitNote = going ? 'The run is going on: rename and delete it once it ends.' : undefined;
  const exportNote = run.files.length === 0 ? 'Only a finished run has an output folder to export.' : undefined;
  return (
    <div className={styles.buttons}>
      <button ref={renameButton} type="button" onClick={onRename} disabled={going} title={waitNote} aria-label={`Rename ${run.name}`} data-testid="history-rename">
        Rename
      </button>
      <button
        type="button"
        onClick={() => {
          setExporting(true);
          void exportZip(run.id).finally(() => setExporting(false));
        }}
        disabled={run.files.length === 0 || busy !== null}
        title={exportNote}
        aria-label={`Export ${run.name} as a zip`}
        data-testid="history-export"
      >
        {exporting ? 'Preparing…' : 'Export'}
      </button>
      <button ref={deleteButton} type="button" onClick={onDelete} disabled={going} title={waitNote} aria-label={`Delete ${run.name}`} data-testid="history-delete">
        Delete
      </button>
    </div>
  );
}

function RenameForm({ run, onDone }: { run: RunEntry; onDone(): void }) {
  const rename = useHistory((s) => s.rename);
  const [draft, setDraft] = useState(run.name);
  const input = useRef<HTMLInputElement>(null);
  const id = useId();
  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);
  const name = draft.trim();
  const save = () => {
    if (name === '' || name === run.name) return onDone();
    void rename(run.id, name).then(onDone);
  };
  return (
    <form
      className={styles.rename}
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <label htmlFor={id} className="visually-hidden">
        New name for {run.name}
      </label>
      <input
        ref={input}
        id={id}
        value={draft}
        maxLength={MAX_NAME}
        onChange={(e) => setDraft(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onDone();
        }}
        aria-invalid={name === ''}
        data-testid="history-rename-input"
      />
      <button type="submit" disabled={name === ''} data-testid="history-rename-save">
        Save
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}

function ConfirmDelete({ run, onDone }: { run: RunEntry; onDone(): void }) {
  const remove = useHistory((s) => s.remove);
  const keep = useRef<HTMLButtonElement>(null);
  useEffect(() => keep.current?.focus(), []);
  return (
    <div className={styles.confirm} role="group" aria-label={`Delete ${run.name}?`}>
      <span>Delete it and its files?</span>
      <div className={styles.buttons}>
        <button type="button" className={styles.danger} onClick={() => void remove(run.id)} data-testid="history-delete-confirm">
          Delete
        </button>
        <button ref={keep} type="button" onClick={onDone}>
          Keep
        </button>
      </div>
    </div>
  );
}
