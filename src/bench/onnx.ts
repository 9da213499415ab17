// Our engine against onnxruntime-web on the same model: greedy decoding from BOS, the engine
// through its KV cache (src/model/kv-cache.ts) and the exported ONNX decoder (src/export/onnx.ts)
// through onnxruntime-web's (src/onnx/session.ts), one position per token after the first, as
// tokens per second. Rounds alternate (engine, onnxruntime, three times each) and each side's
// median is reported, so that a change of load on a shared machine reaches both figures; the row
// says whether both chose the same tokens. In Node onnxruntime-web runs WASM only; the page's
// Try it section measures its WebGPU provider in the browser.

import { exportOnnx, onnxFileName } from '../export/onnx';
import type { GpuContext } from '../gpu/context';
import type { LoadedModel } from '../io/load';
import { GpuModel } from '../model/gpu-model';
import { OnnxDecoder, type OnnxProvider } from '../onnx/session';
import { cachedRun, greedy } from './generation';

export interface OnnxBenchRow {
  model: string;
  /** Positions run, BOS included. */
  positions: number;
  engineTokensPerSecond: number;
  provider: OnnxProvider;
  onnxTokensPerSecond: number;
  /** onnxruntime / engine tokens per second. */
  ratio: number;
  tokensAgree: boolean;
}

/** What the benchmark reads of a model: what the export needs. */
export type OnnxBenchModel = Pick<LoadedModel, 'name' | 'config' | 'weights' | 'stored' | 'files'>;

export async function benchOnnx(ctx: GpuContext, model: OnnxBenchModel, opts: { positions: number; providers?: OnnxProvider[]; onRow?: (row: OnnxBenchRow) => void }): Promise<OnnxBenchRow> {
  const c = model.config;
  const n = Math.min(opts.positions, c.maxPositions);
  const bos = c.bosTokenId ?? 0;
  const files = exportOnnx(model, model.weights, { producer: { name: 'd2lora-playground bench', version: '0' } });
  const decoder = await OnnxDecoder.create({ model: files.get(onnxFileName('fp32'))! }, c, opts.providers ?? ['wasm']);
  const engine = new GpuModel(ctx, c, model.weights);
  const onnxRun = async (positions: number) => {
    const s = decoder.sequence();
    const last = (logits: Float32Array) => logits.subarray(logits.length - c.vocabSize);
    try {
      return await greedy(bos, positions, async (tokens) => last(await s.run(tokens.length === 1 ? tokens : tokens.slice(-1))));
    } finally {
      s.release();
    }
  };
  try {
    // Warm-up: the engine's pipelines and buffer pool, onnxruntime's first runs.
    await cachedRun(engine, bos, 8);
    await onnxRun(8);
    const engineRuns = [];
    const onnxRuns = [];
    for (let round = 0; round < 3; round++) {
      engineRuns.push(await cachedRun(engine, bos, n));
      onnxRuns.push(await onnxRun(n));
    }
    const median = <T extends { ms: number }>(runs: T[]) => [...runs].sort((a, b) => a.ms - b.ms)[1]!;
    const e = median(engineRuns);
    const o = median(onnxRuns);
    const row: OnnxBenchRow = {
      model: model.name,
      positions: n,
      engineTokensPerSecond: n / (e.ms / 1000),
      provider: decoder.provider,
      onnxTokensPerSecond: n / (o.ms / 1000),
      ratio: e.ms / o.ms,
      tokensAgree: e.tokens.every((t, i) => t === o.tokens[i]),
    };
    opts.onRow?.(row);
    return row;
  } finally {
    engine.destroy();
    await decoder.release();
  }
}
