// The merged model's last continuation on each runtime — our engine and onnxruntime-web (the
// run's ONNX export, on its WebGPU provider with WASM as the fallback, or on WASM alone) — on the
// same prompt and settings, side by side: tokens, tokens/s, the wait for the first token, and
// whether each wrote our engine's text.

import { useTry, type RuntimeResult } from '../../state/try';
import type { OnnxProvider } from '../../onnx/session';
import type { GenerationRuntime, RuntimeUsed } from '../../worker/protocol';
import { formatMs } from '../format';
import styles from './RuntimeComparison.module.css';

/** The runtime switch's choices, in its order. */
export const RUNTIME_CHOICES: { runtime: GenerationRuntime; label: string }[] = [
  { runtime: 'engine', label: 'our engine' },
  { runtime: 'onnxruntime-web', label: 'onnxruntime-web (WebGPU, else WASM)' },
  { runtime: 'onnxruntime-web-wasm', label: 'onnxruntime-web (WASM)' },
];

/** "our engine (WGSL)", "onnxruntime-web (WebGPU)", "onnxruntime-web (WASM)": what ran. */
export function runtimeName(r: RuntimeUsed): string {
  return r.name === 'engine' ? 'our engine (WGSL)' : `onnxruntime-web (${providerName(r.provider)})`;
}

export function providerName(p: OnnxProvider): string {
  return p === 'webgpu' ? 'WebGPU' : 'WASM';
}

export function RuntimeComparison() {
  const runtimes = useTry((s) => s.runtimes);
  const rows = RUNTIME_CHOICES.flatMap(({ runtime }) => (runtimes[runtime] ? [[runtime, runtimes[runtime]] as const] : []));
  if (rows.length === 0) return null;
  return (
    <div className={styles.comparison} data-testid="try-runtimes">
      <h4 className={styles.head}>The merged model on each runtime, same prompt and settings</h4>
      <table className={styles.table}>
        <thead>
          <tr>
            <th scope="col">Runtime</th>
            <th scope="col" className="num">
              Tokens
            </th>
            <th scope="col" className="num">
              Tokens/s
            </th>
            <th scope="col" className="num">
              First token after
            </th>
            <th scope="col">Text</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([runtime, r]) => (
            <tr key={runtime} data-testid={`try-runtime-${runtime}`} data-provider={r.runtime.name === 'engine' ? 'engine' : r.runtime.provider} data-tokens-per-second={r.tokensPerSecond ?? ''}>
              <td>{runtimeName(r.runtime)}</td>
              <td className="num">{r.tokens.length}</td>
              <td className="num">{r.tokensPerSecond === null ? '–' : r.tokensPerSecond.toFixed(1)}</td>
              <td className="num">{r.firstTokenMs === null ? '–' : formatMs(r.firstTokenMs)}</td>
              <td>{runtime === 'engine' ? 'the reference' : runtimes.engine ? sameAs(runtimes.engine, r) : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className={styles.verdict} data-testid="try-runtimes-verdict">
        {verdict(runtimes)}
      </p>
    </div>
  );
}

/** Whether `b` wrote `a`'s text; where the tokens part if not. */
function sameAs(a: RuntimeResult, b: RuntimeResult): string {
  if (a.text === b.text) return 'the same as our engine\'s';
  const at = a.tokens.findIndex((t, i) => t !== b.tokens[i]);
  return `differs from token ${(at < 0 ? Math.min(a.tokens.length, b.tokens.length) : at) + 1}`;
}

function verdict(runtimes: Partial<Record<GenerationRuntime, RuntimeResult>>): string {
  const engine = runtimes.engine;
  const others = RUNTIME_CHOICES.flatMap(({ runtime }) => (runtime !== 'engine' && runtimes[runtime] ? [runtimes[runtime]] : []));
  const wait = 'An onnxruntime-web runtime\'s first generation of a run includes creating its session.';
  if (engine === undefined) return `Switch the runtime to our engine and generate again to compare. ${wait}`;
  if (others.length === 0) return `Switch the runtime to onnxruntime-web and generate again to compare. ${wait}`;
  const same = others.every((r) => r.text === engine.text);
  return `${same ? `The same text on every runtime, token for token (${engine.tokens.length} tokens).` : 'The texts differ (see Text).'} ${wait}`;
}
