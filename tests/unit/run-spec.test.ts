// The RunSpec (src/run/spec.ts): its defaults are the run the CLI made before the spec existed,
// strict parsing names the field, the value and what was expected, the JSON form round-trips for
// every kind of model and task, and the layers' configurations come from it with one seed.

import { describe, expect, it } from 'vitest';
import {
  adapterConfigOf,
  DEFAULT_RUN_SPEC,
  parseRunSpec,
  parseRunSpecLeniently,
  RUN_SPEC_VERSION,
  RunSpecError,
  storyOptionsOf,
  trainConfigOf,
  type RunSpec,
  type StoryTaskSpec,
} from '../../src/run/spec';
import { SHA_A, VARIED_SPECS } from './run-specs';

describe('the default run', () => {
  it('is, field by field, the run `d2lora train` made before the spec existed', () => {
    // The CLI's old defaults: model stories260K, task story (colour questions, two children),
    // d2lora r 8, α 16, τ 0.5 on the attention projections, lr 5e-3, batch 16, 2 epochs,
    // warm-up 0.05 then linear decay, clip at 1, 5000 / 1000 items, 256 tokens, sum scoring, seed 0.
    expect(DEFAULT_RUN_SPEC).toEqual({
      version: 1,
      model: { kind: 'preset', name: 'stories260K' },
      task: { kind: 'story', trainSize: 5000, testSize: 500, seed: 0, questionTypes: ['color'], characters: 2, choices: 4 },
      adapter: { method: 'd2lora', r: 8, alpha: 16, tau: 0.5, project: true, readd: 1, detachNorm: false, scaling: 'standard', eps: 1e-12 },
      targets: null,
      training: {
        ...{ epochs: 2, batch: 16, lr: 5e-3, minLr: 0, warmup: 0.05, decay: 'linear', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
        // What the page added: a held-out loss about ten times an epoch on 64 evaluation items, which
        // never steers training, and early stopping off.
        ...{ heldOutEvery: null, heldOutItems: 64, earlyStopping: null },
      },
      limits: { maxTrain: 5000, maxEval: 1000, maxLength: 256, evalBatch: 64, recomputeActivations: false },
      scoring: 'sum',
      seed: 0,
    });
    expect(RUN_SPEC_VERSION).toBe(1);
    // Field order is part of the JSON form (run.json, links): stable across versions of the code.
    expect(Object.keys(DEFAULT_RUN_SPEC)).toEqual(['version', 'model', 'task', 'adapter', 'targets', 'training', 'limits', 'scoring', 'seed']);
  });

  it('fills any section left out, and a section given in part, from the defaults', () => {
    const s = parseRunSpec({ adapter: { r: 4 }, training: { lr: 1e-3 } });
    expect(s.adapter).toEqual({ ...DEFAULT_RUN_SPEC.adapter, r: 4 });
    expect(s.training).toEqual({ ...DEFAULT_RUN_SPEC.training, lr: 1e-3 });
    expect(s.model).toEqual(DEFAULT_RUN_SPEC.model);
    expect(parseRunSpec({ task: { kind: 'story', characters: 3 } }).task).toEqual({ ...DEFAULT_RUN_SPEC.task, characters: 3 });
    expect(parseRunSpec({ model: { kind: 'hub', repo: 'o/r' } }).model).toEqual({ kind: 'hub', repo: 'o/r', revision: 'main' });
    expect(parseRunSpec({ model: { kind: 'files', name: 'm' } }).model).toEqual({ kind: 'files', name: 'm', files: [] });
  });

  it('is frozen to the leaves, and every parse (strict or lenient) returns a spec of its own', () => {
    expect(Object.isFrozen(DEFAULT_RUN_SPEC.task)).toBe(true);
    expect(Object.isFrozen((DEFAULT_RUN_SPEC.task as StoryTaskSpec).questionTypes)).toBe(true);
    expect(() => {
      (DEFAULT_RUN_SPEC.adapter as { r: number }).r = 4;
    }).toThrow(TypeError);
    const fresh = parseRunSpec({});
    expect(Object.isFrozen(fresh.adapter)).toBe(false);
    (fresh.task as StoryTaskSpec).questionTypes.push('who');
    expect(parseRunSpec({}).task).toEqual(DEFAULT_RUN_SPEC.task);
    const repaired = parseRunSpecLeniently([1, 2]).spec;
    expect(repaired).toEqual(DEFAULT_RUN_SPEC);
    expect(repaired).not.toBe(DEFAULT_RUN_SPEC);
    repaired.adapter.r = 2;
    expect(DEFAULT_RUN_SPEC.adapter.r).toBe(8);
  });
});

/** The one problem a strict parse reports for `input`. */
function strictProblems(input: unknown): string[] {
  try {
    parseRunSpec(input);
  } catch (e) {
    expect(e).toBeInstanceOf(RunSpecError);
    return (e as RunSpecError).problems;
  }
  throw new Error(`parsed without error: ${JSON.stringify(input)}`);
}

const PRESETS = '"stories260K", "stories15M", "stories42M", "stories110M", "SmolLM2-135M", "SmolLM2-135M-Instruct", "SmolLM2-360M-Instruct", "Qwen2.5-0.5B-Instruct"';
const CATALOG = '"boolq", "piqa", "social_i_qa", "winogrande", "ARC-Easy", "ARC-Challenge", "openbookqa"';
const MODULES = '"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "c_attn", "c_proj", "c_fc"';
const FOLDER = 'expected a folder name (no "/", "\\", ".." or any of <>:"|?*)';
const RELATIVE = 'expected a file name relative to its folder (no "..", no absolute path)';

/** input → the problem strict parsing reports: field path, value found, what was expected. */
const BAD_SPECS: [string, unknown, string][] = [
  ['rank 0', { adapter: { r: 0 } }, 'adapter.r: found 0; expected an integer ≥ 1'],
  ['fractional rank', { adapter: { r: 1.5 } }, 'adapter.r: found 1.5; expected an integer'],
  ['rank as text', { adapter: { r: '8' } }, 'adapter.r: found "8"; expected an integer'],
  ['rank too large', { adapter: { r: 2048 } }, 'adapter.r: found 2048; expected an integer ≤ 1024'],
  ['infinite rank', { adapter: { r: Infinity } }, 'adapter.r: found Infinity; expected an integer'],
  ['unknown method', { adapter: { method: 'qlora' } }, 'adapter.method: found "qlora" (did you mean "lora"?); expected one of "d2lora", "lora", "dora"'],
  ['boolean as text', { adapter: { project: 'yes' } }, 'adapter.project: found "yes"; expected a boolean'],
  ['negative tau', { adapter: { tau: -0.1 } }, 'adapter.tau: found -0.1; expected a number ≥ 0'],
  ['unknown scaling', { adapter: { scaling: 'sqrt' } }, 'adapter.scaling: found "sqrt"; expected one of "standard", "rslora"'],
  ['negative lr', { training: { lr: -1 } }, 'training.lr: found -1; expected a number ≥ 1e-9'],
  ['huge lr', { training: { lr: 1e10 } }, 'training.lr: found 10000000000; expected a number ≤ 1'],
  ['lr as "NaN"', { training: { lr: 'NaN' } }, 'training.lr: found "NaN"; expected a number'],
  ['min lr above lr', { training: { lr: 0.01, minLr: 0.1 } }, 'training.minLr: found 0.1; expected a number at most the peak learning rate (lr)'],
  ['zero epochs', { training: { epochs: 0 } }, 'training.epochs: found 0; expected an integer ≥ 1'],
  ['unknown decay', { training: { decay: 'step' } }, 'training.decay: found "step"; expected one of "linear", "cosine", "constant"'],
  ['a section that is not an object', { training: 5 }, 'training: found 5; expected an object'],
  ['seq-len 1', { limits: { maxLength: 1 } }, 'limits.maxLength: found 1; expected an integer ≥ 2'],
  ['unknown preset', { model: { kind: 'preset', name: 'gpt5' } }, `model.name: found "gpt5"; expected one of ${PRESETS}`],
  ['unknown model kind', { model: { kind: 'torrent' } }, 'model.kind: found "torrent"; expected one of the kinds "preset", "hub", "url", "files"'],
  ['model without a kind', { model: { name: 'stories260K' } }, 'model.kind: found nothing; expected one of the kinds "preset", "hub", "url", "files"'],
  ['hub repo with a space', { model: { kind: 'hub', repo: 'a b/c' } }, 'model.repo: found "a b/c"; expected a Hugging Face repository id "owner/name"'],
  ['hub revision with ..', { model: { kind: 'hub', repo: 'o/r', revision: '../main' } }, 'model.revision: found "../main"; expected a branch, tag or commit (letters, digits, ".", "_", "-", "/")'],
  [
    'http to another host',
    { model: { kind: 'url', url: 'http://example.com/m/' } },
    'model.url: found "http://example.com/m/"; expected an https:// URL of a Hugging Face model folder (http:// only for localhost)',
  ],
  ['a javascript: URL', { model: { kind: 'url', url: 'javascript:alert(1)' } }, 'model.url: found "javascript:alert(1)"; expected an https:// URL of a Hugging Face model folder (http:// only for localhost)'],
  ['model folder name with ..', { model: { kind: 'files', name: '../../etc' } }, `model.name: found "../../etc"; ${FOLDER}`],
  ['model folder name with HTML', { model: { kind: 'files', name: '<script>alert(1)</script>' } }, `model.name: found "<script>alert(1)</script>"; ${FOLDER}`],
  ['model folder name "."', { model: { kind: 'files', name: '.' } }, `model.name: found "."; ${FOLDER}`],
  [
    'model file with path traversal',
    { model: { kind: 'files', name: 'm', files: [{ name: '../../etc/passwd', sha256: SHA_A }] } },
    `model.files[0].name: found "../../etc/passwd"; ${RELATIVE}`,
  ],
  ['model file with an absolute path', { model: { kind: 'files', name: 'm', files: [{ name: '/etc/passwd', sha256: SHA_A }] } }, `model.files[0].name: found "/etc/passwd"; ${RELATIVE}`],
  [
    'upper-case sha256',
    { model: { kind: 'files', name: 'm', files: [{ name: 'config.json', sha256: 'A'.repeat(64) }] } },
    `model.files[0].sha256: found "${'A'.repeat(64)}"; expected a sha256: 64 lowercase hexadecimal digits`,
  ],
  ['catalog task that needs your files', { task: { kind: 'catalog', name: 'hellaswag' } }, `task.name: found "hellaswag"; expected one of ${CATALOG}`],
  ['no question types', { task: { kind: 'story', questionTypes: [] } }, 'task.questionTypes: found []; expected at least 1 entry'],
  ['repeated question types', { task: { kind: 'story', questionTypes: ['color', 'color'] } }, 'task.questionTypes: found ["color","color"]; expected distinct question types'],
  ['unknown question type', { task: { kind: 'story', questionTypes: ['why'] } }, 'task.questionTypes[0]: found "why"; expected one of "color", "who", "what", "where", "yes-no"'],
  ['seven children', { task: { kind: 'story', characters: 7 } }, 'task.characters: found 7; expected an integer ≤ 6'],
  ['file task without its test file', { task: { kind: 'file' } }, 'task.test: found nothing; expected an object'],
  ['task file name with HTML', { task: { kind: 'file', test: { name: '<b>x</b>.jsonl', sha256: SHA_A } } }, `task.test.name: found "<b>x</b>.jsonl"; ${RELATIVE}`],
  ['unknown module', { targets: ['q_proj', 'qkv'] }, `targets[1]: found "qkv"; expected one of ${MODULES}`],
  ['no modules', { targets: [] }, 'targets: found []; expected at least 1 entry'],
  ['unknown field', { lora: true }, 'lora: unknown field (the fields here: version, model, task, adapter, targets, training, limits, scoring, seed)'],
  [
    'unknown field in a story task',
    { task: { kind: 'story', stories: 5 } },
    'task.stories: unknown field (the fields here: kind, trainSize, testSize, seed, questionTypes, characters, choices)',
  ],
  ['fractional story size', { task: { kind: 'story', trainSize: 9.5 } }, 'task.trainSize: found 9.5; expected an integer'],
  ['unknown fields in a section', { adapter: { dropout: 0.1, bias: 'none' } }, 'adapter.dropout: unknown fields "dropout", "bias" (the fields here: method, r, alpha, tau, project, readd, detachNorm, scaling, eps)'],
  ['another version', { version: 2 }, 'version: found 2; expected 1'],
  ['negative seed', { seed: -1 }, 'seed: found -1; expected an integer ≥ 0'],
  ['seed past 2^31', { seed: 2 ** 31 }, 'seed: found 2147483648; expected an integer ≤ 2147483647'],
  ['unknown scoring', { scoring: 'max' }, 'scoring: found "max"; expected one of "sum", "mean"'],
  ['null', null, '(the spec): found null; expected an object'],
  ['an array', [], '(the spec): found []; expected an object'],
];

describe('strict parsing (run.json)', () => {
  it.each(BAD_SPECS)('%s: names the path, the value found and what was expected', (_, input, problem) => {
    expect(strictProblems(input)).toEqual([problem]);
  });

  it('names where the spec came from and lists every problem', () => {
    expect(() => parseRunSpec({ adapter: { r: 0 } }, 'out/a/run.json')).toThrow('out/a/run.json: adapter.r: found 0; expected an integer ≥ 1');
    let error: RunSpecError | undefined;
    try {
      parseRunSpec({ adapter: { r: 0 }, seed: -1, scoring: 'max' });
    } catch (e) {
      error = e as RunSpecError;
    }
    expect(error).toBeInstanceOf(RunSpecError);
    expect(error!.message).toBe(
      'run spec: 3 problems:\n  adapter.r: found 0; expected an integer ≥ 1\n  scoring: found "max"; expected one of "sum", "mean"\n  seed: found -1; expected an integer ≥ 0',
    );
    expect(error!.issues.map((i) => i.path)).toEqual([['adapter', 'r'], ['scoring'], ['seed']]);
  });

  it('quotes a long value shortened, as JSON text', () => {
    const name = `<img src=x onerror=alert(1)>${'x'.repeat(200)}`;
    const [problem] = strictProblems({ model: { kind: 'files', name } });
    expect(problem).toBe(`model.name: found ${JSON.stringify(name).slice(0, 77)}...; expected at most 128 characters`);
  });
});

describe('the JSON form', () => {
  it.each(Object.entries(VARIED_SPECS))('%s: spec → JSON → parse gives the same spec', (_, input) => {
    const spec = parseRunSpec(input);
    const again = parseRunSpec(JSON.parse(JSON.stringify(spec)));
    expect(again).toEqual(spec);
    // Nothing was lost to a default on the way: every field given is in the spec as given.
    expect(spec).toMatchObject(input as Record<string, unknown>);
    // The run.json form, pretty-printed as the output folder has it, reads back too.
    expect(parseRunSpec(JSON.parse(`${JSON.stringify(spec, null, 2)}\n`))).toEqual(spec);
  });

  it('covers every kind of model and task', () => {
    const specs = Object.values(VARIED_SPECS).map((s) => parseRunSpec(s));
    expect(new Set(specs.map((s) => s.model.kind))).toEqual(new Set(['preset', 'hub', 'url', 'files']));
    expect(new Set(specs.map((s) => s.task.kind))).toEqual(new Set(['story', 'catalog', 'file']));
  });
});

describe("the layers' configurations", () => {
  it('adapterConfigOf maps every adapter field, the paper init and the one seed', () => {
    const spec = parseRunSpec({ adapter: { method: 'd2lora', r: 4, alpha: 8, tau: 0.25, project: false, readd: 0.5, detachNorm: true, scaling: 'rslora', eps: 1e-9 }, seed: 11 });
    expect(adapterConfigOf(spec)).toEqual({ method: 'd2lora', r: 4, alpha: 8, tau: 0.25, project: false, readd: 0.5, detachNorm: true, scaling: 'rslora', eps: 1e-9, init: 'paper', seed: 11 });
    expect(adapterConfigOf(DEFAULT_RUN_SPEC)).toEqual({ ...DEFAULT_RUN_SPEC.adapter, init: 'paper', seed: 0 });
  });

  it("forces DoRA's detachNorm to true, and leaves LoRA's and D2-LoRA's as given", () => {
    expect(adapterConfigOf(parseRunSpec({ adapter: { method: 'dora', detachNorm: false } })).detachNorm).toBe(true);
    expect(adapterConfigOf(parseRunSpec({ adapter: { method: 'lora', detachNorm: false } })).detachNorm).toBe(false);
    expect(adapterConfigOf(parseRunSpec({ adapter: { method: 'd2lora', detachNorm: false } })).detachNorm).toBe(false);
    expect(adapterConfigOf(parseRunSpec({ adapter: { method: 'd2lora', detachNorm: true } })).detachNorm).toBe(true);
  });

  it("trainConfigOf maps every training field onto the trainer's names, with the same seed", () => {
    const spec = parseRunSpec({
      training: { epochs: 3, batch: 4, lr: 1e-3, minLr: 1e-5, warmup: 0.2, decay: 'cosine', beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1, maxGradNorm: 0.5 },
      seed: 11,
    });
    expect(trainConfigOf(spec)).toEqual({
      epochs: 3,
      batchSize: 4,
      lr: 1e-3,
      minLr: 1e-5,
      warmupRatio: 0.2,
      decay: 'cosine',
      seed: 11,
      beta1: 0.8,
      beta2: 0.99,
      eps: 1e-6,
      weightDecay: 0.1,
      maxGradNorm: 0.5,
    });
    expect(adapterConfigOf(spec).seed).toBe(trainConfigOf(spec).seed);
  });

  it("storyOptionsOf maps the story task's options (its own seed, not the run's)", () => {
    const spec = parseRunSpec({ task: { kind: 'story', trainSize: 96, testSize: 24, seed: 5, questionTypes: ['who', 'what'], characters: 3, choices: 5 }, seed: 9 });
    expect(storyOptionsOf(spec.task as StoryTaskSpec)).toEqual({ trainSize: 96, testSize: 24, seed: 5, questionTypes: ['who', 'what'], characters: 3, choices: 5 });
  });

  it('derives configurations every layer accepts for each varied spec', () => {
    for (const input of Object.values(VARIED_SPECS)) {
      const spec: RunSpec = parseRunSpec(input);
      expect(() => adapterConfigOf(spec)).not.toThrow();
      expect(() => trainConfigOf(spec)).not.toThrow();
    }
  });
});
