// Shown when WebGPU exists but the device could not be created or was lost.

import { useSystem } from '../state/system';

export function GpuErrorPanel() {
  const problem = useSystem((s) => s.problem);
  return (
    <section className="panel panel-problem" role="alert" aria-labelledby="gpu-error-heading" data-testid="gpu-error">
      <h2 id="gpu-error-heading">The GPU stopped working for this page</h2>
      <p>{problem}</p>
      <p className="muted">Reload the page to ask the browser for a new device.</p>
    </section>
  );
}
