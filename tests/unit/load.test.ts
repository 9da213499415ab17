import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach, vi } from 'vitest';
import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserEmbeddedBase, embeddedModelFile } from '../../src/io/embedded';
import { ChecksumError } from '../../src/io/fetch-cache';
import { browserMirrorBase, mirrorDataFile, mirrorModelFile } from '../../src/io/mirror';
import { loadModel, resolveSourceString, type LoadedModel, type LoadOptions, type LocalFiles, type PickedFile } from '../../src/io/load';
import { readFileBytes } from '../../src/io/node-files';
import { loadModelInNode, NodeByteCache, nodeLoadOptions, nodeLocalFiles } from '../../src/io/node-source';
import { getPreset, MODEL_PRESETS, presetFileUrl } from '../../src/model/registry';
import { writeSafetensors } from '../../src/io/safetensors';
import { parseHfConfig } from '../../src/io/hf-config';
import type { ModelConfig } from '../../src/model/config';
import {
  formatErrorOf,
  GPT2_CONFIG,
  jsonBytes,
  LLAMA_CONFIG,
  QWEN2_CONFIG,
  randomWeights,
  shardedFiles,
  tempFolder,
  tensorsOf,
  tinyTokenizerConfig,
  tinyTokenizerJson,
  writeFolder,
} from './hf-fixtures';
import { FileServer } from './http-fixture';
import { mirrorPath, STORIES260K_CONFIG } from './mirror';

const MIRROR = mirrorPath('.');
function expectStories260K(model: LoadedModel): void {
  expect(model.name).toBe('stories260K');
  expect(model.config).toEqual(STORIES260K_CONFIG);
  expect(model.weights.get('model.layers.4.mlp.down_proj.weight')!.shape).toEqual([64, 172]);
  expect(model.tokenizer.vocabSize).toBe(512);
  expect([model.tokenizer.bosId, model.tokenizer.eosId]).toEqual([1, 2]);
  expect(model.tokenizer.encode('Once upon a time', { bos: true })).toEqual([1, 403, 407, 261, 378]);
  expect(Object.keys(model.files)).toEqual(['tok512.bin']);
}

describe('the mirror layout', () => {
  it('lays files out like ../shared', async () => {
    expect(mirrorModelFile('stories260K', 'tok512.bin')).toBe('models/stories260K/tok512.bin');
    expect(mirrorDataFile('boolq', 'train.json')).toBe('data/qa/boolq/train.json');
    expect((await stat(join(MIRROR, mirrorDataFile('boolq', 'train.json')))).isFile()).toBe(true);
  });

  it('gives the browser the mirror base URL from its Vite setting', () => {
    try {
      vi.stubEnv('VITE_D2LORA_MIRROR', '');
      expect(browserMirrorBase()).toBeNull();
      vi.stubEnv('VITE_D2LORA_MIRROR', '/mirror/');
      expect(browserMirrorBase()).toBe('/mirror/');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

// Without `embeddedModels` (the Node defaults set it), stories260K loads like any other preset.
describe('presets through the mirror', () => {
  it('loads stories260K from <mirror>/models/stories260K/, reporting progress per file', async () => {
    const events: string[] = [];
    const model = await loadModel(
      { kind: 'preset', name: 'stories260K' },
      { mirror: MIRROR, local: nodeLocalFiles, onProgress: (p) => events.push(`${p.file} ${p.loaded}/${p.total}`) },
    );
    expectStories260K(model);
    expect(events).toEqual(['stories260K.bin 1056540/1056540', 'tok512.bin 6227/6227']);
  });

  it('loads a preset from a mirror URL, as the browser does', async () => {
    const served = new Map<string, Uint8Array>();
    for (const name of ['stories260K.bin', 'tok512.bin']) served.set(`mirror/models/stories260K/${name}`, await readFileBytes(join(MIRROR, 'models/stories260K', name)));
    const server = new FileServer(served);
    const base = await server.start();
    try {
      expectStories260K(await loadModel({ kind: 'preset', name: 'stories260K' }, { mirror: `${base}mirror` }));
      expect(server.requests.map((r) => r.path)).toEqual(['mirror/models/stories260K/stories260K.bin', 'mirror/models/stories260K/tok512.bin']);
    } finally {
      await server.stop();
    }
  });

  it('takes the mirror from $D2LORA_MIRROR in Node', async () => {
    vi.stubEnv('D2LORA_MIRROR', MIRROR);
    try {
      expect(nodeLoadOptions().mirror).toBe(MIRROR);
      expectStories260K(await loadModelInNode({ kind: 'preset', name: 'stories260K' }));
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('checks the registry sha256 of mirrored files and never falls back to the network', async () => {
    const mirror = await tempFolder('mirror');
    try {
      const folder = join(mirror, 'models', 'stories260K');
      await mkdir(folder, { recursive: true });
      await copyFile(join(MIRROR, 'models/stories260K/stories260K.bin'), join(folder, 'stories260K.bin'));
      const missing = await formatErrorOf(loadModel({ kind: 'preset', name: 'stories260K' }, { mirror, local: nodeLocalFiles }));
      expect(missing.message).toBe(`${mirror}/models/stories260K/tok512.bin: no such file; expected the vocabulary of ${mirror}/models/stories260K/stories260K.bin (tok512.bin, 512 tokens)`);

      const tok = await readFileBytes(join(MIRROR, 'models/stories260K/tok512.bin'));
      tok[100] ^= 1;
      await writeFolder(folder, { 'tok512.bin': tok });
      const error = await loadModel({ kind: 'preset', name: 'stories260K' }, { mirror, local: nodeLocalFiles }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChecksumError);
      expect((error as ChecksumError).message).toMatch(/tok512\.bin: sha256 [0-9a-f]{64}; expected 037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312$/);
    } finally {
      await rm(mirror, { recursive: true, force: true });
    }
  });

  it('names the known presets when the name is unknown', async () => {
    await expect(loadModelInNode({ kind: 'preset', name: 'stories1B' }, { mirror: MIRROR })).rejects.toThrow(
      /unknown model preset "stories1B" \(did you mean "stories15M"\?\); expected one of stories260K, stories15M, .*Qwen2\.5-0\.5B-Instruct/,
    );
  });
});

describe('the embedded presets, ahead of the mirror and the network', () => {
  const PROJECT_MODELS = fileURLToPath(new URL('../../public/models/', import.meta.url));
  const STORIES = getPreset('stories260K');
  const FILES = ['stories260K.bin', 'tok512.bin'];
  const source = { kind: 'preset', name: 'stories260K' } as const;
  let reads: string[];
  let fetched: string[];
  /** nodeLocalFiles, recording each path asked for. */
  const local: LocalFiles = { read: (path) => (reads.push(path), nodeLocalFiles.read(path)) };
  /** The "network": serves the registry's URLs of stories260K from the mirror's copies, recording each. */
  async function network(input: string | URL | Request): Promise<Response> {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    fetched.push(url);
    const file = STORIES.files.find((f) => presetFileUrl(STORIES, f) === url);
    if (file === undefined) return new Response(null, { status: 404 });
    return new Response(await readFileBytes(join(MIRROR, mirrorModelFile(STORIES.name, file.name))) as Uint8Array<ArrayBuffer>);
  }
  let scratch: string;
  beforeAll(async () => {
    scratch = await tempFolder('embedded');
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });
  beforeEach(() => {
    reads = [];
    fetched = [];
    vi.stubGlobal('fetch', network);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('ships stories260K in public/models/, and Node looks there by default', async () => {
    expect(STORIES.embedded).toBe(true);
    expect(embeddedModelFile('stories260K', 'tok512.bin')).toBe('stories260K/tok512.bin');
    expect(resolve(nodeLoadOptions().embeddedModels!)).toBe(resolve(PROJECT_MODELS));
    expect(nodeLoadOptions({ embeddedModels: scratch }).embeddedModels).toBe(scratch);
    // Every other preset still comes from the mirror or its URLs.
    expect(MODEL_PRESETS.filter((p) => p.embedded).map((p) => p.name)).toEqual(['stories260K']);
  });

  it('reads the embedded copy first: no mirror read, nothing fetched, nothing cached', async () => {
    const cacheFolder = join(scratch, 'cache-embedded');
    const model = await loadModel(source, { embeddedModels: PROJECT_MODELS, mirror: MIRROR, local, cache: new NodeByteCache(cacheFolder) });
    expectStories260K(model);
    expect(reads).toEqual(FILES.map((f) => join(PROJECT_MODELS, 'stories260K', f)));
    expect(fetched).toEqual([]);
    await expect(readdir(cacheFolder)).rejects.toThrow(/ENOENT/);
  });

  it('then the mirror, then the network through the cache', async () => {
    expectStories260K(await loadModel(source, { mirror: MIRROR, local }));
    expect(reads).toEqual(FILES.map((f) => join(MIRROR, 'models', 'stories260K', f)));
    expect(fetched).toEqual([]);

    reads = [];
    const cacheFolder = join(scratch, 'cache-network');
    expectStories260K(await loadModel(source, { local, cache: new NodeByteCache(cacheFolder) }));
    expect(reads).toEqual([]);
    expect(fetched).toEqual(FILES.map((f) => `https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/${f}`));
    expect((await readdir(cacheFolder)).map((f) => f.replace(/^[0-9a-f]{16}-/, '')).sort()).toEqual(FILES);
  });

  it('reads an embedded base URL afresh, as the browser does, ahead of a mirror URL', async () => {
    const served = new Map<string, Uint8Array>();
    for (const f of FILES) {
      const bytes = await readFileBytes(join(PROJECT_MODELS, 'stories260K', f));
      served.set(`models/stories260K/${f}`, bytes);
      served.set(`mirror/models/stories260K/${f}`, bytes);
    }
    const server = new FileServer(served);
    const base = await server.start();
    vi.unstubAllGlobals(); // the real fetch, to the local server
    try {
      const cacheFolder = join(scratch, 'cache-browser');
      const options: LoadOptions = { embeddedModels: `${base}models/`, mirror: `${base}mirror`, cache: new NodeByteCache(cacheFolder) };
      expectStories260K(await loadModel(source, options));
      expect(server.requests.map((r) => r.path)).toEqual(FILES.map((f) => `models/stories260K/${f}`));
      await expect(readdir(cacheFolder)).rejects.toThrow(/ENOENT/);
    } finally {
      await server.stop();
    }
  });

  it('loads a preset that is not embedded from the mirror even when the embedded location has it', async () => {
    const embeddedModels = join(scratch, 'has-smol');
    const mirror = join(scratch, 'empty-mirror');
    await writeFolder(join(embeddedModels, 'SmolLM2-135M'), { 'config.json': jsonBytes(LLAMA_CONFIG) });
    const e = await formatErrorOf(loadModel({ kind: 'preset', name: 'SmolLM2-135M' }, { embeddedModels, mirror, local }));
    expect(e.message).toBe(`${mirror}/models/SmolLM2-135M/config.json: no such file; expected the model configuration (config.json)`);
    expect(fetched).toEqual([]);
  });

  it('a missing embedded file is an error naming it, not a reason to try the mirror or the network', async () => {
    const embeddedModels = join(scratch, 'half');
    await mkdir(join(embeddedModels, 'stories260K'), { recursive: true });
    await copyFile(join(PROJECT_MODELS, 'stories260K', 'stories260K.bin'), join(embeddedModels, 'stories260K', 'stories260K.bin'));
    const e = await formatErrorOf(loadModel(source, { embeddedModels, mirror: MIRROR, local }));
    expect(e.message).toBe(
      `${embeddedModels}/stories260K/tok512.bin: no such file; expected the embedded copy of preset stories260K's tok512.bin, ` +
        'which ships with the project in public/models/stories260K/ (restore it from the repository, or deploy the whole build output)',
    );
    expect(reads).toEqual(FILES.map((f) => `${embeddedModels}/stories260K/${f}`));
    expect(fetched).toEqual([]);
  });

  it('a corrupted embedded file fails its registry sha256, with no fallback', async () => {
    const embeddedModels = join(scratch, 'corrupt');
    const bin = await readFileBytes(join(PROJECT_MODELS, 'stories260K', 'stories260K.bin'));
    bin[4096] ^= 0x40;
    await writeFolder(join(embeddedModels, 'stories260K'), { 'stories260K.bin': bin });
    const error = await loadModel(source, { embeddedModels, mirror: MIRROR, local }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumError);
    expect((error as ChecksumError).message).toMatch(
      new RegExp(`^${embeddedModels}/stories260K/stories260K\\.bin: sha256 [0-9a-f]{64}; expected b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696$`),
    );
    expect(reads).toEqual([`${embeddedModels}/stories260K/stories260K.bin`]);
    expect(fetched).toEqual([]);
  });

  it('gives the browser the site base URL + models/', () => {
    try {
      expect(browserEmbeddedBase()).toBe('/models/');
      vi.stubEnv('BASE_URL', '/playground/');
      expect(browserEmbeddedBase()).toBe('/playground/models/');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('Hugging Face folders made in the test', () => {
  let root: string;
  const folders: Record<string, { config: ModelConfig; weights: Map<string, { shape: number[]; data: Float32Array }>; files: Record<string, Uint8Array> }> = {};

  beforeAll(async () => {
    root = await tempFolder('hf');
    const tokenizerFiles = {
      'tokenizer.json': jsonBytes(tinyTokenizerJson()),
      'tokenizer_config.json': jsonBytes(tinyTokenizerConfig('<|im_start|>', '<|im_end|>')),
    };
    const make = (name: string, json: unknown, seed: number, weightFiles: (w: Map<string, { shape: number[]; data: Float32Array }>) => Record<string, Uint8Array>) => {
      const configBytes = jsonBytes(json);
      const config = parseHfConfig(configBytes, 'config.json');
      const weights = randomWeights(config, seed);
      folders[name] = { config, weights, files: { 'config.json': configBytes, ...tokenizerFiles, ...weightFiles(weights) } };
    };
    make('llama', LLAMA_CONFIG, 11, (w) => ({ 'model.safetensors': writeSafetensors(tensorsOf(w, 'F32')) }));
    make('qwen2', QWEN2_CONFIG, 12, (w) => shardedFiles(tensorsOf(w, 'BF16'), 2));
    make('gpt2', GPT2_CONFIG, 13, (w) => ({ 'model.safetensors': writeSafetensors(tensorsOf(w, 'F16', (n) => `transformer.${n}`)) }));
    for (const [name, { files }] of Object.entries(folders)) await writeFolder(join(root, name), files);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function expectLoaded(model: LoadedModel, name: string): void {
    const { config, weights, files } = folders[name];
    expect(model.config).toEqual(config);
    expect(model.weights.size).toBe(weights.size);
    for (const [tensor, w] of weights) expect(model.weights.get(tensor)!.data, tensor).toEqual(w.data);
    expect(model.tokenizer.encode('hello world', { bos: true, eos: true })).toEqual([1, 262, 267, 2]);
    expect(model.files).toEqual({ 'config.json': files['config.json'], 'tokenizer.json': files['tokenizer.json'], 'tokenizer_config.json': files['tokenizer_config.json'] });
    expect(model.warnings).toEqual([]);
  }

  it('loads llama (single file), qwen2 (sharded, BF16) and gpt2 (F16, transformer. prefix) folders', async () => {
    for (const name of ['llama', 'qwen2', 'gpt2']) {
      const model = await loadModelInNode({ kind: 'folder', path: join(root, name) });
      expect(model.name).toBe(name);
      expectLoaded(model, name);
    }
  });

  it('loads a preset in Hugging Face format from the mirror', async () => {
    const mirror = await tempFolder('mirror');
    try {
      const { files } = folders.llama;
      await writeFolder(join(mirror, 'models', 'SmolLM2-135M'), files);
      const model = await loadModelInNode({ kind: 'preset', name: 'SmolLM2-135M' }, { mirror });
      expect(model.name).toBe('SmolLM2-135M');
      expectLoaded(model, 'llama');
    } finally {
      await rm(mirror, { recursive: true, force: true });
    }
  });

  it('loads picked files (the browser path), named after their folder', async () => {
    const picked: PickedFile[] = Object.entries(folders.qwen2.files).map(([name, bytes]) => ({ name: `Qwen-tiny/${name}`, bytes: async () => bytes }));
    const model = await loadModel({ kind: 'files', files: picked });
    expect(model.name).toBe('Qwen-tiny');
    expectLoaded(model, 'qwen2');
  });

  it('downloads a folder from a URL base through the cache', async () => {
    const server = new FileServer(new Map(Object.entries(folders.gpt2.files).map(([name, bytes]) => [`org/gpt2-tiny/resolve/main/${name}`, bytes])));
    const base = await server.start();
    const cacheFolder = await tempFolder('cache');
    try {
      const options = { cache: new NodeByteCache(cacheFolder) };
      const model = await loadModelInNode({ kind: 'url', base: `${base}org/gpt2-tiny/resolve/main/` }, options);
      expect(model.name).toBe('gpt2-tiny');
      expectLoaded(model, 'gpt2');
      const first = server.requests.length;
      expectLoaded(await loadModelInNode({ kind: 'url', base: `${base}org/gpt2-tiny/resolve/main` }, options), 'gpt2');
      // Only the index, which the folder does not have (404), is asked for again.
      expect(server.requests.slice(first).map((r) => r.path)).toEqual(['org/gpt2-tiny/resolve/main/model.safetensors.index.json']);
    } finally {
      await server.stop();
      await rm(cacheFolder, { recursive: true, force: true });
    }
  });

  it('fails before the weights when the folder lacks a tokenizer or its vocabulary is too big', async () => {
    const folder = join(root, 'broken');
    const { 'tokenizer.json': _tokenizer, ...rest } = folders.llama.files;
    await writeFolder(folder, rest);
    const noTokenizer = await formatErrorOf(loadModelInNode({ kind: 'folder', path: folder }));
    expect(noTokenizer.message).toBe(`${folder}/tokenizer.json: no such file; expected the tokenizer (tokenizer.json)`);

    await writeFolder(folder, { 'tokenizer.json': folders.llama.files['tokenizer.json'], 'config.json': jsonBytes({ ...LLAMA_CONFIG, vocab_size: 200 }) });
    const tooBig = await formatErrorOf(loadModelInNode({ kind: 'folder', path: folder }));
    expect(tooBig.message).toBe(`${folder}/tokenizer.json: token ids up to 267; expected ids below ${folder}/config.json's vocab_size 200 (the embedding's rows)`);
  });

  it('names the folder file when config.json disagrees with the weights', async () => {
    const folder = join(root, 'mismatch');
    await writeFolder(folder, { ...folders.llama.files, 'config.json': jsonBytes({ ...LLAMA_CONFIG, intermediate_size: 48 }) });
    const e = await formatErrorOf(loadModelInNode({ kind: 'folder', path: folder }));
    expect(e.message).toBe(`${folder}/model.safetensors: tensor "model.layers.0.mlp.down_proj.weight": shape [16, 40]; expected [16, 48] as ${folder}/config.json implies`);
  });

  it('refuses local paths where there is no local file access (the browser)', async () => {
    await expect(loadModel({ kind: 'folder', path: join(root, 'llama') })).rejects.toThrow(/config\.json: a local path, but this environment cannot read local files/);
  });
});

describe('llama2.c sources', () => {
  it('loads a .bin path, finding tok512.bin beside it', async () => {
    expectStories260K(await loadModelInNode({ kind: 'llama2c', checkpoint: join(MIRROR, 'models/stories260K/stories260K.bin') }));
  });

  it('loads a .bin URL with an explicit vocabulary URL', async () => {
    const bin = await readFileBytes(join(MIRROR, 'models/stories260K/stories260K.bin'));
    const tok = await readFileBytes(join(MIRROR, 'models/stories260K/tok512.bin'));
    const server = new FileServer(new Map([['a/stories260K.bin', bin], ['b/vocab.bin', tok]]));
    const base = await server.start();
    const cacheFolder = await tempFolder('cache');
    try {
      const source = { kind: 'llama2c', checkpoint: `${base}a/stories260K.bin`, tokenizer: `${base}b/vocab.bin` } as const;
      const model = await loadModelInNode(source, { cache: new NodeByteCache(cacheFolder) });
      expect(model.config).toEqual(STORIES260K_CONFIG);
      expect(Object.keys(model.files)).toEqual(['vocab.bin']);
    } finally {
      await server.stop();
      await rm(cacheFolder, { recursive: true, force: true });
    }
  });

  it('loads a picked .bin and vocabulary', async () => {
    const picked: PickedFile[] = ['stories260K.bin', 'tok512.bin'].map((name) => ({ name, bytes: () => readFileBytes(join(MIRROR, 'models/stories260K', name)) }));
    expectStories260K(await loadModel({ kind: 'files', files: picked }));
    const e = await formatErrorOf(loadModel({ kind: 'files', files: picked.slice(1) }));
    expect(e.message).toMatch(/^the picked files: tok512\.bin; expected a Hugging Face folder/);
  });
});

describe('resolveSourceString', () => {
  it('tells presets, URLs, .bin files and folders apart', () => {
    expect(resolveSourceString('stories260K')).toEqual({ kind: 'preset', name: 'stories260K' });
    expect(resolveSourceString('SmolLM2-360M-Instruct')).toEqual({ kind: 'preset', name: 'SmolLM2-360M-Instruct' });
    const hub = 'https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/';
    expect(resolveSourceString(hub)).toEqual({ kind: 'url', base: hub });
    expect(resolveSourceString('out/model.bin')).toEqual({ kind: 'llama2c', checkpoint: 'out/model.bin' });
    expect(resolveSourceString('http://127.0.0.1:9/m.bin?download=1')).toEqual({ kind: 'llama2c', checkpoint: 'http://127.0.0.1:9/m.bin?download=1' });
    expect(resolveSourceString('./models/smol')).toEqual({ kind: 'folder', path: './models/smol' });
  });
});
