// Our engine against onnxruntime-web on the same model: greedy decoding from BOS, the engine
// through its KV cache (src/model/kv-cache.ts) and the exported ONNX decoder (src/export/onnx.ts)
// through onnxruntime-web's (src/onnx/session.ts) on each provider asked for, one position per
// token after the first, as tokens per second. Rounds alternate (engine, then each provider, three
// times over) and each side's median is reported, so that a change of load on a shared machine
// reaches every figure; the row says whether each runtime chose the engine's tokens. In Node
// onnxruntime-web runs WASM only (`npm run bench -- --suite onnx`); in Chromium, WebGPU and WASM
// (`npm run bench:browser`, scripts/browser-bench.ts).

import { exportOnnx, onnxFileName } from '../export/onnx';
import type { GpuContext } from '../gpu/context';
import type { LoadedModel } from '../io/load';
import { GpuModel } from '../model/gpu-model';
import { randomWeights, tinyRandomConfig } from '../model/random';
import type { ModelConfig } from '../model/config';
import { OnnxDecoder, type OnnxProvider } from '../onnx/session';
import { cachedRun, greedy } from './generation';

export interface OnnxRuntimeFigure {
  provider: OnnxProvider;
  tokensPerSecond: number;
  /** onnxruntime / engine tokens per second. */
  ratio: number;
  tokensAgree: boolean;
}

export interface OnnxBenchRow {
  model: string;
  /** Positions run, BOS included. */
  positions: number;
  engineTokensPerSecond: number;
  onnx: OnnxRuntimeFigure[];
}

/** Positions each run decodes, BOS included. */
export const ONNX_BENCH_POSITIONS = 256;

/** The providers measured in the browser (Node's onnxruntime-web has WASM only). */
export const BROWSER_ONNX_PROVIDERS: readonly OnnxProvider[] = ['webgpu', 'wasm'];

/** What the benchmark reads of a model: what the export needs. */
export type OnnxBenchModel = Pick<LoadedModel, 'name' | 'config' | 'weights' | 'stored' | 'files'>;

/** The tiny random model of a family (src/model/random.ts) as the benchmark reads it, with room for `positions`. */
export function tinyRandomBenchModel(family: ModelConfig['family'], positions: number): OnnxBenchModel {
  const config = tinyRandomConfig(family, positions);
  const weights = randomWeights(config, 1);
  return { name: `tiny random ${family}`, config, weights, files: {}, stored: new Map([...weights.keys()].map((n) => [n, { name: n, dtype: 'F32' as const }])) };
}

export async function benchOnnx(ctx: GpuContext, model: OnnxBenchModel, opts: { positions: number; providers: readonly OnnxProvider[] }): Promise<OnnxBenchRow> {
  const c = model.config;
  const n = Math.min(opts.positions, c.maxPositions);
  const bos = c.bosTokenId ?? 0;
  const files = exportOnnx(model, model.weights, { producer: { name: 'd2lora-playground bench', version: '0' } });
  const engine = new GpuModel(ctx, c, model.weights);
  const decoders: OnnxDecoder[] = [];
  try {
    // One provider each: a provider that refuses the model is an error here, not a fallback.
    for (const provider of opts.providers) decoders.push(await OnnxDecoder.create({ model: files.get(onnxFileName('fp32'))! }, c, [provider]));
    const onnxRun = async (decoder: OnnxDecoder, positions: number) => {
      const s = decoder.sequence();
      const last = (logits: Float32Array) => logits.subarray(logits.length - c.vocabSize);
      try {
        return await greedy(bos, positions, async (tokens) => last(await s.run(tokens.length === 1 ? tokens : tokens.slice(-1))));
      } finally {
        s.release();
      }
    };
    // Warm-up: the engine's pipelines and buffer pool, onnxruntime's first runs.
    await cachedRun(engine, bos, 8);
    for (const d of decoders) await onnxRun(d, 8);
    const engineRuns = [];
    const onnxRuns: Awaited<ReturnType<typeof onnxRun>>[][] = decoders.map(() => []);
    for (let round = 0; round < 3; round++) {
      engineRuns.push(await cachedRun(engine, bos, n));
      for (const [i, d] of decoders.entries()) onnxRuns[i]!.push(await onnxRun(d, n));
    }
    const median = <T extends { ms: number }>(runs: T[]) => [...runs].sort((a, b) => a.ms - b.ms)[1]!;
    const e = median(engineRuns);
    return {
      model: model.name,
      positions: n,
      engineTokensPerSecond: n / (e.ms / 1000),
      onnx: decoders.map((d, i) => {
        const o = median(onnxRuns[i]!);
        return { provider: d.provider, tokensPerSecond: n / (o.ms / 1000), ratio: e.ms / o.ms, tokensAgree: e.tokens.every((t, j) => t === o.tokens[j]) };
      }),
    };
  } finally {
    engine.destroy();
    for (const d of decoders) await d.release();
  }
}

/** A row as the benchmark prints it: per provider, tokens/s, the ratio to the engine and whether the tokens agree. */
export function onnxBenchCells(row: OnnxBenchRow, providers: readonly OnnxProvider[]): (string | number)[] {
  const cells: (string | number)[] = [row.model, row.positions, row.engineTokensPerSecond];
  for (const p of providers) {
    const f = row.onnx.find((o) => o.provider === p);
    if (f === undefined) cells.push('–', '–', '–');
    else cells.push(f.tokensPerSecond, `${f.ratio.toFixed(2)}×`, f.tokensAgree ? 'yes' : 'NO');
  }
  return cells;
}

/** A row as one line of progress. */
export function onnxBenchLine(row: OnnxBenchRow): string {
  return `${row.model}: engine ${row.engineTokensPerSecond.toFixed(1)} tok/s, ${row.onnx.map((o) => `onnxruntime-web ${o.provider} ${o.tokensPerSecond.toFixed(1)} tok/s`).join(', ')}`;
}

export function onnxBenchHeader(providers: readonly OnnxProvider[]): string[] {
  return ['model', 'positions', 'engine tok/s', ...providers.flatMap((p) => [`onnxruntime-web ${p} tok/s`, `${p} / engine`, `${p} same tokens`])];
}
