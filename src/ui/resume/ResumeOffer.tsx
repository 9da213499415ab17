// The resume offer, above the setup when no run is under way: the runs that stopped before they
// finished and kept a checkpoint — after a reload, a crash, a closed tab, a lost GPU or a
// divergence — each with what it is (name, method, model, task), where it stopped (step k of N,
// when, why when known), and Resume (a diverged run: with the settings its divergence suggested,
// since with its own it would diverge again, bit for bit) or Discard. Discard keeps the run in
// the history, marked cancelled with its curves, and deletes its checkpoint. A run that read the
// user's own files waits for them to be picked again; one that another tab is training now is
// shown as such, without actions.

import { useEffect, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { RunRecord } from '../../store/record';
import type { ResumableRun } from '../../store/store';
import { useForm } from '../../state/form';
import { runStore, useHistory } from '../../state/history';
import { localFilesMissing, recordedChange, runsUnderWay, useRun } from '../../state/run';
import { useSystem } from '../../state/system';
import { describeChange } from '../train/describe';
import { formatSavedAt } from '../train/saved';
import styles from './ResumeOffer.module.css';

interface Offered {
  entry: ResumableRun;
  /** The whole record (spec, why it stopped); null until read. */
  record: RunRecord | null;
  /** Another tab is training it now. */
  elsewhere: boolean;
}

/** The interrupted runs with their records, and which of them another tab is training. */
function useOffered(): Offered[] {
  const interrupted = useHistory((s) => s.interrupted);
  const [records, setRecords] = useState<Map<string, RunRecord>>(new Map());
  const [elsewhere, setElsewhere] = useState<Set<string>>(new Set());
  useEffect(() => {
    let stale = false;
    void (async () => {
      const store = await runStore().catch(() => null);
      if (store === null) return;
      const read = await Promise.all(interrupted.map((r) => store.getRun(r.id).catch(() => null)));
      const held = await runsUnderWay();
      if (stale) return;
      setRecords(new Map(read.filter((r) => r !== null).map((r) => [r.id, r])));
      setElsewhere(held);
    })();
    return () => {
      stale = true;
    };
  }, [interrupted]);
  return interrupted.map((entry) => ({ entry, record: records.get(entry.id) ?? null, elsewhere: elsewhere.has(entry.id) }));
}

export function ResumeOffer() {
  const status = useRun((s) => s.status);
  const offered = useOffered();
  useEffect(() => {
    const refresh = () => void useHistory.getState().refresh();
    refresh();
    // Another tab may have finished (or started) a run meanwhile.
    addEventListener('focus', refresh);
    return () => removeEventListener('focus', refresh);
  }, []);
  const underWay = status === 'starting' || status === 'running' || status === 'paused';
  if (underWay || offered.length === 0) return null;
  return (
    <section className={`panel ${styles.offer}`} aria-labelledby="resume-heading" data-testid="resume-offer">
      <h2 id="resume-heading">{offered.length === 1 ? 'A run to resume' : `${offered.length} runs to resume`}</h2>
      <p className={styles.lead}>
        {offered.length === 1 ? 'This run stopped' : 'These runs stopped'} before finishing and kept a checkpoint. Resumed, a run ends exactly as it would have without the stop.
      </p>
      <ul className={styles.runs}>
        {offered.map((o) => (
          <OfferedRun key={o.entry.id} offered={o} />
        ))}
      </ul>
    </section>
  );
}

function OfferedRun({ offered: { entry, record, elsewhere } }: { offered: Offered }) {
  const form = useForm(useShallow((s) => ({ spec: s.spec, modelFiles: s.modelFiles, taskFiles: s.taskFiles })));
  const replace = useForm((s) => s.replace);
  const resumeStored = useRun((s) => s.resumeStored);
  const discard = useHistory((s) => s.discard);
  const gpuReady = useSystem((s) => s.webgpu === 'ready');
  const [confirming, setConfirming] = useState(false);
  const { step, totalSteps, savedAt } = entry.checkpoint;
  const change = record === null ? null : recordedChange(record);
  const missing = record === null ? [] : localFilesMissing(record.spec, form);
  const why = record?.result?.stopped;
  const headingId = `resume-run-${entry.id}`;
  const summary = `${entry.summary.method} · ${entry.summary.model} · ${entry.summary.task}`;
  const resume = () => {
    void resumeStored(entry.id, change ?? undefined);
    document.getElementById('train-heading')?.scrollIntoView({ block: 'start' });
  };
  return (
    <li className={styles.run} aria-labelledby={headingId} data-testid="resume-run" data-run-id={entry.id}>
      <p className={styles.what}>
        <strong id={headingId}>{entry.name}</strong>
        {/* A run not renamed is named by this line already. */}
        {summary !== entry.name && <span className="muted">{summary}</span>}
      </p>
      <p className={styles.where} data-testid="resume-where">
        Stopped at <strong>step {step} of {totalSteps}</strong>, saved {formatSavedAt(savedAt)}.
      </p>
      <p className={styles.why} data-testid="resume-why">
        {typeof why === 'string' ? `Why: ${why.charAt(0).toLowerCase()}${why.slice(1)}` : 'The page was closed, reloaded or crashed while it trained.'}
      </p>
      {change !== null && (
        <p className={styles.why}>
          With its own settings it would diverge again at the same step; it goes on with <strong>{describeChange(change)}</strong>, as its divergence suggested.
        </p>
      )}
      {elsewhere && (
        <p className="note" role="note" data-testid="resume-elsewhere">
          Another tab of this page is training this run now; it can be resumed here once that tab has stopped.
        </p>
      )}
      {!elsewhere && missing.length > 0 && (
        <div className={`note ${styles.files}`} role="note" data-testid="resume-files">
          <p>
            This run read files of your own, which the page cannot keep: pick {missing.join(' and ')} again (in Model and Task). Resume waits for them.
          </p>
          <button type="button" onClick={() => record !== null && replace(record.spec as unknown as Record<string, unknown>)} data-testid="resume-load-setup">
            Put its setup in the form
          </button>
        </div>
      )}
      {!elsewhere && (
        <div className={styles.actions}>
          <button type="button" className="primary" onClick={resume} disabled={record === null || missing.length > 0 || !gpuReady} data-testid="resume-go">
            {change === null ? `Resume from step ${step}` : `Resume from step ${step} with ${describeChange(change)}`}
          </button>
          {confirming ? (
            <span className={styles.confirm} role="group" aria-label="Discard this run?">
              <span>Discard its checkpoint? The run stays in the history as cancelled.</span>
              <button type="button" onClick={() => void discard(entry.id)} data-testid="resume-discard-confirm">
                Discard
              </button>
              <button type="button" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </span>
          ) : (
            <button type="button" onClick={() => setConfirming(true)} data-testid="resume-discard">
              Discard
            </button>
          )}
        </div>
      )}
    </li>
  );
}
