// "Try the engine": one button that starts the training worker, loads the stories260K preset
// and streams greedy text from it into the page, with how long each stage took.

import { useId } from 'react';
import { ENGINE_DEMO_MODEL, MAX_ENGINE_STEPS, useEngine, type EngineState } from '../state/engine';
import { formatMs } from './format';
import { StatusBadge } from './StatusBadge';

export function EnginePanel() {
  const status = useEngine((s) => s.status);
  const steps = useEngine((s) => s.steps);
  const output = useEngine((s) => s.output);
  const tokens = useEngine((s) => s.tokens);
  const error = useEngine((s) => s.error);
  const setSteps = useEngine((s) => s.setSteps);
  const tryEngine = useEngine((s) => s.tryEngine);
  const summary = useEngine(summaryText);
  const stepsId = useId();
  const busy = status === 'loading' || status === 'generating';
  return (
    <section className="panel" aria-labelledby="engine-heading">
      <div className="panel-head">
        <h2 id="engine-heading">Try the engine</h2>
        <div className="controls">
          <label htmlFor={stepsId}>Positions</label>
          <input
            id={stepsId}
            type="number"
            min={1}
            max={MAX_ENGINE_STEPS}
            value={steps}
            disabled={busy}
            onChange={(e) => setSteps(e.currentTarget.valueAsNumber)}
            data-testid="engine-steps"
          />
          <button type="button" onClick={() => void tryEngine()} disabled={busy} data-testid="engine-start">
            {status === 'idle' ? 'Try the engine' : 'Generate again'}
          </button>
        </div>
      </div>
      <p className="muted">
        Writes with Karpathy's <code>{ENGINE_DEMO_MODEL.kind === 'preset' ? ENGINE_DEMO_MODEL.name : 'model'}</code> (a 260K-parameter
        TinyStories Llama, embedded in the page), greedily from an empty prompt, on this GPU, in the engine worker with a
        KV cache. The text should match llama2.c's <code>run.c</code> word for word.
      </p>
      <div className={`summary summary-${status === 'done' ? 'passed' : status === 'error' ? 'failed' : busy ? 'running' : 'idle'}`} role="status" aria-live="polite">
        <StatusBadge status={status} testId="engine-status" />
        <span data-testid="engine-summary">{summary}</span>
      </div>
      {error !== null && (
        <p className="error-text" data-testid="engine-error">
          {error}
        </p>
      )}
      <pre className="generated" data-testid="engine-output" data-tokens={tokens.join(',')} aria-busy={busy}>
        {output}
      </pre>
    </section>
  );
}

function summaryText(s: EngineState): string {
  const t = s.timings;
  switch (s.status) {
    case 'idle':
      return `Runs ${s.steps} positions from BOS.`;
    case 'loading':
      return 'Loading the model and compiling the kernels…';
    case 'generating':
      return `Generating: ${s.tokens.length} tokens so far…`;
    case 'done': {
      const parts = [];
      if (t.firstTokenMs !== null) parts.push(`first token after ${formatMs(t.firstTokenMs)}`);
      if (t.generateMs !== null) parts.push(`${t.tokens} tokens in ${formatMs(t.generateMs)} (${tokensPerSecond(s)} tok/s)`);
      return `${parts.join('; ')}.`;
    }
    case 'error':
      return 'The engine stopped.';
  }
}

function tokensPerSecond(s: EngineState): string {
  const { tokens, generateMs } = s.timings;
  return generateMs === null || generateMs === 0 ? '—' : (tokens / (generateMs / 1000)).toFixed(1);
}
