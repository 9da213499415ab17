// "Inside the adapter": what training did to each adapted module of the run (a finished run's,
// or a paused run's adapters as they stand) — a heatmap over layers × modules of the figure picked
// (the update ratio, D2-LoRA's plus and minus branches, the rows' norm drift, the rescale g_j,
// DoRA's magnitude), and for the module picked, the histogram of a per-row figure with its
// quantiles. Each figure is explained in a line; what a method does not have is said once.

import { useId } from 'react';
import type { ModuleAnatomy } from '../../run/anatomy';
import {
  FIGURES,
  figuresOf,
  formatFigure,
  largestUpdate,
  missingFiguresNote,
  quantitiesOf,
  ROW_QUANTITIES,
  useAnatomy,
  useShownAnatomy,
  type AnatomyFigure,
  type ShownAnatomy,
} from '../../state/anatomy';
import { METHOD_NAMES } from '../../run/spec';
import { Segments } from '../setup/fields';
import { formatCount } from '../format';
import { Heatmap } from './Heatmap';
import { Histogram } from './Histogram';
import styles from './Anatomy.module.css';

export function AnatomySection() {
  const shown = useShownAnatomy();
  return (
    <section className="panel" aria-labelledby="adapter-heading">
      <div className="panel-head">
        <h2 id="adapter-heading">Inside the adapter</h2>
      </div>
      {shown.kind === 'none' && (
        <p className={styles.empty} data-testid="anatomy-empty">
          {shown.why === 'training'
            ? 'The run is training: pause it to look inside its adapters as they stand, or wait for it to finish.'
            : shown.why === 'stopped'
              ? 'The run stopped before it finished, so there are no trained adapters to look into. Start a run, and pause it or let it finish.'
              : 'When a run is paused or finished, each adapted module’s update is measured here against its frozen weight: a heatmap over layers × modules, and the distribution over the rows of the module you pick.'}
        </p>
      )}
      {shown.kind === 'measuring' && (
        <p className={styles.empty} role="status" data-testid="anatomy-measuring">
          Measuring the paused run’s adapters after step {formatCount(shown.step)}…
        </p>
      )}
      {shown.kind === 'failed' && (
        <p className="error-text" role="alert" data-testid="anatomy-error">
          The adapters could not be measured: {shown.message}
        </p>
      )}
      {shown.kind === 'ready' && <AnatomyView shown={shown} />}
    </section>
  );
}

function AnatomyView({ shown }: { shown: Extract<ShownAnatomy, { kind: 'ready' }> }) {
  const { anatomy, of, step, totalSteps } = shown;
  const picked = useAnatomy((s) => s.figure);
  const pickFigure = useAnatomy((s) => s.pickFigure);
  const selectedCell = useAnatomy((s) => s.selected);
  const id = useId();
  const figures = figuresOf(anatomy);
  const figure: AnatomyFigure = figures.includes(picked) ? picked : 'updateRatio';
  const note = missingFiguresNote(anatomy);
  const selected =
    (selectedCell !== null ? anatomy.entries.find((e) => e.layer === selectedCell.layer && e.module === selectedCell.module) : undefined) ?? largestUpdate(anatomy);
  return (
    <>
      <p className={styles.source} data-testid="anatomy-source" data-of={of}>
        {METHOD_NAMES[anatomy.method]} on {anatomy.entries.length} modules ({anatomy.layers} layers × {anatomy.modules.join(', ')}),{' '}
        {of === 'paused'
          ? `paused after step ${formatCount(step)}${totalSteps !== null ? ` of ${formatCount(totalSteps)}` : ''}: the adapters as they stand now (after Resume, pause again to see them later).`
          : shown.early
            ? `the adapters of step ${formatCount(step)}, which early stopping kept, merged and exported.`
            : `after all ${formatCount(step)} steps: the adapters that were merged and exported.`}
      </p>
      {note !== null && (
        <p className={`note ${styles.methodNote}`} data-testid="anatomy-method-note">
          {note}
        </p>
      )}
      <div className={styles.figurePicker}>
        <Segments
          legend="Figure"
          name={`${id}-figure`}
          value={figure}
          options={figures.map((f) => ({ value: f, label: FIGURES[f].label }))}
          onChange={pickFigure}
          testId="anatomy-figure"
        />
        <p className={styles.explain} data-testid="anatomy-figure-explain">
          {FIGURES[figure].explain}
        </p>
      </div>
      <div className={styles.layout}>
        <Heatmap anatomy={anatomy} figure={figure} selected={selected} />
        {selected !== null && <ModuleView entry={selected} />}
      </div>
    </>
  );
}

function ModuleView({ entry }: { entry: ModuleAnatomy }) {
  const pickedQuantity = useAnatomy((s) => s.quantity);
  const pickQuantity = useAnatomy((s) => s.pickQuantity);
  const id = useId();
  const quantities = quantitiesOf(entry);
  const quantity = pickedQuantity !== null && quantities.includes(pickedQuantity) ? pickedQuantity : quantities[0]!;
  const q = ROW_QUANTITIES[quantity];
  const d = q.of(entry)!;
  return (
    <div className={styles.module} data-testid="anatomy-module" data-name={entry.name}>
      <h3 className={styles.moduleHead}>
        Layer {entry.layer} · {entry.module}
      </h3>
      <p className={styles.moduleName}>
        <code>{entry.name}</code>, {formatCount(entry.out)} × {formatCount(entry.in)}
      </p>
      <dl className={styles.moduleFacts}>
        <dt>Update ratio</dt>
        <dd data-testid="anatomy-module-update" data-value={entry.updateRatio}>
          {formatFigure(entry.updateRatio)}
        </dd>
        <dt>‖ΔW‖_F, ‖W0‖_F</dt>
        <dd>
          {formatFigure(entry.deltaNorm)}, {formatFigure(entry.baseNorm)}
        </dd>
        {entry.branches !== null && (
          <>
            <dt>Plus, minus norm</dt>
            <dd data-testid="anatomy-module-branches" data-plus={entry.branches.plus} data-minus={entry.branches.minus}>
              {formatFigure(entry.branches.plus)}, {formatFigure(entry.branches.minus)}
            </dd>
          </>
        )}
      </dl>
      {quantities.length > 1 ? (
        <Segments
          legend="Per row"
          name={`${id}-quantity`}
          value={quantity}
          options={quantities.map((k) => ({ value: k, label: ROW_QUANTITIES[k].label }))}
          onChange={pickQuantity}
          testId="anatomy-quantity"
        />
      ) : (
        <p className={styles.quantityLabel}>Per row: {q.label}</p>
      )}
      <p className={styles.explain}>{q.explain}</p>
      <Histogram distribution={d} centre={q.centre} label={`${q.label} of layer ${entry.layer} ${entry.module}, over its ${formatCount(entry.out)} rows`} />
      <dl className={styles.quantiles} data-testid="anatomy-quantiles" data-quantity={quantity}>
        {(
          [
            ['min', d.min],
            ['5%', d.p05],
            ['median', d.median],
            ['95%', d.p95],
            ['max', d.max],
            ['mean', d.mean],
          ] as const
        ).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd data-testid={`anatomy-q-${k === '5%' ? 'p05' : k === '95%' ? 'p95' : k}`} data-value={v}>
              {formatFigure(v)}
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}
