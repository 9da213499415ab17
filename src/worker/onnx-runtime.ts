// onnxruntime-web in the engine worker: a finished run's exported ONNX model (its artifacts'
// onnx/model.onnx, built from the merged weights at the run's export stage) in a session per run
// and runtime: on WebGPU when onnxruntime-web's WebGPU provider takes the model, else on WASM
// ('onnxruntime-web'), or on WASM alone ('onnxruntime-web-wasm'). The library and its WASM binary
// load only when Try it first asks for onnxruntime-web: the bundler serves the binary (the URL
// below), so nothing is fetched from elsewhere.

import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { onnxFileName } from '../export/onnx-files';
import type { OnnxDecoder, OnnxProvider } from '../onnx/session';
import type { Run } from '../run/run';
import type { OnnxRuntime } from './protocol';

/** Sessions by run id, then runtime, created on first use. */
const sessions = new Map<number, Map<OnnxRuntime, Promise<OnnxDecoder>>>();

/** The providers a runtime tries, in order (undefined: onnxruntime-web's WebGPU where the worker has it, then WASM). */
function providersOf(runtime: OnnxRuntime): OnnxProvider[] | undefined {
  return runtime === 'onnxruntime-web-wasm' ? ['wasm'] : undefined;
}

/** The run's ONNX model in onnxruntime-web (the session is kept for the run's later generations on that runtime). */
export function onnxDecoderOf(runId: number, run: Run, runtime: OnnxRuntime): Promise<OnnxDecoder> {
  const ofRun = sessions.get(runId) ?? new Map<OnnxRuntime, Promise<OnnxDecoder>>();
  sessions.set(runId, ofRun);
  let decoder = ofRun.get(runtime);
  if (decoder === undefined) {
    const file = onnxFileName('fp32');
    const model = run.result?.artifacts.get(file);
    const data = run.result?.artifacts.get(`${file}_data`);
    if (run.model === null || model === undefined) {
      return Promise.reject(new Error(`run ${runId} has no ONNX model (${file}): it is ${run.status}, and its output has ${run.result === null ? 'not been written yet' : 'no ONNX export'}`));
    }
    const config = run.model.config;
    decoder = (async () => {
      const { OnnxDecoder, configureOnnxForBrowser } = await import('../onnx/session');
      configureOnnxForBrowser(wasmUrl);
      return OnnxDecoder.create({ model, ...(data ? { externalData: { path: `${file.split('/').at(-1)}_data`, data } } : {}) }, config, providersOf(runtime));
    })();
    ofRun.set(runtime, decoder);
    decoder.catch(() => ofRun.delete(runtime));
  }
  return decoder;
}

/** Ends the sessions of `runId` (every run's without one). */
export function releaseOnnx(runId?: number): void {
  for (const [id, ofRun] of sessions) {
    if (runId !== undefined && id !== runId) continue;
    sessions.delete(id);
    for (const decoder of ofRun.values()) void decoder.then((d) => d.release()).catch(() => undefined);
  }
}
