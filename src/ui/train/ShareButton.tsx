// "Copy share link": the address of the page with the form's run in it (`#run=1.…`), copied to
// the clipboard; once a run has finished, "Copy link with result" too: that run's spec with its
// result (`&result=1.…`: the accuracies and the loss curve), which its recipient's page shows
// beside the setup and compares with their own run of it. Where the clipboard is refused, the
// link is shown to copy by hand.

import { useState } from 'react';
import { runLinkUrl } from '../../share/link';
import { summarizeResult, type ResultSummary } from '../../share/result';
import type { RunSpec } from '../../run/spec';
import { useForm } from '../../state/form';
import { useRun } from '../../state/run';
import styles from './TrainSection.module.css';

export function ShareButton() {
  const spec = useForm((s) => s.spec);
  const finished = useRun((s) => (s.status === 'done' ? s.metrics : null));
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async (linked: RunSpec, result?: ResultSummary) => {
    let url: string;
    try {
      url = runLinkUrl(linked, location.href, result);
    } catch (e) {
      setCopied(`No link: ${(e as Error).message}`);
      return;
    }
    try {
      await navigator.clipboard.writeText(url);
      setCopied(result === undefined ? 'Link copied' : 'Link with the result copied');
    } catch {
      setCopied(url);
    }
  };
  return (
    <>
      <button type="button" onClick={() => spec !== null && void copy(spec)} disabled={spec === null} data-testid="run-share">
        Copy share link
      </button>
      {finished !== null && (
        // The spec as run (a local model's files pinned), with what it gave.
        <button type="button" onClick={() => void copy(finished.spec, summarizeResult(finished))} data-testid="run-share-with-result">
          Copy link with result
        </button>
      )}
      {copied !== null && (
        <span className={styles.shareResult} data-testid="run-share-result">
          {copied}
        </span>
      )}
    </>
  );
}
