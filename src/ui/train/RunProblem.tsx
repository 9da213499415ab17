// Why the run stopped, and how to go on. A divergence (the trainer's watch: a loss that went NaN,
// stayed above that of a uniform guess, or a gradient that died) is explained with what to change,
// worded with the form's own field names: a button puts the suggested values into the setup, and,
// since the run kept its last checkpoint from before it went wrong, it can go on from there with
// them, or start over with them. A lost GPU device (or an engine worker that died) is explained as
// such, with the step up to which the run is saved and a Resume that goes on from there on a fresh
// device. Any other error is shown as the engine worded it, with its stage.

import { useState } from 'react';
import type { RunDivergence, SpecSuggestion } from '../../run/run';
import type { RunSpec } from '../../run/spec';
import { fieldLabel, useForm } from '../../state/form';
import { useHistory } from '../../state/history';
import { startFromForm } from '../../state/inspect';
import { suggestedChange, useRun } from '../../state/run';
import { formatSetting } from '../../train/trainer';
import { describeChange, STAGE_LABEL } from './describe';
import { formatSavedAt, useSavedCheckpoint } from './saved';
import styles from './TrainSection.module.css';

export function RunProblem() {
  const error = useRun((s) => s.error);
  if (error === null) return null;
  if (error.divergence !== null) return <Divergence d={error.divergence} />;
  if (error.name === 'DeviceLostError' || error.name === 'WorkerError') return <EngineLost lostDevice={error.name === 'DeviceLostError'} message={error.message} />;
  return (
    <div className={styles.problem} role="alert" data-testid="run-error">
      <p className={styles.problemHead}>{error.stage ? `${STAGE_LABEL[error.stage]} stopped the run` : 'The run stopped'}</p>
      <p className="error-text">{error.message}</p>
    </div>
  );
}

function labelOf(s: SpecSuggestion): string {
  return fieldLabel(s.path.join('.'));
}

/** The run's spec with the suggested values, as a draft for the form. */
function withSuggestions(spec: RunSpec, suggestions: readonly SpecSuggestion[]): Record<string, unknown> {
  const draft = structuredClone(spec) as unknown as Record<string, Record<string, unknown>>;
  for (const s of suggestions) draft[s.path[0]!]![s.path[1]!] = s.value;
  return draft;
}

function Divergence({ d }: { d: RunDivergence }) {
  const set = useForm((s) => s.set);
  const replace = useForm((s) => s.replace);
  const runSpec = useRun((s) => s.spec);
  const recordId = useRun((s) => s.recordId);
  const recordingEnd = useRun((s) => s.recordingEnd);
  const resumeStored = useRun((s) => s.resumeStored);
  const saved = useSavedCheckpoint();
  const [applied, setApplied] = useState<SpecSuggestion[]>([]);
  const apply = (suggestions: SpecSuggestion[]) => {
    for (const s of suggestions) set(s.path, s.value);
    setApplied(suggestions);
  };
  const startOver = () => {
    replace(withSuggestions(runSpec, d.suggestions));
    void startFromForm();
  };
  const settings = describeChange(suggestedChange(d));
  return (
    <div className={styles.problem} role="alert" data-testid="run-error">
      <p className={styles.problemHead}>The run stopped at step {d.step}</p>
      <p data-testid="run-divergence">{d.what.charAt(0).toUpperCase() + d.what.slice(1)}</p>
      {d.suggestions.length > 0 ? (
        <>
          <p>{d.suggestions.length === 1 ? 'Try:' : 'Try one of these, the likeliest first, or all of them:'}</p>
          <ul className={styles.suggestions} data-testid="run-suggestions">
            {d.suggestions.map((s) => (
              <li key={s.setting}>
                <span>
                  <strong>{labelOf(s)}</strong> {formatSetting(s.value)} instead of {formatSetting(s.current)}
                </span>
                <button type="button" onClick={() => apply([s])} aria-label={`Use ${formatSetting(s.value)} for ${labelOf(s)}`}>
                  Use {formatSetting(s.value)}
                </button>
              </li>
            ))}
          </ul>
          {d.suggestions.length > 1 && (
            <button type="button" onClick={() => apply(d.suggestions)} data-testid="run-apply-suggestions">
              {d.suggestions.length === 2 ? 'Apply both to the setup' : `Apply all ${d.suggestions.length} to the setup`}
            </button>
          )}
          {applied.length > 0 && (
            <p className={styles.applied} role="status" data-testid="run-applied">
              The setup now has {applied.map((s) => `${labelOf(s)} ${formatSetting(s.value)}`).join(' and ')}. Start again runs it.
            </p>
          )}
          <div className={styles.goOn}>
            {recordingEnd ? (
              <p className="muted">Saving the run's last good checkpoint…</p>
            ) : saved !== null && recordId !== null ? (
              <p data-testid="run-saved-step">
                Progress up to <strong>step {saved.step}</strong> of {saved.totalSteps} is saved ({formatSavedAt(saved.savedAt)}): the last checkpoint from before the loss went wrong. It can
                go on from there with {d.suggestions.length === 1 ? 'this setting' : 'these settings'}, or start over with them.
              </p>
            ) : (
              <p data-testid="run-saved-step">No checkpoint from before it went wrong was kept, so it cannot go on; start over with {d.suggestions.length === 1 ? 'this setting' : 'these settings'}.</p>
            )}
            <div className={styles.actions}>
              {!recordingEnd && saved !== null && recordId !== null && (
                <button type="button" className="primary" onClick={() => void resumeStored(recordId, suggestedChange(d))} data-testid="run-resume-changed">
                  Resume from step {saved.step} with {settings}
                </button>
              )}
              <button type="button" onClick={startOver} disabled={recordingEnd} data-testid="run-start-over">
                Start over with {settings}
              </button>
            </div>
          </div>
        </>
      ) : (
        <p>No training setting is to blame: the model is not finite from the first step. Check the model's weights (a different model, or its original files).</p>
      )}
    </div>
  );
}

function EngineLost({ lostDevice, message }: { lostDevice: boolean; message: string }) {
  const step = useRun((s) => s.progress?.step ?? s.steps.length);
  const total = useRun((s) => s.tokenized?.totalSteps ?? null);
  const recordId = useRun((s) => s.recordId);
  const recordingEnd = useRun((s) => s.recordingEnd);
  const resumeStored = useRun((s) => s.resumeStored);
  const available = useHistory((s) => s.available);
  const saved = useSavedCheckpoint();
  return (
    <div className={styles.problem} role="alert" data-testid="run-error" data-kind={lostDevice ? 'device-lost' : 'worker-lost'}>
      <p className={styles.problemHead}>
        {lostDevice ? 'The GPU was lost' : 'The engine stopped'} at step {step}
        {total !== null ? ` of ${total}` : ''}
      </p>
      <p data-testid="run-lost">
        {lostDevice
          ? "The browser took this page's GPU device away: a driver reset, the GPU process restarting, or the system reclaiming the GPU can do that. Nothing was wrong with the run itself."
          : "The page's engine worker stopped (it crashed, or the browser ended it). Nothing was wrong with the run itself."}
      </p>
      {recordingEnd ? (
        <p className="muted">Saving where the run stopped…</p>
      ) : saved !== null && recordId !== null ? (
        <>
          <p data-testid="run-saved-step">
            Progress up to <strong>step {saved.step}</strong> of {saved.totalSteps} is saved ({formatSavedAt(saved.savedAt)}). Resume starts a fresh {lostDevice ? 'GPU device' : 'engine'} and
            goes on from there; the run ends exactly as it would have without the stop.
          </p>
          <div className={styles.actions}>
            <button type="button" className="primary" onClick={() => void resumeStored(recordId)} data-testid="run-resume-saved">
              Resume from step {saved.step}
            </button>
          </div>
        </>
      ) : (
        <p data-testid="run-saved-step">
          {available === false ? 'This browser keeps no run history for the page, so nothing was saved to go on from' : 'No checkpoint was saved before it stopped'}: Start again runs it
          from the beginning.
        </p>
      )}
      <details className={styles.reported}>
        <summary>What the engine reported</summary>
        <p className="error-text">{message}</p>
      </details>
    </div>
  );
}
