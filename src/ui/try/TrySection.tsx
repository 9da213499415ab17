// "Try it": the model before and after fine-tuning, on an evaluation item (each choice's
// probability, side by side) or on a prompt (the base and the fine-tuned model's continuations,
// streamed). Before any run the base model writes alone.

import { useRun } from '../../state/run';
import { Generation } from './Generation';
import { ItemScores } from './ItemScores';
import styles from './Try.module.css';

export function TrySection() {
  const status = useRun((s) => s.status);
  return (
    <section className="panel" aria-labelledby="try-heading">
      <div className="panel-head">
        <h2 id="try-heading">Try it</h2>
      </div>
      <p className={`muted ${styles.intro}`}>
        {status === 'done' || status === 'paused'
          ? `The ${status === 'done' ? 'finished' : 'paused'} run's model against the base model it started from.`
          : 'The base model writes now; once a run is paused or finished, its fine-tuned model scores items and writes beside it.'}
      </p>
      <ItemScores />
      <Generation />
    </section>
  );
}
