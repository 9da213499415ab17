// What the address said about this setup: a link that could not be read (the defaults are
// shown), the repairs a tampered link needed (each field at its default), the local files a link
// names (by name and sha256: pick the same ones), sections the link hides, and an address that
// could not be updated.

import { useForm } from '../../state/form';
import styles from './SetupNotices.module.css';

export function SetupNotices() {
  const link = useForm((s) => s.link);
  const hidden = useForm((s) => s.hidden);
  const addressError = useForm((s) => s.addressError);
  const spec = useForm((s) => s.spec);
  const modelFiles = useForm((s) => s.modelFiles);
  const taskFiles = useForm((s) => s.taskFiles);
  const model = spec?.model;
  const task = spec?.task;
  const modelNeeds = model?.kind === 'files' && model.files.length > 0 && modelFiles.length === 0 ? model : null;
  const taskNeeds = task?.kind === 'file' ? [task.test, ...(task.train ? [task.train] : [])].filter((ref) => ref.name !== taskFiles.test?.name && ref.name !== taskFiles.train?.name) : [];
  return (
    <div className={styles.notices}>
      {link.error !== null && (
        <p className="note" role="note" data-testid="link-error">
          The link in the address could not be read ({link.error}), so this is the default run.
        </p>
      )}
      {link.problems.length > 0 && (
        <div className="note" role="note" data-testid="link-problems">
          <p>The link in the address had problems. Each is listed with what was done about it; everything else is as the link has it.</p>
          <ul>
            {link.problems.map((p) => (
              <li key={p}>
                <code>{p}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      {modelNeeds !== null && (
        <div className="note" role="note" data-testid="link-model-files">
          <p>
            This run's model is local files, <strong>{modelNeeds.name}</strong>: pick that folder in Model. The run reads these files, each checked against its sha256:
          </p>
          <FileList files={modelNeeds.files} />
        </div>
      )}
      {taskNeeds.length > 0 && (
        <div className="note" role="note" data-testid="link-task-files">
          <p>This run's task is a file of your own: pick it in Task. It must be exactly this file:</p>
          <FileList files={taskNeeds} />
        </div>
      )}
      {hidden.length > 0 && (
        <p className={`muted ${styles.hidden}`} data-testid="link-hidden">
          The link hides {hidden.join(', ')}.{' '}
          <button type="button" onClick={() => useForm.setState({ hidden: [] })}>
            Show every section
          </button>
        </p>
      )}
      {addressError !== null && (
        <p className="note" role="note" data-testid="address-error">
          {addressError}
        </p>
      )}
    </div>
  );
}

function FileList({ files }: { files: readonly { name: string; sha256: string }[] }) {
  return (
    <ul className={styles.files}>
      {files.map((f) => (
        <li key={f.name}>
          <code>{f.name}</code> <code className={styles.sha}>{f.sha256}</code>
        </li>
      ))}
    </ul>
  );
}
