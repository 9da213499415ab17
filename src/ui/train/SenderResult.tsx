// The sender's result, when the page was opened with a link that carries one (`&result=`): their
// three accuracies beside the setup; once this page has run the link's setup, whether its
// accuracies agree with theirs, item for item (the loss chart draws their curve under this one's).

import { compareWithSender, summarizeResult } from '../../share/result';
import { useForm } from '../../state/form';
import { useRun } from '../../state/run';
import { describeAgreement, describeSenderResult, isSendersRun } from './sender';
import styles from './TrainSection.module.css';

export function SenderResult() {
  const sender = useForm((s) => s.sender);
  const formSpec = useForm((s) => s.spec);
  const status = useRun((s) => s.status);
  const runSpec = useRun((s) => s.spec);
  const metrics = useRun((s) => s.metrics);
  if (sender === null) return null;
  const device = sender.result.device === '' ? '' : ` (on ${sender.result.device})`;
  const ran = status !== 'idle';
  const theirs = ran ? isSendersRun(runSpec, sender) : formSpec !== null && isSendersRun(formSpec, sender);
  let follow: string;
  let agree: boolean | null = null;
  if (status === 'done' && metrics !== null && theirs) {
    const agreement = compareWithSender(sender.result, metrics);
    agree = agreement.agree;
    follow = describeAgreement(agreement, metrics.before.items);
    const mine = summarizeResult(metrics).device;
    if (!agree && sender.result.device !== mine) {
      follow += ` The sender's GPU (${sender.result.device || 'unnamed'}) is not this one (${mine || 'unnamed'}): GPUs round float32 sums differently, which can move a few items.`;
    }
  } else if (!theirs) {
    follow = ran ? "This run's setup is not the link's, so it is not compared with the sender's result." : "The setup has changed since the link was opened: the sender's result is for the link's run.";
  } else {
    follow = ran ? 'The loss chart draws their curve under yours; the accuracies are compared when the run finishes.' : 'Start runs the same setup: the loss chart draws their curve under yours, and the accuracies are compared when it finishes.';
  }
  return (
    <div className={styles.sender} data-testid="sender-result">
      <p>
        <span className="muted">The sender's result:</span> <strong data-testid="sender-accuracies">{describeSenderResult(sender.result)}</strong>
        {device}.
      </p>
      <p className={agree === null ? 'muted' : agree ? styles.agree : styles.disagree} data-testid="sender-agreement" data-agree={agree === null ? '' : String(agree)}>
        {follow}
      </p>
    </div>
  );
}
