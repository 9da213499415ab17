// A small coloured label whose text is the status word itself, so tests can read it as is.

import type { RunStatus } from '../state/run';
import type { SelfTestStatus, WebGpuStatus } from '../state/system';
import type { GenerationStatus } from '../state/try';

type Status = WebGpuStatus | SelfTestStatus | GenerationStatus | RunStatus;

const TONE: Record<Status, 'ok' | 'bad' | 'busy' | 'idle'> = {
  ready: 'ok',
  passed: 'ok',
  unavailable: 'bad',
  error: 'bad',
  failed: 'bad',
  checking: 'busy',
  running: 'busy',
  loading: 'busy',
  generating: 'busy',
  done: 'ok',
  idle: 'idle',
  starting: 'busy',
  paused: 'idle',
  cancelled: 'bad',
};

export function StatusBadge({ status, testId }: { status: Status; testId: string }) {
  return (
    <span className={`badge badge-${TONE[status]}`} data-testid={testId}>
      {status}
    </span>
  );
}
