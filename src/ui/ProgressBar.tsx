// The page's one progress bar: a head line (what is under way, and its percentage), then the bar,
// which slides back and forth while the fraction is unknown. The Train section's run and Compare
// methods' queue and current run draw it.

import type { ReactNode } from 'react';
import styles from './ProgressBar.module.css';

export type ProgressTone = 'busy' | 'ok' | 'bad' | 'idle';

export function ProgressBar({
  head,
  percent,
  label,
  valueText,
  tone = 'busy',
  small = false,
  testId,
  dataValue,
}: {
  /** The head line's left side: what is under way. */
  head: ReactNode;
  /** 0-100, or null while the fraction is unknown. */
  percent: number | null;
  /** The bar's accessible name. */
  label: string;
  valueText: string;
  tone?: ProgressTone;
  small?: boolean;
  testId?: string;
  /** The exact fraction, for tests (data-value). */
  dataValue?: number | string;
}) {
  // 'busy' draws in the accent colour: the bar's own; the others have a class.
  const classes = [styles.bar, tone === 'busy' ? undefined : styles[tone], small ? styles.small : undefined, percent === null ? styles.indeterminate : undefined].filter(Boolean).join(' ');
  return (
    <>
      <div className={styles.head}>
        {head}
        <span className={styles.percent}>{percent === null ? '' : `${percent}%`}</span>
      </div>
      <div
        className={classes}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent ?? undefined}
        aria-valuetext={valueText}
        data-testid={testId}
        data-value={dataValue}
      >
        <div className={styles.fill} style={percent === null ? undefined : { width: `${percent}%` }} />
      </div>
    </>
  );
}
