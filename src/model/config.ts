// The architecture description every model family resolves to, whatever file it came from
// (llama2.c .bin header, Hugging Face config.json). Weights are addressed by Hugging Face
// tensor names (see weightNames in src/model/names.ts).

import type { RopeStyle } from '../ops/rope';

export type ModelFamily = 'llama' | 'qwen2' | 'gpt2';

/** How RoPE pairs the features of a head (defined with its kernel, src/ops/rope.ts). */
export type { RopeStyle } from '../ops/rope';

export interface ModelConfig {
  family: ModelFamily;
  vocabSize: number;
  /** Model width (dim, n_embd). */
  hiddenSize: number;
  /** Feed-forward width (llama2.c hidden_dim, GPT-2 4·n_embd unless n_inner). */
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Longest sequence the model was trained for (positions). */
  maxPositions: number;
  /** RMSNorm / LayerNorm ε. */
  normEps: number;
  ropeTheta: number;
  ropeStyle: RopeStyle;
  /** Classifier shares the token embedding. */
  tiedEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2). GPT-2 has biases everywhere regardless. */
  attentionBias: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
}

/** A named host tensor, row-major f32 (every dtype is converted on load). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export type WeightMap = Map<string, HostTensor>;

export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
  constructor(
    readonly where: string,
    /** What is wrong, without where: "headDim 256 is over the attention kernel's 128". */
    readonly problem: string,
  ) {
    super(`${where}: ${problem}`);
  }
}

/** Checks the invariants the kernels rely on; throws naming the field. */
export function validateModelConfig(c: ModelConfig, where: string): ModelConfig {
  const positive = ['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'maxPositions'] as const;
  for (const f of positive) {
    if (!Number.isInteger(c[f]) || c[f] <= 0) throw new ModelConfigError(where, `${f} must be a positive integer, found ${c[f]}`);
  }
  if (c.numHeads % c.numKvHeads !== 0) {
    throw new ModelConfigError(where, `numHeads (${c.numHeads}) must be a multiple of numKvHeads (${c.numKvHeads})`);
  }
  if (c.family !== 'gpt2' && c.headDim % 2 !== 0) throw new ModelConfigError(where, `headDim must be even for RoPE, found ${c.headDim}`);
  if (c.headDim > 128) throw new ModelConfigError(where, `headDim ${c.headDim} is over the attention kernel's 128`);
  if (!(c.normEps > 0)) throw new ModelConfigError(where, `normEps must be > 0, found ${c.normEps}`);
  if (c.family !== 'gpt2' && !(c.ropeTheta > 0)) throw new ModelConfigError(where, `ropeTheta must be > 0, found ${c.ropeTheta}`);
  return c;
}
