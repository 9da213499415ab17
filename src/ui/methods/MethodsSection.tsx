// "Compare methods": LoRA r, LoRA 2r, DoRA r and D2-LoRA r (and D2-LoRA's ablations, as an
// option) on the setup above over a few seeds, each method at the learning rate a dev split chose
// for it — the engine worker's comparison, what `d2lora compare` runs — with the queue's progress,
// Cancel, and the paper-style table with the paper's own figures beside it and its CSV and
// Markdown as `d2lora compare` writes them.

import { useId, useMemo } from 'react';
import { defaultLrGrid, formatRate, LR_GRID_FACTORS } from '../../run/compare-plan';
import { compareBlockOf, compareFromForm, comparePlanOf, comparing, MAX_SEEDS, useCompare, type ComparePlan, type CompareStatus, type SettingProblem } from '../../state/compare';
import { useForm } from '../../state/form';
import { useInspect, useStartBlock } from '../../state/inspect';
import { useRun } from '../../state/run';
import { fieldStyles, Segments } from '../setup/fields';
import { plural } from '../format';
import { StatusBadge } from '../StatusBadge';
import { CompareQueue } from './CompareQueue';
import { CompareTable } from './CompareTable';
import styles from './Methods.module.css';

/** The training items the setup's protocol draws (the task's inspection), which bound the dev split. */
function useTrainItems(): number | null {
  return useInspect((s) => {
    const n = s.task.status === 'ready' ? s.task.result?.counts.train : undefined;
    return typeof n === 'number' ? n : null;
  });
}

export function MethodsSection() {
  const status = useCompare((s) => s.status);
  const result = useCompare((s) => s.result);
  const error = useCompare((s) => s.error);
  const planned = usePlanned();
  return (
    <section className="panel" aria-labelledby="methods-heading">
      <div className="panel-head">
        <h2 id="methods-heading">Compare methods</h2>
        <StatusBadge status={status satisfies CompareStatus} testId="compare-status" />
      </div>
      <p className={styles.intro}>
        Trains LoRA r, LoRA 2r (α doubled too: as many trainable parameters as D2-LoRA), DoRA r and D2-LoRA r on the setup above, each over several
        seeds, one run after another, and tabulates them as the paper does. Each method first picks its own learning rate on items held out of the
        training items (never the test items), so that no method is judged at a rate that only suits another.
      </p>
      <CompareSettingsForm planned={planned} />
      <CompareControls planned={planned} />
      <CompareQueue />
      {status === 'failed' && error !== null && (
        <p className="error-text" role="alert" data-testid="compare-error">
          The comparison stopped: {error}
        </p>
      )}
      {status === 'cancelled' && (
        <p className="muted" data-testid="compare-cancelled">
          The comparison was cancelled; the runs done so far are listed above. Compare methods starts it again from the first run.
        </p>
      )}
      {result !== null && <CompareTable result={result} />}
    </section>
  );
}

/** The settings read for the form's spec: the plan, a setting's problem, or null while the setup has a problem. */
function usePlanned(): ComparePlan | SettingProblem | null {
  const settings = useCompare((s) => s.settings);
  const spec = useForm((s) => s.spec);
  const trainItems = useTrainItems();
  return useMemo(() => (spec === null ? null : comparePlanOf(spec, settings, trainItems)), [spec, settings, trainItems]);
}

function CompareSettingsForm({ planned }: { planned: ComparePlan | SettingProblem | null }) {
  const settings = useCompare((s) => s.settings);
  const set = useCompare((s) => s.set);
  const busy = useCompare((s) => comparing(s.status));
  const spec = useForm((s) => s.spec);
  const id = useId();
  const problem = planned !== null && 'problem' in planned ? planned : null;
  const seeds = planned !== null && !('problem' in planned) ? planned.seeds : null;
  return (
    <fieldset className={styles.settings} disabled={busy} data-testid="compare-settings">
      <legend className="visually-hidden">Comparison settings</legend>
      <SettingField
        id={`${id}-seeds`}
        label="Seeds"
        className={styles.seeds}
        value={settings.seedCount}
        onChange={(seedCount) => set({ seedCount })}
        numeric
        problem={problem?.field === 'seedCount' ? problem.problem : null}
        hint={seeds !== null ? `seeds ${seedList(seeds)}, counted from the setup's seed` : `1 to ${MAX_SEEDS}, counted from the setup's seed`}
        testId="compare-seeds"
      />
      <div>
        <Segments
          legend="Learning rate"
          name={`${id}-lr`}
          value={settings.lrMode}
          options={[
            { value: 'grid', label: 'Chosen from a grid' },
            { value: 'fixed', label: "The setup's lr for all" },
          ]}
          onChange={(lrMode) => set({ lrMode })}
          testId="compare-lr-mode"
        />
      </div>
      {settings.lrMode === 'grid' && (
        <>
          <SettingField
            id={`${id}-rates`}
            label="Rates"
            className={styles.rates}
            value={settings.rates}
            onChange={(rates) => set({ rates })}
            placeholder={spec !== null ? defaultLrGrid(spec).map(formatRate).join(', ') : undefined}
            problem={problem?.field === 'rates' ? problem.problem : null}
            hint={`empty: ${LR_GRID_FACTORS.join(', ')} × the setup's lr`}
            testId="compare-rates"
          />
          <SettingField
            id={`${id}-dev`}
            label="Dev items"
            className={styles.devItems}
            value={settings.devItems}
            onChange={(devItems) => set({ devItems })}
            numeric
            problem={problem?.field === 'devItems' ? problem.problem : null}
            hint="held out of the training items to score each rate on"
            testId="compare-dev-items"
          />
        </>
      )}
      <div className={`${fieldStyles.field} ${fieldStyles.checkCell} ${styles.ablations}`}>
        <label className={fieldStyles.check} htmlFor={`${id}-ablations`}>
          <input
            id={`${id}-ablations`}
            type="checkbox"
            checked={settings.ablations}
            onChange={(e) => set({ ablations: e.target.checked })}
            aria-describedby={`${id}-ablations-hint`}
            data-testid="compare-ablations"
          />
          D2-LoRA's ablations
        </label>
        <span id={`${id}-ablations-hint`} className={fieldStyles.hint}>
          five more rows: projection off, ρ = 0, τ = 0, τ = 1, detached norm
        </span>
      </div>
    </fieldset>
  );
}

/** A setting typed as text, with its problem (or a hint) under it. */
function SettingField({ id, label, className, value, onChange, numeric, placeholder, problem, hint, testId }: {
  id: string;
  label: string;
  className: string;
  value: string;
  onChange: (v: string) => void;
  numeric?: boolean;
  placeholder?: string;
  problem: string | null;
  hint: string;
  testId: string;
}) {
  return (
    <div className={`${fieldStyles.field} ${className}`}>
      <label className={fieldStyles.label} htmlFor={id}>
        {label}
      </label>
      <input
        id={id}
        className={fieldStyles.input}
        type="text"
        inputMode={numeric ? 'numeric' : 'decimal'}
        autoComplete="off"
        spellCheck={false}
        value={value}
        placeholder={placeholder}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={problem !== null}
        aria-describedby={`${id}-note`}
        data-testid={testId}
      />
      {problem !== null ? (
        <span id={`${id}-note`} className={fieldStyles.problem} data-testid={`${testId}-problem`}>
          {problem}
        </span>
      ) : (
        <span id={`${id}-note`} className={fieldStyles.hint}>
          {hint}
        </span>
      )}
    </div>
  );
}

function CompareControls({ planned }: { planned: ComparePlan | SettingProblem | null }) {
  const status = useCompare((s) => s.status);
  const cancel = useCompare((s) => s.cancel);
  const spec = useForm((s) => s.spec);
  const trainStatus = useRun((s) => s.status);
  const startBlock = useStartBlock();
  const trainItems = useTrainItems();
  const reasonId = useId();
  const reason = compareBlockOf(startBlock, trainStatus, status, planned);
  const busy = comparing(status);
  return (
    <>
      {planned !== null && !('problem' in planned) && (
        <p className={styles.plan} data-testid="compare-plan">
          {planned.methods.length} rows × {plural(planned.seeds.length, 'seed')}
          {planned.lrGrid.length > 1
            ? `, each method's rate chosen from ${planned.lrGrid.map(formatRate).join(', ')} on ${planned.devItems} dev items`
            : `, every method at lr ${formatRate(spec!.training.lr)}`}
          : <strong>{plural(planned.runs, 'run')}</strong>, one after another.
        </p>
      )}
      <div className={styles.controls}>
        <button
          type="button"
          className="primary"
          onClick={() => void compareFromForm(trainItems)}
          disabled={busy || reason !== null}
          aria-describedby={reason !== null ? reasonId : undefined}
          data-testid="compare-start"
        >
          Compare methods
        </button>
        <button type="button" onClick={() => void cancel()} disabled={status !== 'running'} data-testid="compare-cancel">
          Cancel
        </button>
        {reason !== null && !busy && (
          <span id={reasonId} className={styles.reason} data-testid="compare-start-reason">
            {reason}
          </span>
        )}
      </div>
    </>
  );
}

function seedList(seeds: readonly number[]): string {
  return seeds.length > 4 ? `${seeds[0]}–${seeds.at(-1)}` : seeds.join(', ');
}
