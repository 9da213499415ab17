// Shown instead of everything else when the browser has no WebGPU or no adapter.

import { NO_WEBGPU_HELP, useSystem } from '../state/system';

export function UnavailablePanel() {
  const problem = useSystem((s) => s.problem) ?? NO_WEBGPU_HELP;
  return (
    <section className="panel panel-problem" aria-labelledby="unavailable-heading" data-testid="no-webgpu">
      <h2 id="unavailable-heading">WebGPU is not available here</h2>
      <p data-testid="no-webgpu-reason">{problem}</p>
      {problem !== NO_WEBGPU_HELP && (
        <details>
          <summary>Browsers and settings that work</summary>
          <p>{NO_WEBGPU_HELP}</p>
        </details>
      )}
      <p className="muted">
        The playground loads the model, trains the adapter and evaluates it with WebGPU compute shaders, so it needs
        a browser that exposes your GPU. Nothing is installed and nothing runs on a server.
      </p>
    </section>
  );
}
