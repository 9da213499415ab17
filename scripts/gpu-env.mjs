// Chooses the Vulkan driver Dawn uses in Node when the caller has not: the project's own
// lavapipe (.deps/lavapipe, installed by scripts/install-system-deps.sh) on machines without a
// system Vulkan driver. A machine with a real GPU driver keeps it.
// Imported by scripts/d2lora.mjs; run directly it prints `export` lines for shells.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const projectIcd = join(root, '.deps', 'lavapipe', 'lvp_icd.json');
const systemIcdDirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

export function gpuEnv(env = process.env) {
  const out = {};
  if (!env.XDG_RUNTIME_DIR) out.XDG_RUNTIME_DIR = '/tmp';
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES) return out;
  const systemIcds = systemIcdDirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.json')) : []));
  // Debian 12's own lavapipe (Mesa 22) is refused by Dawn, so it does not count as a driver.
  const usable = systemIcds.filter((f) => !/lvp|lavapipe/.test(f));
  if (usable.length === 0 && existsSync(projectIcd)) out.VK_ICD_FILENAMES = projectIcd;
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [k, v] of Object.entries(gpuEnv())) console.log(`export ${k}='${v}'`);
}
