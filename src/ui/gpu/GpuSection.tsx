// "Your GPU": the adapter the engine worker acquired and the kernel self-test, folded into one
// line once the self-test passes (open it for the adapter's features, limits and every case), and
// open, with the failure shown, when the self-test fails.

import { useEffect, useState } from 'react';
import { useSystem, type SelfTestState } from '../../state/system';
import { adapterName } from '../format';
import { StatusBadge } from '../StatusBadge';
import { AdapterReport } from './AdapterReport';
import { SelfTestReport } from './SelfTestReport';
import styles from './Gpu.module.css';

export function GpuSection() {
  const webgpu = useSystem((s) => s.webgpu);
  const adapter = useSystem((s) => s.adapter);
  const selfTest = useSystem((s) => s.selfTest);
  const failed = selfTest.status === 'failed';
  // null: as the self-test says (open when it fails); true/false: as the user set it.
  const [userOpen, setUserOpen] = useState<boolean | null>(null);
  useEffect(() => {
    if (failed) setUserOpen(null);
  }, [failed]);
  const open = userOpen ?? failed;
  const name = adapter ? adapterName(adapter) || 'Adapter (its name hidden by the browser)' : null;
  return (
    <section className={`panel ${styles.section}`} aria-labelledby="gpu-heading">
      <details
        open={open}
        onToggle={(e) => {
          if (e.currentTarget.open !== open) setUserOpen(e.currentTarget.open);
        }}
        data-testid="gpu-details"
      >
        <summary className={styles.summary}>
          <h2 id="gpu-heading" className={styles.heading}>
            Your GPU
          </h2>
          <span className={styles.line}>
            {webgpu === 'checking' || name === null ? (
              'Looking for a WebGPU adapter…'
            ) : (
              <>
                {name}
                {adapter?.isCpu ? ' · CPU fallback (slow)' : ''} · kernel self-test <StatusBadge status={selfTest.status} testId="selftest-status" />{' '}
                <span className="muted">{shortSummary(selfTest)}</span>
              </>
            )}
          </span>
        </summary>
        {adapter !== null && (
          <div className={styles.body}>
            <AdapterReport />
            <SelfTestReport />
          </div>
        )}
      </details>
    </section>
  );
}

function shortSummary({ status, cases, total }: SelfTestState): string {
  switch (status) {
    case 'idle':
      return '';
    case 'running':
      return total === null ? 'compiling…' : `${cases.length} of ${total} cases`;
    case 'passed':
      return `${total} cases agree with the CPU reference`;
    case 'failed':
      return `${cases.filter((c) => !c.passed).length} of ${total ?? cases.length} cases failed: see below`;
  }
}
