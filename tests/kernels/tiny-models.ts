// Tiny models of each family for the model-level kernel tests (src/model/random.ts has them, for
// the benchmarks too). Weights come from randomWeights there.

import type { ModelConfig } from '../../src/model/config';
import { tinyRandomConfig } from '../../src/model/random';

export function tinyConfig(family: ModelConfig['family']): ModelConfig {
  return tinyRandomConfig(family);
}
