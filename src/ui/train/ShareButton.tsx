// "Copy share link": the address of the page with the form's run in it (`#run=1.…`), copied to
// the clipboard; where the clipboard is refused, the link is shown to copy by hand.

import { useState } from 'react';
import { runLinkUrl } from '../../share/link';
import { useForm } from '../../state/form';
import styles from './TrainSection.module.css';

export function ShareButton() {
  const spec = useForm((s) => s.spec);
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    if (spec === null) return;
    let url: string;
    try {
      url = runLinkUrl(spec, location.href);
    } catch (e) {
      setCopied(`No link: ${(e as Error).message}`);
      return;
    }
    try {
      await navigator.clipboard.writeText(url);
      setCopied('Link copied');
    } catch {
      setCopied(url);
    }
  };
  return (
    <>
      <button type="button" onClick={() => void copy()} disabled={spec === null} data-testid="run-share">
        Copy share link
      </button>
      {copied !== null && (
        <span className={styles.shareResult} data-testid="run-share-result">
          {copied}
        </span>
      )}
    </>
  );
}
