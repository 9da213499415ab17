// A prompt continued by the base model and by the fine-tuned one, side by side, streamed token by
// token from the worker (KV-cached), each with its tokens/s. With an empty prompt and temperature
// 0 the base model writes as llama2.c's run.c does from BOS. A finished run's merged model runs on
// our engine or on onnxruntime-web (its ONNX export); RuntimeComparison sets the two side by side.

import { useEffect, useId, useState } from 'react';
import { onnxFileName } from '../../export/onnx-files';
import { useForm } from '../../state/form';
import { useRun } from '../../state/run';
import { MAX_STEPS_UNKNOWN_CONTEXT, tunedRuntime, useTry, type Continuation, type GenerationSettings } from '../../state/try';
import type { RuntimeUsed } from '../../worker/protocol';
import { providerName, RUNTIME_CHOICES, RuntimeComparison, runtimeName } from './RuntimeComparison';
import { formatMs } from '../format';
import { StatusBadge } from '../StatusBadge';
import styles from './Try.module.css';

/** The ONNX model onnxruntime-web runs (the worker exports float32 weights). */
const ONNX_MODEL_FILE = onnxFileName('fp32');

type NumberSetting = 'steps' | 'temperature' | 'topP' | 'seed';

export function Generation() {
  const settings = useTry((s) => s.settings);
  const setSettings = useTry((s) => s.setSettings);
  const generate = useTry((s) => s.generate);
  const stop = useTry((s) => s.stop);
  const generating = useTry((s) => s.generating);
  const base = useTry((s) => s.base);
  const tuned = useTry((s) => s.tuned);
  const runStatus = useRun((s) => s.status);
  const runId = useRun((s) => s.runId);
  const runSpec = useRun((s) => s.spec);
  const context = useRun((s) => s.model?.context ?? null);
  const formModel = useForm((s) => s.spec?.model ?? null);
  const hasOnnx = useRun((s) => s.artifacts.some((a) => a.name === ONNX_MODEL_FILE));
  const [invalid, setInvalid] = useState<Partial<Record<NumberSetting, boolean>>>({});
  const promptId = useId();
  const weightsId = useId();
  const runtimeId = useId();

  const model = runId !== null ? runSpec.model : formModel;
  const finished = runStatus === 'done';
  const tunedCan = runId !== null && (runStatus === 'paused' || finished);
  let blocked: string | null = null;
  if (model === null) blocked = 'The base model comes from the setup above, which has a problem.';
  else if (model.kind === 'files' && runId === null) blocked = 'Your picked model is loaded by a run: start one, then the base model can write.';
  else if (Object.values(invalid).some(Boolean)) blocked = 'A setting above is out of range.';
  const maxSteps = context ?? MAX_STEPS_UNKNOWN_CONTEXT;
  const field = (key: NumberSetting, label: string, min: number, max: number, step: number, integer: boolean) => (
    <NumberField
      key={key}
      label={label}
      value={settings[key]}
      min={min}
      max={max}
      step={step}
      integer={integer}
      disabled={generating}
      onChange={(v) => setSettings({ [key]: v } as Partial<GenerationSettings>)}
      onValidity={(ok) => setInvalid((s) => (s[key] === !ok ? s : { ...s, [key]: !ok }))}
      testId={`try-${key}`}
    />
  );
  const baseName = model === null ? 'the base model' : model.kind === 'preset' ? model.name : model.kind === 'hub' ? model.repo : model.kind === 'files' ? model.name : 'the base model';
  const tunedWeights = finished ? settings.weights : 'adapters';
  const runtime = hasOnnx ? tunedRuntime(settings, finished) : 'engine';
  return (
    <div className={styles.block}>
      <h3 className={styles.subhead}>Continue a prompt</h3>
      <label htmlFor={promptId} className={styles.fieldLabel}>
        Prompt
      </label>
      <textarea
        id={promptId}
        className={styles.promptInput}
        rows={Math.min(6, Math.max(2, settings.prompt.split('\n').length))}
        value={settings.prompt}
        placeholder="Empty: the model starts from BOS alone"
        onChange={(e) => setSettings({ prompt: e.currentTarget.value })}
        disabled={generating}
        data-testid="try-prompt"
      />
      <div className={styles.controls}>
        {field('steps', 'Positions', 1, maxSteps, 1, true)}
        {field('temperature', 'Temperature', 0, 2, 0.1, false)}
        {field('topP', 'Top-p', 0.01, 1, 0.05, false)}
        {field('seed', 'Seed', 0, 2 ** 31 - 1, 1, true)}
        <label htmlFor={weightsId}>Fine-tuned weights</label>
        <select
          id={weightsId}
          value={tunedWeights}
          onChange={(e) => setSettings({ weights: e.currentTarget.value as GenerationSettings['weights'] })}
          disabled={generating || !finished}
          data-testid="try-weights"
        >
          <option value="merged">merged</option>
          <option value="adapters">adapters live</option>
        </select>
        <label htmlFor={runtimeId}>Runtime</label>
        <select
          id={runtimeId}
          value={runtime}
          onChange={(e) => setSettings({ runtime: e.currentTarget.value as GenerationSettings['runtime'] })}
          disabled={generating || !finished || tunedWeights !== 'merged' || !hasOnnx}
          title="What runs the merged model: our WGSL kernels, or onnxruntime-web on the run's ONNX export"
          data-testid="try-runtime"
        >
          {RUNTIME_CHOICES.map(({ runtime: r, label }) => (
            <option key={r} value={r}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <div className={styles.controls}>
        <button type="button" className="primary" onClick={() => void generate()} disabled={generating || blocked !== null} data-testid="try-generate">
          Generate
        </button>
        <button type="button" onClick={() => void stop()} disabled={!generating} data-testid="try-stop">
          Stop
        </button>
        <span className="muted">
          {blocked ??
            (settings.temperature === 0 ? 'Temperature 0: greedy, the likeliest token each time (top-p and seed do not matter).' : `Sampled with seed ${settings.seed}: the same settings write the same text.`)}
        </span>
      </div>
      <div className={styles.outputs}>
        <Output title={`Base model (${baseName})`} c={base} which="base" />
        {tuned !== null ? (
          <Output title={`Fine-tuned (${tunedWeights === 'merged' ? 'merged weights' : 'adapters live'})${tuned.runtime ? ` on ${runtimeName(tuned.runtime)}` : ''}`} c={tuned} which="tuned" />
        ) : (
          <div className={styles.output}>
            <div className={styles.outputHead}>
              <span className={styles.outputTitle}>Fine-tuned</span>
            </div>
            <p className={styles.placeholder} data-testid="try-tuned-note">
              {tunedCan ? 'Generate writes with the fine-tuned model too, after the base model.' : 'Once a run is paused or finished, its fine-tuned model writes here, after the base model.'}
            </p>
          </div>
        )}
      </div>
      <RuntimeComparison />
    </div>
  );
}

function Output({ title, c, which }: { title: string; c: Continuation; which: 'base' | 'tuned' }) {
  const busy = c.status === 'loading' || c.status === 'generating';
  return (
    <div className={styles.output}>
      <div className={styles.outputHead}>
        <span className={styles.outputTitle}>{title}</span>
        <StatusBadge status={c.status} testId={`try-status-${which}`} />
      </div>
      {/* Focusable: a long continuation scrolls inside it. */}
      <pre className={`model-text ${styles.generated}`} tabIndex={0} aria-label={`${title}: text`} data-testid={`try-output-${which}`} data-tokens={c.tokens.join(',')} aria-busy={busy}>
        {c.prompt !== '' && c.text.startsWith(c.prompt) ? (
          <>
            <span className={styles.given}>{c.prompt}</span>
            {c.text.slice(c.prompt.length)}
          </>
        ) : (
          c.text
        )}
      </pre>
      <p className={styles.stats} data-testid={`try-summary-${which}`}>
        {summaryOf(c)}
      </p>
      {c.error !== null && (
        <p className="error-text" data-testid={`try-error-${which}`}>
          {c.error}
        </p>
      )}
    </div>
  );
}

function summaryOf(c: Continuation): string {
  switch (c.status) {
    case 'idle':
      return c.text === '' ? 'Waiting for Generate.' : '';
    case 'loading':
      return 'Loading the model (compiling the kernels, or creating onnxruntime-web\'s session)…';
    case 'generating':
      return `${c.tokens.length} tokens so far…`;
    case 'done': {
      const rate = c.tokensPerSecond === null ? '' : ` · ${c.tokensPerSecond.toFixed(1)} tokens/s`;
      return `${c.generated} tokens${rate}${c.firstTokenMs !== null ? ` · first token after ${formatMs(c.firstTokenMs)}` : ''}${fallbackNote(c.runtime)}`;
    }
    case 'cancelled':
      return `Stopped after ${c.tokens.length} tokens.`;
    case 'error':
      return 'The engine stopped.';
  }
}

/** Why onnxruntime-web ran on WASM when WebGPU was tried first. */
function fallbackNote(r: RuntimeUsed | null): string {
  if (r === null || r.name !== 'onnxruntime-web' || r.refused.length === 0) return '';
  return ` · ${r.refused.map((x) => `${providerName(x.provider)} refused the model (${x.reason})`).join('; ')}: ${providerName(r.provider)} ran it`;
}

interface NumberFieldProps {
  label: string;
  value: number;
  min: number;
  max: number;
  step: number;
  integer: boolean;
  disabled: boolean;
  onChange: (v: number) => void;
  onValidity: (ok: boolean) => void;
  testId: string;
}

/** A number input that keeps what is typed, passes on only values in range, and says when one is not. */
function NumberField({ label, value, min, max, step, integer, disabled, onChange, onValidity, testId }: NumberFieldProps) {
  const id = useId();
  const errorId = useId();
  const [text, setText] = useState(String(value));
  const parsed = Number(text);
  const ok = text.trim() !== '' && Number.isFinite(parsed) && parsed >= min && parsed <= max && (!integer || Number.isInteger(parsed));
  // The parent disables Generate while a field holds something out of range (also after the range shrinks).
  useEffect(() => onValidity(ok), [ok]);
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        min={min}
        max={max}
        step={step}
        value={text}
        disabled={disabled}
        aria-invalid={!ok}
        aria-describedby={ok ? undefined : errorId}
        className={styles.number}
        onChange={(e) => {
          const next = e.currentTarget.value;
          setText(next);
          const n = Number(next);
          if (next.trim() !== '' && Number.isFinite(n) && n >= min && n <= max && (!integer || Number.isInteger(n))) onChange(n);
        }}
        data-testid={testId}
      />
      {!ok && (
        <span id={errorId} className={styles.invalid}>
          {integer ? 'a whole number' : 'a number'} from {min} to {max}
        </span>
      )}
    </>
  );
}
