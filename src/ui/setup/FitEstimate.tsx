// "Will it fit": the GPU memory a run needs, estimated from the model's config, the method and
// the batch and sequence length (src/run/estimate.ts), and its largest single buffer against this
// device's limits. A run that cannot fit is refused before it starts; the suggestions set the
// fields that would make it fit.

import type { MemoryPart } from '../../run/estimate';
import { fieldLabel, useForm } from '../../state/form';
import { useSetupFigures } from '../../state/inspect';
import { useSystem } from '../../state/system';
import { formatBytes, formatCount } from '../format';
import styles from './FitEstimate.module.css';

const PART_LABEL: Record<MemoryPart, string> = {
  weights: 'Base weights',
  adapters: 'Adapters, their gradients and AdamW moments',
  activations: 'Activations kept for the backward',
  backward: 'Gradients during the backward',
  lossHead: 'Loss head (chunked logits)',
  evaluation: 'Evaluation forward pass',
  merge: 'Merged copies of the adapted weights',
};

export function FitEstimate() {
  const figures = useSetupFigures();
  const limits = useSystem((s) => s.limits);
  const batch = useForm((s) => s.spec?.training.batch ?? null);
  const evalBatch = useForm((s) => s.spec?.limits.evalBatch ?? null);
  const set = useForm((s) => s.set);
  const { memory, fit } = figures;
  return (
    <div className={styles.fit} data-testid="fit">
      <h3>Will it fit?</h3>
      {memory === null ? (
        <p className="muted">
          {figures.heldBy.memory.length > 0 ? `Estimated once ${figures.heldBy.memory.join(' and ')} ${figures.heldBy.memory.length === 1 ? 'is' : 'are'} valid.` : 'Estimated once the model is loaded.'}
        </p>
      ) : (
        <>
          <p className={styles.total}>
            About <strong data-testid="fit-total">{formatBytes(memory.total)}</strong> of GPU memory (<span data-testid="fit-step" data-bytes={memory.trainingStep}>{formatBytes(memory.trainingStep)}</span> for a training step
            {batch !== null ? ` of ${batch} × ${memory.lengths.train} tokens` : ''}
            {evalBatch !== null ? `; evaluation reads ${evalBatch} × ${memory.lengths.eval} at once` : ''}).
            {!figures.fromTask && <span className="muted"> Sequences are taken at their longest allowed until the task is tokenized.</span>}
          </p>
          <details className={styles.parts}>
            <summary>What takes the memory</summary>
            <table>
              <tbody>
                {(Object.keys(PART_LABEL) as MemoryPart[]).map((p) => (
                  <tr key={p}>
                    <th scope="row">{PART_LABEL[p]}</th>
                    <td className="num">{formatBytes(memory.parts[p])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
          {figures.modelTooLarge !== null && (
            <div className={styles.refused} role="alert" data-testid="fit-model-too-large">
              <p>This model cannot go on this GPU: {figures.modelTooLarge}</p>
            </div>
          )}
          {fit !== null && limits !== null && (
            <p data-testid="fit-largest" data-limit={fit.limit} data-bytes={memory.buffers[0]!.bytes}>
              Largest single buffer: {formatBytes(memory.buffers[0]!.bytes)}, {memory.buffers[0]!.what}; this GPU allows {formatBytes(fit.limit)} per buffer.{' '}
              {fit.fits ? (
                <span className={`badge badge-ok ${styles.verdict}`} data-testid="fit-verdict">
                  fits
                </span>
              ) : (
                <span className={`badge badge-bad ${styles.verdict}`} data-testid="fit-verdict">
                  too large
                </span>
              )}
            </p>
          )}
          {fit !== null && !fit.fits && (
            <div className={styles.refused} role="alert" data-testid="fit-refused">
              <p>This run cannot start: {fit.reason}.</p>
              {fit.suggestions.length > 0 ? (
                <div className={`controls ${styles.suggestions}`}>
                  <span>Try:</span>
                  {fit.suggestions.map((s) => (
                    <button key={s.path.join('.')} type="button" onClick={() => set(s.path, s.value)} title={`Use ${s.text}`} data-testid={`fit-suggest-${s.path.join('.')}`}>
                      {fieldLabel(s.path.join('.'))} {formatCount(s.value)}
                    </button>
                  ))}
                </div>
              ) : (
                <p>No batch or sequence length changes this buffer: choose a model with a smaller vocabulary.</p>
              )}
            </div>
          )}
          <p className={`muted ${styles.small}`}>
            WebGPU does not say how much memory the GPU has, only the largest buffer it allows; the total is for comparison. Adapting fewer
            target modules or a lower rank shrinks the adapters' share ({formatCount(figures.trainableParameters ?? 0)} trainable parameters).
          </p>
        </>
      )}
    </div>
  );
}
