// Where the unit tests find the public weights and data the project does not commit (every preset
// but the embedded stories260K, and the QA data): the folder named by $D2LORA_MIRROR, else
// ../shared beside the repository (as CI and these machines have it).

import { resolve } from 'node:path';
import type { ModelConfig } from '../../src/model/config';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export function mirrorPath(relative: string): string {
  const folder = process.env.D2LORA_MIRROR;
  return resolve(folder === undefined ? resolve(repoRoot, '../shared') : resolve(folder), relative);
}

/** stories260K's configuration as its llama2.c header and run.c's constants give it. */
export const STORIES260K_CONFIG: ModelConfig = {
  family: 'llama',
  vocabSize: 512,
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 5,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 8,
  maxPositions: 512,
  normEps: 1e-5,
  ropeTheta: 10000,
  ropeStyle: 'interleaved',
  tiedEmbeddings: true,
  attentionBias: false,
  bosTokenId: 1,
  eosTokenId: 2,
};

