// The exported decoder (src/onnx/decoder.ts) run by onnxruntime-web: a session on the first
// execution provider that accepts the model (WebGPU, then WASM, or as asked), and sequences that
// feed each call's present.* back as the next call's past_key_values.*, as transformers.js does.
// In Node, 'onnxruntime-web' runs its WASM build; in the browser the page's bundler serves the
// WASM file (src/worker/onnx-runtime.ts sets where).

import * as ort from 'onnxruntime-web';
import type { LogitsSource } from '../model/generate';

export type OnnxProvider = 'webgpu' | 'wasm';

/** What a session needs to know of the model to feed it. */
export interface DecoderDims {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number;
}

export interface OnnxModelBytes {
  model: Uint8Array;
  /** The external data file, by the name the model's initializers give it. */
  externalData?: { path: string; data: Uint8Array };
}

export class OnnxDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The provider the session runs on. */
    readonly provider: OnnxProvider,
    readonly dims: DecoderDims,
    /** Why each provider tried before it refused the model. */
    readonly refused: { provider: OnnxProvider; reason: string }[],
  ) {}

  /** A session on the first of `providers` that creates one (default: WebGPU where the platform has it, then WASM). */
  static async create(bytes: OnnxModelBytes, dims: DecoderDims, providers: readonly OnnxProvider[] = defaultProviders()): Promise<OnnxDecoder> {
    const refused: { provider: OnnxProvider; reason: string }[] = [];
    const present = Array.from({ length: dims.numLayers }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();
    for (const provider of providers) {
      try {
        const session = await ort.InferenceSession.create(bytes.model, {
          executionProviders: [provider],
          // Errors only: onnxruntime's warnings (initializers it folded away, nodes it placed) go to the console otherwise.
          logSeverityLevel: 3,
          ...(bytes.externalData ? { externalData: [bytes.externalData] } : {}),
          // The cache stays on the GPU between steps; only the logits are read back.
          ...(provider === 'webgpu' ? { preferredOutputLocation: Object.fromEntries(present.map((name) => [name, 'gpu-buffer' as const])) } : {}),
        });
        return new OnnxDecoder(session, provider, dims, refused);
      } catch (e) {
        refused.push({ provider, reason: e instanceof Error ? e.message : String(e) });
      }
    }
    throw new Error(`onnxruntime-web could not run the model on ${refused.map((r) => `${r.provider} (${r.reason})`).join(', ')}`);
  }

  /** A new sequence from position 0. */
  sequence(): OnnxSequence {
    return new OnnxSequence(this.session, this.dims);
  }

  /** generate()'s source of logits (src/model/generate.ts's generateWith): one sequence per generation. */
  logitsSource(): LogitsSource {
    const s = this.sequence();
    const last = (logits: Float32Array) => logits.subarray(logits.length - this.dims.vocabSize);
    return {
      prompt: async (tokens) => last(await s.run(tokens)),
      append: async (token) => last(await s.run([token])),
      destroy: () => s.release(),
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** One sequence's KV cache, as the session's outputs left it. */
export class OnnxSequence {
  position = 0;
  private past: ort.Tensor[];

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly dims: DecoderDims,
  ) {
    const empty = () => new ort.Tensor('float32', new Float32Array(0), [1, dims.numKvHeads, 0, dims.headDim]);
    this.past = Array.from({ length: 2 * dims.numLayers }, empty);
  }

  /** Runs `tokens` at the next positions; returns their logits (tokens × vocab). */
  async run(tokens: readonly number[]): Promise<Float32Array> {
    const n = tokens.length;
    const { numLayers, vocabSize, maxPositions } = this.dims;
    if (n === 0) throw new Error('OnnxSequence: no tokens to run');
    if (this.position + n > maxPositions) {
      throw new Error(`OnnxSequence: positions ${this.position}…${this.position + n - 1} are past the model's context of ${maxPositions}`);
    }
    const total = this.position + n;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, n]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (_, i) => BigInt(this.position + i)), [1, n]),
    };
    for (let i = 0; i < numLayers; i++) {
      feeds[`past_key_values.${i}.key`] = this.past[2 * i]!;
      feeds[`past_key_values.${i}.value`] = this.past[2 * i + 1]!;
    }
    const out = await this.session.run(feeds);
    const logits = out.logits!;
    if (logits.dims.length !== 3 || logits.dims[1] !== n || logits.dims[2] !== vocabSize) {
      throw new Error(`OnnxSequence: logits of shape [${logits.dims.join(', ')}], expected [1, ${n}, ${vocabSize}]`);
    }
    const values = (await logits.getData()) as Float32Array;
    this.disposePast();
    this.past = Array.from({ length: numLayers }, (_, i) => [out[`present.${i}.key`]!, out[`present.${i}.value`]!]).flat();
    this.position = total;
    return values;
  }

  /** Frees the cache (GPU buffers with the WebGPU provider). */
  release(): void {
    this.disposePast();
    this.past = [];
  }

  private disposePast(): void {
    for (const t of this.past) if (t.location === 'gpu-buffer') t.dispose();
  }
}

/** WebGPU first where the platform has it (a browser), then WASM. */
function defaultProviders(): OnnxProvider[] {
  return typeof navigator !== 'undefined' && 'gpu' in navigator ? ['webgpu', 'wasm'] : ['wasm'];
}

/**
 * In a browser: where onnxruntime-web's WASM binary is (the bundler's URL of it), and one thread
 * unless the page is cross-origin isolated (WASM threads need SharedArrayBuffer; onnxruntime
 * would fall back to one thread anyway, with a warning).
 */
export function configureOnnxForBrowser(wasmUrl: string): void {
  ort.env.wasm.wasmPaths = { wasm: wasmUrl };
  if (!globalThis.crossOriginIsolated) ort.env.wasm.numThreads = 1;
}
