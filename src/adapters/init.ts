// Adapter factors at step 0, per the init table of docs/D2LORA.md, drawn from the seeded
// generator. Factors are fp32 (what the GPU trains), row-major: U is (out, r), D is (r, in),
// DoRA's magnitude m is (out). Also the one place that knows how a base weight W0 is laid out
// and computes its row norms c_j = ‖W0_j‖.

import type { WeightLayout } from '../ops/matmul';
import { Rng } from '../util/rng';
import { checkAdapterConfig, type AdapterConfig, type AdapterMethod, type LayerShape } from './config';

export type RealArray = Float32Array | Float64Array;

/**
 * How W0's (out, in) elements sit in memory: 'out_in' is row-major (out, in), the PyTorch /
 * safetensors layout; 'in_out' is row-major (in, out), GPT-2's Conv1D. Code reads W0 through
 * this flag; it never makes a transposed copy. (Defined beside the matmul that reads it.)
 */
export type { WeightLayout };

export interface AdapterTensor<T extends RealArray = Float32Array> {
  shape: number[];
  data: T;
}

/** One layer's trainable adapter tensors; `tensors` holds exactly ADAPTER_TENSOR_NAMES[method]. */
export interface AdapterParams<T extends RealArray = Float32Array> {
  method: AdapterMethod;
  r: number;
  out: number;
  in: number;
  tensors: Record<string, AdapterTensor<T>>;
}

/** The layer an adapter is initialised for; `key` (tensor name or layer index) salts its streams. */
export interface AdapterLayer extends LayerShape {
  key: string | number;
}

export const ADAPTER_TENSOR_NAMES: Record<AdapterMethod, readonly string[]> = {
  d2lora: ['uPlus', 'dPlus', 'uMinus', 'dMinus'],
  lora: ['u', 'd'],
  dora: ['u', 'd', 'm'],
};

/** Shape of every tensor of `method` at rank r on an (out, in) layer. */
export function adapterTensorShapes(method: AdapterMethod, r: number, layer: LayerShape): Record<string, number[]> {
  const up = [layer.out, r];
  const down = [r, layer.in];
  switch (method) {
    case 'd2lora':
      return { uPlus: up, dPlus: down, uMinus: up, dMinus: down };
    case 'lora':
      return { u: up, d: down };
    case 'dora':
      return { u: up, d: down, m: [layer.out] };
  }
}

/** Element (j, i) of W0 is at data[j·row + i·col]. */
export function baseWeightStrides(layout: WeightLayout, layer: LayerShape): { row: number; col: number } {
  return layout === 'out_in' ? { row: layer.in, col: 1 } : { row: 1, col: layer.out };
}

/** c_j = ‖W0_j‖ in f64, one per output feature. W0 holds (out, in) in `layout`. */
export function baseRowNorms(W0: RealArray, layer: LayerShape, layout: WeightLayout = 'out_in'): Float64Array {
  if (W0.length !== layer.out * layer.in) {
    throw new RangeError(`W0: ${W0.length} elements; expected out·in = ${layer.out}·${layer.in}`);
  }
  const { row, col } = baseWeightStrides(layout, layer);
  const c = new Float64Array(layer.out);
  for (let j = 0; j < layer.out; j++) {
    let sumSquares = 0;
    for (let i = 0; i < layer.in; i++) sumSquares += W0[j * row + i * col] ** 2;
    c[j] = Math.sqrt(sumSquares);
  }
  return c;
}

function zeros(shape: number[]): AdapterTensor {
  return { shape, data: new Float32Array(shape[0] * shape[1]) };
}

/** Kaiming-uniform as PEFT's lora_A: U(−bound, bound), bound = 1/√fan_in (a = √5 makes gain·√(3/fan_in) = 1/√fan_in). */
function kaimingUniform(shape: number[], fanIn: number, rng: Rng): AdapterTensor {
  const bound = 1 / Math.sqrt(fanIn);
  const data = new Float32Array(shape[0] * shape[1]);
  for (let k = 0; k < data.length; k++) data[k] = rng.uniform(-bound, bound);
  return { shape, data };
}

/**
 * Step-0 factors for `layer` (W0 is (out, in)); ΔW = 0 for every method, so the adapted layer
 * starts at the base layer. Deterministic in (cfg.seed, layer.key). Streams: 'down' draws D₊
 * (D2-LoRA) and D (LoRA, DoRA) alike, so the methods start from the same down factor for the
 * same seed; 'upMinus' draws U₋ independently.
 *
 *   D2-LoRA: U₊ = 0, D₊ ~ U(±1/√in), U₋ ~ U(±1/√r), D₋ = 0
 *   LoRA:    U  = 0, D  ~ U(±1/√in)
 *   DoRA:    U  = 0, D  ~ U(±1/√in), m = c (row norms of W0, which DoRA requires)
 */
export function initAdapterParams(
  cfg: AdapterConfig,
  layer: AdapterLayer,
  W0?: RealArray,
  opts: { layout?: WeightLayout } = {},
): AdapterParams {
  const { method, r, seed } = checkAdapterConfig(cfg, layer);
  const shapes = adapterTensorShapes(method, r, layer);
  const streams = new Rng(seed).fork('adapter-init').fork(layer.key);
  const drawDown = (shape: number[]) => kaimingUniform(shape, layer.in, streams.fork('down'));
  const params = (tensors: Record<string, AdapterTensor>): AdapterParams => ({ method, r, out: layer.out, in: layer.in, tensors });

  switch (method) {
    case 'd2lora':
      return params({
        uPlus: zeros(shapes.uPlus),
        dPlus: drawDown(shapes.dPlus),
        uMinus: kaimingUniform(shapes.uMinus, r, streams.fork('upMinus')),
        dMinus: zeros(shapes.dMinus),
      });
    case 'lora':
      return params({ u: zeros(shapes.u), d: drawDown(shapes.d) });
    case 'dora': {
      if (W0 === undefined) throw new RangeError(`initAdapterParams: DoRA layer ${layer.key} needs W0 to set m = ‖W0_j‖`);
      const m = Float32Array.from(baseRowNorms(W0, layer, opts.layout));
      return params({ u: zeros(shapes.u), d: drawDown(shapes.d), m: { shape: shapes.m, data: m } });
    }
  }
}
