// Random weights in a family's real shapes and tensor names: for tests, benchmarks and the
// export checks of architectures whose real checkpoints cannot be downloaded here.

import { Rng } from '../util/rng';
import { shapeSize } from '../util/shape';
import { validateModelConfig, type ModelConfig, type WeightMap } from './config';
import { expectedWeights } from './names';

/**
 * A tiny model of each family with every code path of the family (GQA for Llama and Qwen2,
 * Qwen2's q/k/v biases and tied classifier, GPT-2's fused qkv and learned positions), at sizes
 * the f64 reference model runs in milliseconds: the tests' and benchmarks' random models.
 */
export function tinyRandomConfig(family: ModelConfig['family'], maxPositions = 32): ModelConfig {
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
      maxPositions,
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

/**
 * Matrices ~ U(±1/√fan_in) (fan_in = last dim; GPT-2's Conv1D stores in×out, so its first dim),
 * embeddings ~ U(±0.5), norm weights 1 ± 0.1, biases ± 0.05: a model whose activations stay O(1)
 * through many layers, so that checks compare meaningful numbers.
 */
export function randomWeights(config: ModelConfig, seed: number): WeightMap {
  const rng = new Rng(seed).fork('random-weights');
  const out: WeightMap = new Map();
  for (const [name, shape] of expectedWeights(config)) {
    const r = rng.fork(name);
    const size = shapeSize(shape);
    const data = new Float32Array(size);
    const isNorm = /norm|ln_/.test(name);
    if (isNorm && name.endsWith('.weight')) {
      for (let i = 0; i < size; i++) data[i] = 1 + r.uniform(-0.1, 0.1);
    } else if (name.endsWith('.bias')) {
      for (let i = 0; i < size; i++) data[i] = r.uniform(-0.05, 0.05);
    } else if (/embed|wte|wpe/.test(name)) {
      for (let i = 0; i < size; i++) data[i] = r.uniform(-0.5, 0.5);
    } else {
      const fanIn = config.family === 'gpt2' ? shape[0]! : shape[shape.length - 1]!;
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < size; i++) data[i] = r.uniform(-bound, bound);
    }
    out.set(name, { shape: [...shape], data });
  }
  return out;
}
