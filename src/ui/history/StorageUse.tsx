// How much of the browser's storage the history takes (its own files, the site's use of its
// quota), where new files go (the origin private file system, else IndexedDB), whether the
// browser keeps the runs when space is short (and the button that asks it to); and the history's
// two settings: keep the merged model with each run, save progress every N steps.

import { useId, useState } from 'react';
import { useHistory } from '../../state/history';
import { formatBytes } from '../format';
import styles from './History.module.css';

const BACKEND_TEXT = { opfs: "the browser's private file system (OPFS)", idb: 'IndexedDB' } as const;

export function StorageUse() {
  const usage = useHistory((s) => s.usage);
  const requestPersistence = useHistory((s) => s.requestPersistence);
  const [asked, setAsked] = useState(false);
  if (usage === null) return null;
  const share = usage.usage !== null && usage.quota !== null && usage.quota > 0 ? usage.usage / usage.quota : null;
  return (
    <dl className={styles.storage} data-testid="history-storage">
      <div>
        <dt>Runs</dt>
        <dd data-testid="history-storage-runs" data-bytes={usage.storeBytes}>
          {formatBytes(usage.storeBytes)} <span className={styles.small}>in {BACKEND_TEXT[usage.backend]}</span>
        </dd>
      </div>
      <div>
        <dt>This site</dt>
        <dd data-testid="history-storage-site">
          {usage.usage === null ? (
            <span className={styles.small}>the browser does not say</span>
          ) : (
            <>
              {formatBytes(usage.usage)}
              {usage.quota !== null && (
                <span className={styles.small}>
                  {' '}
                  of {formatBytes(usage.quota)} ({share! < 0.001 ? '< 0.1' : (100 * share!).toFixed(1)}%)
                </span>
              )}
            </>
          )}
        </dd>
      </div>
      <div>
        <dt>When storage is short</dt>
        <dd data-testid="history-storage-persisted" data-persisted={String(usage.persisted)}>
          {usage.persisted === true ? (
            'the browser keeps these runs'
          ) : (
            <>
              <span className={styles.small}>
                {usage.persisted === null
                  ? 'the browser does not say whether it keeps them'
                  : asked
                    ? 'the browser declined for now (it decides by how you use the site); it may delete them'
                    : 'the browser may delete them'}
              </span>{' '}
              {usage.persisted === false && (
                <button
                  type="button"
                  className={styles.small}
                  onClick={() => void requestPersistence().then(() => setAsked(true))}
                  data-testid="history-persist"
                >
                  Keep my runs when storage is short
                </button>
              )}
            </>
          )}
        </dd>
      </div>
    </dl>
  );
}

export function HistorySettings() {
  const keepMergedModel = useHistory((s) => s.keepMergedModel);
  const setKeepMergedModel = useHistory((s) => s.setKeepMergedModel);
  const every = useHistory((s) => s.checkpointEverySteps);
  const setEvery = useHistory((s) => s.setCheckpointEverySteps);
  const [draft, setDraft] = useState<string | null>(null);
  const keepId = useId();
  const everyId = useId();
  const shown = draft ?? String(every);
  const valid = /^\d+$/.test(shown.trim());
  return (
    <div className={styles.settings}>
      <div className={styles.setting}>
        <input id={keepId} type="checkbox" checked={keepMergedModel} onChange={(e) => setKeepMergedModel(e.currentTarget.checked)} aria-describedby={`${keepId}-hint`} data-testid="history-keep-merged" />
        <label htmlFor={keepId}>Keep the merged model with each run</label>
        <span id={`${keepId}-hint`} className={styles.small}>
          model.safetensors and onnx/: a run's export then holds the whole fine-tuned model, not only its adapter (more storage)
        </span>
      </div>
      <div className={styles.setting}>
        <label htmlFor={everyId}>Save progress every N steps</label>
        <input
          id={everyId}
          type="number"
          min={0}
          step={1}
          inputMode="numeric"
          className={styles.every}
          value={shown}
          onChange={(e) => {
            const text = e.currentTarget.value;
            setDraft(text);
            if (/^\d+$/.test(text.trim())) setEvery(Number(text));
          }}
          onBlur={() => setDraft(null)}
          aria-invalid={!valid}
          aria-describedby={`${everyId}-hint`}
          data-testid="history-checkpoint-every"
        />
        <span id={`${everyId}-hint`} className={valid ? styles.small : 'error-text'}>
          {valid ? '0: at the start, each epoch, on pause and every 2 minutes; N also every N training steps' : 'a whole number of steps, 0 or more'}
        </span>
      </div>
    </div>
  );
}
