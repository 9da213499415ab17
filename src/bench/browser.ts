// The ONNX benchmark (src/bench/onnx.ts) in the browser, where onnxruntime-web has its WebGPU
// provider: stories260K (the embedded preset, from the site) and the tiny random Llama, Qwen2 and
// GPT-2, each decoded by our engine, onnxruntime-web WebGPU and onnxruntime-web WASM in
// alternating rounds. scripts/browser-bench.ts loads this module into a page of the dev server
// and prints what it returns; the page itself does not import it.

import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { acquireBrowserContext } from '../gpu/browser';
import type { AdapterSummary } from '../gpu/context';
import { browserEmbeddedBase } from '../io/embedded';
import { loadModel } from '../io/load';
import { configureOnnxForBrowser } from '../onnx/session';
import { benchOnnx, BROWSER_ONNX_PROVIDERS, ONNX_BENCH_POSITIONS, onnxBenchCells, onnxBenchHeader, onnxBenchLine, tinyRandomBenchModel, type OnnxBenchRow } from './onnx';

export interface BrowserOnnxBench {
  adapter: AdapterSummary;
  userAgent: string;
  /** Whether onnxruntime-web's WASM could use threads (the page is cross-origin isolated). */
  wasmThreads: boolean;
  rows: OnnxBenchRow[];
  /** The rows as the benchmark prints them (formatTable's header and cells). */
  table: { header: string[]; cells: (string | number)[][] };
}

/** The benchmark; `onProgress` gets each row as a line (onnxBenchLine) as it is measured. */
export async function benchOnnxInBrowser(onProgress: (line: string) => void = () => undefined): Promise<BrowserOnnxBench> {
  configureOnnxForBrowser(wasmUrl);
  const ctx = await acquireBrowserContext();
  try {
    const stories = await loadModel({ kind: 'preset', name: 'stories260K' }, { embeddedModels: new URL(browserEmbeddedBase(), location.href).href });
    const models = [stories, ...(['llama', 'qwen2', 'gpt2'] as const).map((family) => tinyRandomBenchModel(family, ONNX_BENCH_POSITIONS))];
    const rows: OnnxBenchRow[] = [];
    for (const model of models) {
      const row = await benchOnnx(ctx, model, { positions: ONNX_BENCH_POSITIONS, providers: BROWSER_ONNX_PROVIDERS });
      onProgress(onnxBenchLine(row));
      rows.push(row);
    }
    const table = { header: onnxBenchHeader(BROWSER_ONNX_PROVIDERS), cells: rows.map((r) => onnxBenchCells(r, BROWSER_ONNX_PROVIDERS)) };
    return { adapter: ctx.adapter, userAgent: navigator.userAgent, wasmThreads: globalThis.crossOriginIsolated === true, rows, table };
  } finally {
    ctx.destroy();
  }
}
