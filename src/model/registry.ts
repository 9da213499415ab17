// The models the playground offers by name: where each is published, which files it needs, and
// their sha256 where known. An embedded preset's files ship with the project (public/models/<preset
// name>/, see src/io/embedded.ts) and are read from there first. A mirror folder (see
// src/io/mirror.ts) holds the same files under models/<preset name>/<file name>; without one they
// are downloaded from these public URLs.

import { didYouMean } from '../util/suggest';
import type { ModelFamily } from './config';

export interface PresetFile {
  /** The file's name, also its name in the mirror folder. */
  name: string;
  /** Where it is published, when not at the preset's baseUrl + name. */
  url?: string;
  /** Lowercase hex; null where no checksum is published. */
  sha256: string | null;
}

interface PresetCommon {
  name: string;
  family: ModelFamily;
  description: string;
  /** Ends with '/': file URLs are baseUrl + file name. */
  baseUrl: string;
  files: PresetFile[];
  /** Download size of all files, roughly, in bytes. */
  approxBytes: number;
  /** Its files ship with the project (src/io/embedded.ts): read from there before any mirror or download. */
  embedded?: true;
}

export type ModelPreset =
  | (PresetCommon & { format: 'llama2c'; checkpointFile: string; tokenizerFile: string })
  | (PresetCommon & { format: 'hf' });

const TINYLLAMAS = 'https://huggingface.co/karpathy/tinyllamas/resolve/main/';
/** The Llama 2 vocabulary (32000 tokens) that stories15M/42M/110M use. */
const LLAMA2_TOKENIZER: PresetFile = {
  name: 'tokenizer.bin',
  url: 'https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.bin',
  sha256: null,
};
const HF_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

function tinyStories(size: '15M' | '42M' | '110M', approxBytes: number): ModelPreset {
  const checkpoint = `stories${size}.bin`;
  return {
    name: `stories${size}`,
    family: 'llama',
    format: 'llama2c',
    description: `Karpathy's TinyStories Llama-2 model, ${size} parameters (llama2.c format, fp32)`,
    baseUrl: TINYLLAMAS,
    files: [{ name: checkpoint, sha256: null }, LLAMA2_TOKENIZER],
    checkpointFile: checkpoint,
    tokenizerFile: LLAMA2_TOKENIZER.name,
    approxBytes,
  };
}

function hfModel(repo: string, family: ModelFamily, description: string, approxBytes: number): ModelPreset {
  return {
    name: repo.slice(repo.indexOf('/') + 1),
    family,
    format: 'hf',
    description,
    baseUrl: `https://huggingface.co/${repo}/resolve/main/`,
    files: HF_FILES.map((name) => ({ name, sha256: null })),
    approxBytes,
  };
}

export const MODEL_PRESETS: readonly ModelPreset[] = [
  {
    name: 'stories260K',
    family: 'llama',
    format: 'llama2c',
    description: "Karpathy's TinyStories Llama-2 model, 260K parameters, 512-token vocabulary (llama2.c format, fp32)",
    baseUrl: `${TINYLLAMAS}stories260K/`,
    files: [
      { name: 'stories260K.bin', sha256: 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696' },
      { name: 'tok512.bin', sha256: '037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312' },
    ],
    checkpointFile: 'stories260K.bin',
    tokenizerFile: 'tok512.bin',
    approxBytes: 1_062_767,
    embedded: true,
  },
  tinyStories('15M', 61_000_000),
  tinyStories('42M', 167_000_000),
  tinyStories('110M', 438_000_000),
  hfModel('HuggingFaceTB/SmolLM2-135M', 'llama', 'SmolLM2 135M base (Llama architecture, bf16)', 272_000_000),
  hfModel('HuggingFaceTB/SmolLM2-135M-Instruct', 'llama', 'SmolLM2 135M instruction-tuned (Llama architecture, bf16)', 272_000_000),
  hfModel('HuggingFaceTB/SmolLM2-360M-Instruct', 'llama', 'SmolLM2 360M instruction-tuned (Llama architecture, bf16)', 728_000_000),
  hfModel('Qwen/Qwen2.5-0.5B-Instruct', 'qwen2', 'Qwen2.5 0.5B instruction-tuned (q/k/v biases, tied embeddings, bf16)', 995_000_000),
];

/** The preset of that name, or undefined. */
export function findPreset(name: string): ModelPreset | undefined {
  return MODEL_PRESETS.find((p) => p.name === name);
}

/** The preset of that name; an unknown name throws, suggesting the nearest and listing the known ones. */
export function getPreset(name: string): ModelPreset {
  const preset = findPreset(name);
  if (preset === undefined) {
    const names = MODEL_PRESETS.map((p) => p.name);
    throw new RangeError(`unknown model preset "${name}"${didYouMean(name, names)}; expected one of ${names.join(', ')}`);
  }
  return preset;
}

/** Where a preset's file is published. */
export function presetFileUrl(preset: ModelPreset, file: PresetFile): string {
  return file.url ?? `${preset.baseUrl}${file.name}`;
}
