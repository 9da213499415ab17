// Where the unit tests find the public weights and data the project never commits: the folder
// named by $D2LORA_MIRROR, else ../shared beside the repository (as CI and these machines have it).

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export function mirrorPath(relative: string): string {
  const folder = process.env.D2LORA_MIRROR;
  return resolve(folder === undefined ? resolve(repoRoot, '../shared') : resolve(folder), relative);
}
