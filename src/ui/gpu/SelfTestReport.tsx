// The kernel self-test: each matmul kernel on this GPU against the CPU reference, case by case,
// with a PASS/FAIL summary and the button that runs it again.

import type { SelfTestCase } from '../../selftest/matmul';
import { useSystem, type SelfTestState } from '../../state/system';
import { formatMs } from '../format';
import styles from './Gpu.module.css';

export function SelfTestReport() {
  const selfTest = useSystem((s) => s.selfTest);
  const ready = useSystem((s) => s.webgpu === 'ready');
  const runSelfTest = useSystem((s) => s.runSelfTest);
  const { status, cases, error } = selfTest;
  return (
    <div className={styles.part}>
      <div className={styles.head}>
        <h3 className={styles.subhead}>Kernel self-test</h3>
        <button type="button" onClick={() => void runSelfTest()} disabled={!ready || status === 'running'} data-testid="selftest-again">
          Run the self-test again
        </button>
      </div>
      <p className="muted">
        Each matrix-multiply kernel runs on this GPU on awkward shapes, and every output is compared with a CPU
        reference computed in double precision. A case passes when its worst error stays within the float32 rounding
        bound (error / tolerance ≤ 1).
      </p>
      <p className={`summary summary-${status}`} data-testid="selftest-summary">
        {selfTestSummary(selfTest)}
      </p>
      {error && (
        <p className="error-text" data-testid="selftest-error">
          {error}
        </p>
      )}
      {cases.length > 0 && (
        <div className="table-scroll">
          <table className="cases" data-testid="selftest-table">
            <caption className="visually-hidden">Self-test cases</caption>
            <thead>
              <tr>
                <th scope="col">Kernel</th>
                <th scope="col">What it checks</th>
                <th scope="col" className="num">
                  M×N×K
                </th>
                <th scope="col" className="num">
                  Error / tolerance
                </th>
                <th scope="col" className="num">
                  Time
                </th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {cases.map((c) => (
                <tr key={c.name} className={c.passed ? undefined : 'row-failed'}>
                  <th scope="row">
                    <code>{c.name}</code>
                  </th>
                  <td>{c.label}</td>
                  <td className="num">
                    {c.M}×{c.N}×{c.K}
                  </td>
                  <td className="num">{formatRatio(c)}</td>
                  <td className="num">{formatMs(c.ms)}</td>
                  <td className={c.passed ? 'result-pass' : 'result-fail'}>{c.passed ? 'pass' : 'FAIL'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function selfTestSummary({ status, cases, total, report, error }: SelfTestState): string {
  switch (status) {
    case 'idle':
      return 'Waits for the GPU.';
    case 'running':
      return cases.length === 0 || total === null ? 'Compiling the kernels…' : `Running: ${cases.length} of ${total} cases done…`;
    case 'passed':
      return (
        `PASS: all ${total} cases agree with the CPU reference` +
        (report ? ` (${formatMs(report.totalMs)}, of which ${formatMs(report.compileMs)} compiling the kernels).` : '.')
      );
    case 'failed': {
      if (error) return `FAIL: the self-test stopped after ${cases.length}${total === null ? '' : ` of ${total}`} cases.`;
      const failed = cases.filter((c) => !c.passed).length;
      return `FAIL: ${failed} of ${total} cases exceed the rounding bound. This GPU's results cannot be trusted for training.`;
    }
  }
}

function formatRatio(c: SelfTestCase): string {
  const r = c.maxErrOverTol;
  if (!Number.isFinite(r)) return 'non-finite output';
  if (r === 0) return '0 (exact)';
  return r < 0.001 ? r.toExponential(1) : r.toFixed(3);
}
