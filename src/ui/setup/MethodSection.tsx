// Method and settings: the adapter method (D2-LoRA, LoRA, LoRA 2r, DoRA), its rank, α and τ, the
// target modules (the model's own linear layers), the main training settings, and under
// Advanced every other field of the spec; with the trainable parameters and the steps, live.

import { useId } from 'react';
import type { ComparedMethod } from '../../run/spec';
import { useFieldIssues, useForm, useSectionVisible } from '../../state/form';
import { targetChoices, toggledTargets, useInspect, useSetupFigures } from '../../state/inspect';
import { ADAPTER_SCALINGS } from '../../adapters/config';
import { LR_DECAYS } from '../../train/schedule';
import { CHOICE_SCORINGS } from '../../train/eval';
import { formatCount } from '../format';
import { CheckboxField, FieldNote, NumberField, Segments, SelectField, fieldStyles, useDraftValue } from './fields';
import styles from './MethodSection.module.css';

const METHODS: { value: ComparedMethod; label: string }[] = [
  { value: 'd2lora', label: 'D2-LoRA' },
  { value: 'lora', label: 'LoRA' },
  { value: 'lora2r', label: 'LoRA 2r' },
  { value: 'dora', label: 'DoRA' },
];

const METHOD_TEXT: Record<ComparedMethod, string> = {
  d2lora: 'Two signed branches of rank r, ΔW = (α/r)(U₊D₊ − τU₋D₋), each output row of W0 + ΔW projected back to its original norm.',
  lora: 'One branch of rank r: ΔW = (α/r)·U·D.',
  lora2r: "LoRA with r and α both doubled: as many trainable parameters as D2-LoRA at r, the same scale α/r (the paper's parameter-matched baseline).",
  dora: 'LoRA for the direction, and a trained magnitude for each output row.',
};

export function MethodSection() {
  const visible = useSectionVisible('method');
  const method = useForm((s) => s.method);
  const setMethod = useForm((s) => s.setMethod);
  const spec = useForm((s) => s.spec);
  if (!visible) return null;
  const doubled = method === 'lora2r' && spec !== null ? ` Runs as LoRA r = ${spec.adapter.r}, α = ${spec.adapter.alpha}.` : '';
  return (
    <section className="panel" aria-labelledby="method-heading" data-testid="setup-method">
      <h2 id="method-heading">Method and settings</h2>
      <Segments legend="Adapter method" name="method" value={method} options={METHODS} onChange={setMethod} testId="method" />
      <p className={`muted ${styles.about}`} data-testid="method-about">
        {METHOD_TEXT[method]}
        {doubled}
      </p>
      <div className={fieldStyles.grid}>
        <NumberField path="adapter.r" nominal="r" label="Rank r" hint={method === 'd2lora' ? 'Each of the two branches.' : undefined} />
        <NumberField path="adapter.alpha" nominal="alpha" label="Alpha α" hint="Scale s = α/r." />
        {method === 'd2lora' && <NumberField path="adapter.tau" label="Tau τ" hint="Weight of the minus branch." />}
        <NumberField path="training.lr" label="Learning rate" hint="Peak, after warm-up." />
        <NumberField path="training.batch" label="Batch" hint="Examples per step." />
        <NumberField path="limits.maxLength" label="Max length" hint="Tokens per sequence at most." />
        <NumberField path="training.epochs" label="Epochs" />
        <NumberField path="seed" label="Seed" hint="Draws the items, orders them, initialises the adapters." />
      </div>
      <Targets />
      <Figures />
      <Advanced />
    </section>
  );
}

function Targets() {
  const id = useId();
  const model = useInspect((s) => (s.model.status === 'ready' ? s.model.result : null));
  const targets = useDraftValue('targets') as string[] | null | undefined;
  const set = useForm((s) => s.set);
  const issues = useFieldIssues('targets');
  if (model === null) {
    return (
      <p className={`muted ${styles.targets}`} data-testid="targets">
        Target modules: {targets == null ? 'the attention projections' : targets.join(', ')} (the model's linear layers are offered once it is loaded).
      </p>
    );
  }
  const { modules } = model.summary;
  const family = model.config.family;
  const choices = targetChoices(modules, family, targets ?? null);
  return (
    <fieldset className={`${fieldStyles.choices} ${styles.targets}`} aria-describedby={`${id}-note`} data-testid="targets">
      <legend>Target modules</legend>
      <div className={fieldStyles.choiceRow}>
        {choices.map((c) => (
          <label key={c.module} className={fieldStyles.check}>
            <input
              type="checkbox"
              checked={c.checked}
              onChange={(e) => set(['targets'], toggledTargets(modules, family, targets ?? null, c.module, e.target.checked))}
              data-testid={`target-${c.module}`}
            />
            <code>{c.module}</code>
          </label>
        ))}
      </div>
      <FieldNote id={`${id}-note`} issues={issues} hint="Adapted in every layer; the paper adapts the attention projections." />
    </fieldset>
  );
}

function Figures() {
  const f = useSetupFigures();
  const parameters = useInspect((s) => (s.model.status === 'ready' ? s.model.result!.summary.parameters : null));
  const training = useForm((s) => s.spec?.training ?? null);
  const epochs = useDraftValue('training.epochs');
  const batch = useDraftValue('training.batch');
  const held = (fields: string[]) => <span className="muted">once {fields.join(' and ')} {fields.length === 1 ? 'is' : 'are'} valid</span>;
  return (
    <dl className={`facts ${styles.figures}`} aria-live="polite">
      <dt>Trainable parameters</dt>
      <dd data-testid="method-trainable">
        {f.heldBy.trainable.length > 0 ? (
          held(f.heldBy.trainable)
        ) : f.trainableParameters === null ? (
          <span className="muted">once the model is loaded</span>
        ) : (
          <>
            <strong>{formatCount(f.trainableParameters)}</strong>
            {parameters !== null && <span className="muted"> ({((100 * f.trainableParameters) / parameters).toPrecision(2)}% of the model's {formatCount(parameters)})</span>}
          </>
        )}
      </dd>
      <dt>Steps</dt>
      <dd data-testid="method-steps">
        {f.heldBy.steps.length > 0 ? (
          held(f.heldBy.steps)
        ) : f.steps === null ? (
          <span className="muted">once the task is tokenized</span>
        ) : f.steps.ok ? (
          <>
            <strong>{formatCount(f.steps.totalSteps)}</strong>
            <span className="muted">
              {' '}
              = ⌈{formatCount(f.steps.examples)} examples / batch {String(training?.batch ?? batch)}⌉ = {formatCount(f.steps.stepsPerEpoch)} per epoch × {String(training?.epochs ?? epochs)}
            </span>
          </>
        ) : (
          <span className="error-text">{f.steps.problem}</span>
        )}
      </dd>
    </dl>
  );
}

function Advanced() {
  const method = useForm((s) => s.method);
  const early = useDraftValue('training.earlyStopping');
  const set = useForm((s) => s.set);
  const earlyId = useId();
  return (
    <details className={styles.advanced} data-testid="advanced">
      <summary>Advanced</summary>
      {method === 'd2lora' && (
        <>
          <h3>D2-LoRA</h3>
          <div className={fieldStyles.grid}>
            <CheckboxField path="adapter.project" label="Project each row onto its norm" hint="Off: a signed LoRA of rank 2r." />
            <NumberField path="adapter.readd" label="Re-add ρ" hint="1: the paper's Eq. 3; 0: the ablation." />
            <CheckboxField path="adapter.detachNorm" label="Detach the norm in the backward" />
          </div>
        </>
      )}
      <h3>Adapter</h3>
      <div className={fieldStyles.grid}>
        <SelectField path="adapter.scaling" label="Scaling" options={ADAPTER_SCALINGS.map((s) => ({ value: s, label: s === 'rslora' ? 'rsLoRA: α/√r' : 'standard: α/r' }))} />
        <NumberField path="adapter.eps" label="Norm ε" hint="In n = √(‖V‖² + ε)." />
      </div>
      <h3>Schedule</h3>
      <div className={fieldStyles.grid}>
        <SelectField path="training.decay" label="Decay" options={LR_DECAYS.map((d) => ({ value: d, label: d }))} />
        <NumberField path="training.warmup" label="Warm-up" hint="Fraction of all steps." />
        <NumberField path="training.minLr" label="Minimum learning rate" />
      </div>
      <h3>AdamW</h3>
      <div className={fieldStyles.grid}>
        <NumberField path="training.beta1" label="AdamW β₁" />
        <NumberField path="training.beta2" label="AdamW β₂" />
        <NumberField path="training.eps" label="AdamW ε" />
        <NumberField path="training.weightDecay" label="Weight decay" />
        <NumberField path="training.maxGradNorm" label="Gradient clip" hint="Global norm; 0: off." />
      </div>
      <h3>Evaluation</h3>
      <div className={fieldStyles.grid}>
        <SelectField path="scoring" label="Scoring" options={CHOICE_SCORINGS.map((s) => ({ value: s, label: s === 'sum' ? 'sum over tokens' : 'mean per token' }))} />
        <NumberField path="training.heldOutEvery" label="Held-out loss every" emptyMeansNull="about 10 per epoch" hint="Steps; 0: never." />
        <NumberField path="training.heldOutItems" label="Held-out items" />
        <NumberField path="limits.evalBatch" label="Evaluation batch" hint="Sequences scored at once." />
      </div>
      <h3>Memory</h3>
      <div className={fieldStyles.grid}>
        <CheckboxField
          wide
          path="limits.recomputeActivations"
          label="Recompute activations in the backward"
          hint="Keeps one layer's activations instead of every layer's, for one more forward per step; the same result."
        />
      </div>
      <h3>Early stopping</h3>
      <div className={fieldStyles.grid}>
        <div className={`${fieldStyles.field} ${fieldStyles.wide}`}>
          <label className={fieldStyles.check} htmlFor={earlyId}>
            <input
              id={earlyId}
              type="checkbox"
              checked={typeof early === 'object' && early !== null}
              onChange={(e) => set(['training', 'earlyStopping'], e.target.checked ? { patience: 3, devItems: 200 } : null)}
              data-testid="field-training.earlyStopping"
            />
            Stop early when the held-out loss stops improving (and keep the best adapters)
          </label>
        </div>
        {typeof early === 'object' && early !== null && (
          <>
            <NumberField path="training.earlyStopping.patience" label="Patience" hint="Held-out losses without improvement." />
            <NumberField path="training.earlyStopping.devItems" label="Dev items" hint="Held out of the training items." />
          </>
        )}
      </div>
      <h3>Protocol limits</h3>
      <div className={fieldStyles.grid}>
        <NumberField path="limits.maxTrain" label="Training items at most" hint="The paper's 5k." />
        <NumberField path="limits.maxEval" label="Evaluation items at most" />
      </div>
    </details>
  );
}
