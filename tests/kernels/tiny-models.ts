// Tiny models of each family for the model-level kernel tests: every code path of the family
// (GQA for Llama and Qwen2, Qwen2's q/k/v biases, GPT-2's fused qkv and learned positions) at
// sizes the f64 reference model runs in milliseconds. Weights come from src/model/random.ts.

import { validateModelConfig, type ModelConfig } from '../../src/model/config';

export function tinyConfig(family: ModelConfig['family']): ModelConfig {
  return validateModelConfig(
    {
      family,
      vocabSize: 67,
      hiddenSize: 24,
      intermediateSize: 40,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: family === 'gpt2' ? 4 : 2,
      headDim: 6,
      maxPositions: 32,
      normEps: 1e-5,
      ropeTheta: 10000,
      ropeStyle: 'half',
      tiedEmbeddings: family !== 'llama',
      attentionBias: family === 'qwen2',
      bosTokenId: 1,
      eosTokenId: 2,
    },
    `tiny ${family}`,
  );
}
