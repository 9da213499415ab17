// Why the run stopped. A divergence (the trainer's watch: a loss that went NaN, stayed above
// that of a uniform guess, or a gradient that died) is explained with what to change, worded with
// the form's own field names, and a button puts the suggested values into the setup; any other
// error is shown as the engine worded it, with its stage.

import { useState } from 'react';
import type { RunDivergence, SpecSuggestion } from '../../run/run';
import { fieldLabel, useForm } from '../../state/form';
import { useRun } from '../../state/run';
import { formatSetting } from '../../train/trainer';
import { STAGE_LABEL } from './describe';
import styles from './TrainSection.module.css';

export function RunProblem() {
  const error = useRun((s) => s.error);
  if (error === null) return null;
  if (error.divergence !== null) return <Divergence d={error.divergence} />;
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

function Divergence({ d }: { d: RunDivergence }) {
  const set = useForm((s) => s.set);
  const [applied, setApplied] = useState<SpecSuggestion[]>([]);
  const apply = (suggestions: SpecSuggestion[]) => {
    for (const s of suggestions) set(s.path, s.value);
    setApplied(suggestions);
  };
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
                <button type="button" onClick={() => apply([s])} aria-label={`Use ${labelOf(s)} ${formatSetting(s.value)}`}>
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
        </>
      ) : (
        <p>No training setting is to blame: the model is not finite from the first step. Check the model's weights (a different model, or its original files).</p>
      )}
    </div>
  );
}
