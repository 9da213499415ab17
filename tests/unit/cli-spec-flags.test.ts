// The command line's mapping onto the RunSpec (src/cli/spec-flags.ts): each flag changes exactly
// the field it names, and nothing else; errors name the flag; --model and --task take every form;
// --spec is read strictly and --link leniently, and the flags change the spec they start from.
// `d2lora link` prints the link of the same spec.

import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseFlags, UsageError } from '../../src/cli/args';
import { compareFlags } from '../../src/cli/compare';
import { DEFAULT_PAGE_ORIGIN, linkCommand, linkFlags } from '../../src/cli/link';
import { defaultOutFolder, runFromFlags, SPEC_FLAGS, type FlagsRun } from '../../src/cli/spec-flags';
import { DEFAULT_RUN_SPEC, parseRunSpec, type RunSpec, type RunSpecInput } from '../../src/run/spec';
import { decodeRunLink, encodeRunLink } from '../../src/share/link';
import { SHA_A, VARIED_SPECS } from './run-specs';

/** The run `d2lora train <argv>` describes. */
function run(argv: string[]): Promise<FlagsRun> {
  return runFromFlags(parseFlags(argv, SPEC_FLAGS, 'train'));
}

/** The UsageError message `d2lora train <argv>` stops with. */
async function usageError(argv: string[]): Promise<string> {
  try {
    await run(argv);
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

/** Every leaf path where two specs differ (arrays compared whole). */
function differences(a: unknown, b: unknown, path: (string | number)[] = []): string[] {
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    return [...keys].flatMap((k) => differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], [...path, k]));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path.join('.')];
}

const at = (spec: RunSpec, path: string) => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], spec);

/**
 * Every flag of a spec field: the flag's argv, the field it must set, and the value it must hold.
 * The values differ from the defaults, so a flag that sets nothing (or the wrong field) shows.
 */
const FIELD_FLAG_CASES: Record<string, { argv: string[]; field: string; value: unknown }> = {
  method: { argv: ['--method', 'lora'], field: 'adapter.method', value: 'lora' },
  r: { argv: ['--r', '4'], field: 'adapter.r', value: 4 },
  alpha: { argv: ['--alpha', '32'], field: 'adapter.alpha', value: 32 },
  tau: { argv: ['--tau', '0.25'], field: 'adapter.tau', value: 0.25 },
  project: { argv: ['--project=false'], field: 'adapter.project', value: false },
  readd: { argv: ['--readd', '0'], field: 'adapter.readd', value: 0 },
  'detach-norm': { argv: ['--detach-norm'], field: 'adapter.detachNorm', value: true },
  scaling: { argv: ['--scaling', 'rslora'], field: 'adapter.scaling', value: 'rslora' },
  'norm-eps': { argv: ['--norm-eps', '1e-10'], field: 'adapter.eps', value: 1e-10 },
  targets: { argv: ['--targets', 'q_proj, v_proj'], field: 'targets', value: ['q_proj', 'v_proj'] },
  lr: { argv: ['--lr', '1e-3'], field: 'training.lr', value: 1e-3 },
  'min-lr': { argv: ['--min-lr', '1e-4'], field: 'training.minLr', value: 1e-4 },
  batch: { argv: ['--batch', '4'], field: 'training.batch', value: 4 },
  epochs: { argv: ['--epochs', '3'], field: 'training.epochs', value: 3 },
  warmup: { argv: ['--warmup', '0.1'], field: 'training.warmup', value: 0.1 },
  decay: { argv: ['--decay', 'cosine'], field: 'training.decay', value: 'cosine' },
  beta1: { argv: ['--beta1', '0.8'], field: 'training.beta1', value: 0.8 },
  beta2: { argv: ['--beta2', '0.99'], field: 'training.beta2', value: 0.99 },
  'adam-eps': { argv: ['--adam-eps', '1e-6'], field: 'training.eps', value: 1e-6 },
  'weight-decay': { argv: ['--weight-decay', '0.01'], field: 'training.weightDecay', value: 0.01 },
  'max-grad-norm': { argv: ['--max-grad-norm', '0'], field: 'training.maxGradNorm', value: 0 },
  'held-out-every': { argv: ['--held-out-every', '5'], field: 'training.heldOutEvery', value: 5 },
  'held-out-items': { argv: ['--held-out-items', '32'], field: 'training.heldOutItems', value: 32 },
  'early-stopping': { argv: ['--early-stopping', '3'], field: 'training.earlyStopping', value: { patience: 3, devItems: 200 } },
  'dev-items': { argv: ['--early-stopping', '3', '--dev-items', '50'], field: 'training.earlyStopping', value: { patience: 3, devItems: 50 } },
  'seq-len': { argv: ['--seq-len', '128'], field: 'limits.maxLength', value: 128 },
  'max-train': { argv: ['--max-train', '96'], field: 'limits.maxTrain', value: 96 },
  'max-eval': { argv: ['--max-eval', '24'], field: 'limits.maxEval', value: 24 },
  'eval-batch': { argv: ['--eval-batch', '8'], field: 'limits.evalBatch', value: 8 },
  recompute: { argv: ['--recompute'], field: 'limits.recomputeActivations', value: true },
  scoring: { argv: ['--scoring', 'mean'], field: 'scoring', value: 'mean' },
  seed: { argv: ['--seed', '3'], field: 'seed', value: 3 },
  'story-types': { argv: ['--story-types', 'who,yes-no'], field: 'task.questionTypes', value: ['who', 'yes-no'] },
  'story-characters': { argv: ['--story-characters', '3'], field: 'task.characters', value: 3 },
  'story-choices': { argv: ['--story-choices', '3'], field: 'task.choices', value: 3 },
  'story-train': { argv: ['--story-train', '96'], field: 'task.trainSize', value: 96 },
  'story-test': { argv: ['--story-test', '24'], field: 'task.testSize', value: 24 },
  'story-seed': { argv: ['--story-seed', '5'], field: 'task.seed', value: 5 },
};

/** The flags of a task file: each needs --task <file>, and sets one field of that task. */
const TASK_FILE_FLAG_CASES: Record<string, { argv: string[]; field: string; value: unknown }> = {
  'task-name': { argv: ['--task-name', 'hellaswag'], field: 'task.name', value: 'hellaswag' },
  'task-format': { argv: ['--task-format', 'csv'], field: 'task.format', value: 'csv' },
  template: { argv: ['--template', 'continuation'], field: 'task.template', value: 'continuation' },
  question: { argv: ['--question', 'ctx'], field: 'task.mapping.question', value: 'ctx' },
  context: { argv: ['--context', 'passage'], field: 'task.mapping.context', value: 'passage' },
  choices: { argv: ['--choices', 'endings'], field: 'task.mapping.choices', value: 'endings' },
  'choice-columns': { argv: ['--choice-columns', 'a, b,c'], field: 'task.mapping.choiceColumns', value: ['a', 'b', 'c'] },
  answer: { argv: ['--answer', 'label'], field: 'task.mapping.answer', value: 'label' },
  'answer-format': { argv: ['--answer-format', 'index1'], field: 'task.mapping.answerFormat', value: 'index1' },
  'item-id': { argv: ['--item-id', 'ind'], field: 'task.mapping.id', value: 'ind' },
};

/** The flags that choose a whole section or a starting spec; each has its own tests below. */
const WHOLE_FLAGS = ['model', 'task', 'task-train', 'spec', 'link'];

let dir = '';
function tempFile(name: string, content: string): string {
  dir ||= mkdtempSync(join(tmpdir(), 'd2lora-flags-'));
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('each flag sets exactly its field', () => {
  it('every flag that describes a run is tested here (a new flag needs a case)', () => {
    expect(Object.keys(SPEC_FLAGS).sort()).toEqual([...Object.keys(FIELD_FLAG_CASES), ...Object.keys(TASK_FILE_FLAG_CASES), ...WHOLE_FLAGS].sort());
  });

  it.each(Object.entries(TASK_FILE_FLAG_CASES))('--%s (with a task file)', async (_, { argv, field, value }) => {
    const file = tempFile('items.jsonl', '{"question": "Q?", "choices": ["a", "b"], "answer": 0}\n');
    const base = (await run(['--task', file])).spec;
    const { spec, locations } = await run(['--task', file, ...argv]);
    // The task file has no column mapping until a flag gives one: then the mapping holds that field alone.
    const mapping = field.startsWith('task.mapping.');
    expect(differences(spec, base)).toEqual([mapping ? 'task.mapping' : field]);
    if (mapping) expect(Object.keys(at(spec, 'task.mapping') as object)).toEqual([field.split('.').at(-1)]);
    expect(at(spec, field)).toEqual(value);
    expect(locations).toEqual({ taskFiles: { test: file } });
    expect(await usageError(['--task', 'story', ...argv])).toBe(`--${argv[0]!.slice(2)} describes a task file, but the task is story: give the file to --task`);
  });

  it.each(Object.entries(FIELD_FLAG_CASES))('--%s', async (_, { argv, field, value }) => {
    const { spec, locations, warnings } = await run(argv);
    expect(differences(spec, DEFAULT_RUN_SPEC)).toEqual([field]);
    expect(at(spec, field)).toEqual(value);
    expect(locations).toEqual({});
    expect(warnings).toEqual([]);
  });

  it('no flag at all is the default run', async () => {
    expect((await run([])).spec).toEqual(DEFAULT_RUN_SPEC);
  });

  it('all the field flags at once set all their fields', async () => {
    const { spec } = await run(Object.values(FIELD_FLAG_CASES).flatMap((c) => c.argv));
    // Two flags set parts of one field (--early-stopping, --dev-items): the later case has both.
    const expected = new Map(Object.values(FIELD_FLAG_CASES).map((c) => [c.field, c.value]));
    for (const [field, value] of expected) expect(at(spec, field), field).toEqual(value);
    expect(differences(spec, DEFAULT_RUN_SPEC).sort()).toEqual([...expected.keys()].sort());
  });

  it("--help shows each field flag's default from the spec", () => {
    expect(SPEC_FLAGS.lr!.shows).toBe('0.005');
    expect(SPEC_FLAGS['story-types']!.shows).toBe('color');
    expect(SPEC_FLAGS.targets!.shows).toBeUndefined();
    expect(SPEC_FLAGS.model!.shows).toBe('stories260K');
    for (const name of Object.keys(FIELD_FLAG_CASES)) expect(SPEC_FLAGS[name]!.default, name).toBeUndefined();
  });

  it('train and link take every spec flag; compare all but --method and --seed', () => {
    expect(Object.keys(linkFlags)).toEqual([...Object.keys(SPEC_FLAGS), 'origin']);
    expect(Object.keys(SPEC_FLAGS).filter((f) => !(f in compareFlags))).toEqual(['method', 'seed']);
  });
});

describe('flag errors name the flag', () => {
  const MODULES = '"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "c_attn", "c_proj", "c_fc"';
  const CASES: [string[], string][] = [
    [['--lr', '-1'], '--lr: found -1; expected a number ≥ 1e-9'],
    [['--lr', '2'], '--lr: found 2; expected a number ≤ 1'],
    [['--r', '0'], '--r: found 0; expected an integer ≥ 1'],
    [['--r', '2.5'], '--r: found 2.5; expected an integer'],
    [['--method', 'qlora'], '--method: found "qlora" (did you mean "lora"?); expected one of "d2lora", "lora", "dora"'],
    [['--decay', 'step'], '--decay: found "step"; expected one of "linear", "cosine", "constant"'],
    [['--targets', 'qkv'], `--targets: found "qkv"; expected one of ${MODULES}`],
    [['--targets', ',,'], '--targets: found []; expected at least 1 entry'],
    [['--story-types', 'why'], '--story-types: found "why"; expected one of "color", "who", "what", "where", "yes-no"'],
    [['--story-types', 'who,who'], '--story-types: found ["who","who"]; expected distinct question types'],
    [['--story-characters', '7'], '--story-characters: found 7; expected an integer ≤ 6'],
    [['--min-lr', '0.1'], '--min-lr: found 0.1; expected a number at most the peak learning rate (lr)'],
    [['--seq-len', '1'], '--seq-len: found 1; expected an integer ≥ 2'],
    [['--seed', '-1'], '--seed: found -1; expected an integer ≥ 0'],
    [['--model', 'https://huggingface.co/bad repo/x/resolve/main/'], '--model: found "bad repo/x"; expected a Hugging Face repository id "owner/name"'],
    [['--model', 'http://example.org/m/'], '--model: found "http://example.org/m/"; expected an https:// URL of a Hugging Face model folder (http:// only for localhost)'],
    [['--model', './models/a<b'], '--model: found "a<b"; expected a folder name (no "/", "\\", ".." or any of <>:"|?*)'],
    [['--r', '0', '--seed', '-1'], '--r: found 0; expected an integer ≥ 1\n  --seed: found -1; expected an integer ≥ 0'],
    // Before the spec: the flag parser's own errors.
    [['--lr='], '--lr needs a value (peak learning rate)'],
    [['--lr'], '--lr needs a value (peak learning rate)'],
    [['--lr', ' '], '--lr needs a value (peak learning rate)'],
    [['--model='], `--model needs a value (${SPEC_FLAGS.model!.help})`],
    [['--targets='], `--targets needs a value (${SPEC_FLAGS.targets!.help})`],
    [['--lr', 'abc'], '--lr must be a decimal number, got "abc"'],
    [['--lr', 'Infinity'], '--lr must be a decimal number, got "Infinity"'],
    [['--r', '0x10'], '--r must be a decimal number, got "0x10"'],
    [['--r', '1_000'], '--r must be a decimal number, got "1_000"'],
    [['--project=maybe'], '--project is on or off: --project, --project=true or --project=false, got "maybe"'],
    [['--detach-norm='], '--detach-norm is on or off: --detach-norm, --detach-norm=true or --detach-norm=false, got ""'],
    [['--project', 'false'], 'unexpected argument "false"; see "d2lora train --help"'],
  ];
  it.each(CASES)('%j', async (argv, message) => {
    expect(await usageError(argv)).toBe(message);
  });

  it('names every accepted flag for an unknown one', async () => {
    expect(await usageError(['--rank', '4'])).toMatch(/^unknown flag --rank; accepted: --model, --task, --task-train, --task-name, .*, --method, --r, .*, --spec, --link$/);
  });

  it('takes decimals in every spelling a person writes', () => {
    const f = parseFlags(['--lr', '5e-3', '--alpha', '.5', '--tau', '+1', '--readd', '1.', '--weight-decay', '1E-2', '--seed', '-0'], SPEC_FLAGS, 'train');
    expect([f.lr, f.alpha, f.tau, f.readd, f['weight-decay'], f.seed]).toEqual([5e-3, 0.5, 1, 1, 0.01, -0]);
    expect(parseFlags(['--project=YES', '--detach-norm=0'], SPEC_FLAGS, 'train')).toMatchObject({ project: true, 'detach-norm': false });
  });
});

describe('--model', () => {
  it.each([
    ['a preset', 'stories15M', { kind: 'preset', name: 'stories15M' }, {}],
    ['a Hugging Face folder URL', 'https://huggingface.co/o/r/resolve/rev/', { kind: 'hub', repo: 'o/r', revision: 'rev' }, {}],
    ['a Hugging Face URL with a revision of slashes', 'https://huggingface.co/o/r/resolve/refs/pr/3', { kind: 'hub', repo: 'o/r', revision: 'refs/pr/3' }, {}],
    ['another https URL', 'https://example.org/models/m/', { kind: 'url', url: 'https://example.org/models/m/' }, {}],
    ['an http URL on this machine', 'http://localhost:8000/m/', { kind: 'url', url: 'http://localhost:8000/m/' }, {}],
    ['a local folder', './some/folder/', { kind: 'files', name: 'folder', files: [] }, { modelPath: './some/folder/' }],
    ['a llama2.c .bin', '/x/y/stories15M.bin', { kind: 'files', name: 'stories15M', files: [] }, { modelPath: '/x/y/stories15M.bin' }],
  ])('%s', async (_, value, model, locations) => {
    const r = await run(['--model', value]);
    expect(r.spec.model).toEqual(model);
    expect(r.locations).toEqual(locations);
    expect(differences(r.spec, DEFAULT_RUN_SPEC).every((d) => d.startsWith('model'))).toBe(true);
  });

  it("keeps a spec's pinned local files and takes only where they are from --model", async () => {
    const pinned = parseRunSpec({ model: { kind: 'files', name: 'my-model', files: [{ name: 'config.json', sha256: SHA_A }] } });
    const file = tempFile('pinned.json', JSON.stringify(pinned));
    const r = await run(['--spec', file, '--model', '/elsewhere/renamed']);
    expect(r.spec).toEqual(pinned);
    expect(r.locations).toEqual({ modelPath: '/elsewhere/renamed' });
    expect((await run(['--spec', file, '--model', 'stories260K'])).spec.model).toEqual({ kind: 'preset', name: 'stories260K' });
    expect(await usageError(['--spec', file])).toBe('the run\'s model is local files ("my-model"); give --model <folder or .bin> where they are');
  });
});

describe('--task', () => {
  it('story, and a catalog task', async () => {
    expect((await run(['--task', 'story'])).spec).toEqual(DEFAULT_RUN_SPEC);
    const boolq = await run(['--task', 'boolq']);
    expect(boolq.spec.task).toEqual({ kind: 'catalog', name: 'boolq' });
    expect(differences(boolq.spec, DEFAULT_RUN_SPEC).sort()).toEqual(['task.characters', 'task.choices', 'task.kind', 'task.name', 'task.questionTypes', 'task.seed', 'task.testSize', 'task.trainSize']);
  });

  it('a task file: named by its base name and pinned by its sha256, with its training file', async () => {
    const test = tempFile('quiz-test.jsonl', '{"question":"q","choices":["a","b"],"answer":0}\n');
    const train = tempFile('quiz-train.jsonl', '{"question":"r","choices":["c","d"],"answer":1}\n');
    const r = await run(['--task', test]);
    expect(r.spec.task).toEqual({ kind: 'file', test: { name: 'quiz-test.jsonl', sha256: sha256('{"question":"q","choices":["a","b"],"answer":0}\n') } });
    expect(r.locations).toEqual({ taskFiles: { test } });
    const both = await run(['--task', test, '--task-train', train]);
    expect(both.spec.task).toEqual({
      kind: 'file',
      test: { name: 'quiz-test.jsonl', sha256: sha256('{"question":"q","choices":["a","b"],"answer":0}\n') },
      train: { name: 'quiz-train.jsonl', sha256: sha256('{"question":"r","choices":["c","d"],"answer":1}\n') },
    });
    expect(both.locations).toEqual({ taskFiles: { test, train } });
    // The file's name makes the default output folder's name.
    expect(defaultOutFolder(r.spec)).toBe('out/stories260K-quiz-test-d2lora-r8-s0');
  });

  it.each([
    [['--task', 'hellaswag'], /^--task hellaswag needs your own files: .+ Give the file with its name, e\.g\. --task \.\/hellaswag\.jsonl --task-name hellaswag$/s],
    [['--task', 'commonsense_qa'], /^--task commonsense_qa needs your own files: .+ --task \.\/commonsense_qa\.jsonl --task-name commonsense_qa$/s],
    [['--task', 'story', '--task-name', 'hellaswag'], '--task-name describes a task file, but the task is story: give the file to --task'],
    [['--task', 'mmlu'], '--task: unknown task "mmlu"; expected story, boolq, piqa, social_i_qa, winogrande, ARC-Easy, ARC-Challenge, openbookqa, or a task file'],
    [['--task', 'missing/test.jsonl'], 'missing/test.jsonl: no such task file'],
    [['--task', 'story', '--task-train', 'train.jsonl'], '--task-train goes with a task file given to --task, not with --task story'],
    [['--task', 'boolq', '--task-train', 'train.jsonl'], '--task-train goes with a task file given to --task, not with --task boolq'],
    [['--task-train', 'train.jsonl'], '--task-train goes with a task file given to --task'],
    [['--task', 'boolq', '--story-train', '5'], '--story-train sets an option of the story task, but the task is boolq'],
    [['--task', 'ARC-Easy', '--story-types', 'who'], '--story-types sets an option of the story task, but the task is ARC-Easy'],
  ])('%j is an error', async (argv, message) => {
    const error = await usageError(argv as string[]);
    if (typeof message === 'string') expect(error).toBe(message);
    else expect(error).toMatch(message);
  });

  it('story flags with a task file are an error too', async () => {
    const test = tempFile('t.jsonl', '{}\n');
    expect(await usageError(['--task', test, '--story-choices', '3'])).toBe('--story-choices sets an option of the story task, but the task is file');
  });
});

describe('--spec (strict) and --link (lenient)', () => {
  it.each(Object.entries(VARIED_SPECS).filter(([, s]) => s.model?.kind !== 'files' && s.task?.kind !== 'file'))('--spec run.json gives the spec it holds: %s', async (_, input) => {
    const spec = parseRunSpec(input);
    const file = tempFile('run.json', `${JSON.stringify(spec, null, 2)}\n`);
    expect(await run(['--spec', file])).toEqual({ spec, locations: {}, warnings: [] });
    expect(await run(['--link', encodeRunLink(spec)])).toEqual({ spec, locations: {}, warnings: [] });
  });

  it('the flags change the spec they start from, and only the fields they name', async () => {
    const base = parseRunSpec(VARIED_SPECS['hub model, story task with every option']!);
    const file = tempFile('base.json', JSON.stringify(base));
    for (const from of [['--spec', file], ['--link', encodeRunLink(base)]]) {
      const { spec } = await run([...from, '--lr', '1e-3', '--story-train', '48', '--targets', 'q_proj']);
      expect(differences(spec, base).sort(), from[0]).toEqual(['targets', 'task.trainSize', 'training.lr']);
      expect([spec.training.lr, (spec.task as { trainSize: number }).trainSize, spec.targets]).toEqual([1e-3, 48, ['q_proj']]);
    }
  });

  it("--task story keeps the base's story options; another task replaces them", async () => {
    const base = parseRunSpec({ task: { kind: 'story', trainSize: 96, testSize: 24, questionTypes: ['who'] } });
    const link = encodeRunLink(base);
    expect((await run(['--link', link, '--task', 'story'])).spec).toEqual(base);
    expect((await run(['--link', link, '--task', 'story', '--story-test', '12'])).spec.task).toEqual({ ...base.task, testSize: 12 });
    expect((await run(['--link', link, '--task', 'piqa'])).spec.task).toEqual({ kind: 'catalog', name: 'piqa' });
  });

  it.each<[string, string, string | RegExp]>([
    ['an invalid value', '{"adapter":{"r":0}}', /^(.*)run-bad\.json: adapter\.r: found 0; expected an integer ≥ 1$/],
    ['an unknown field', '{"lora":true}', /run-bad\.json: lora: unknown field \(the fields here: version, model, task, adapter, targets, training, limits, scoring, seed\)$/],
    ['another version', '{"version":2}', /run-bad\.json: version: found 2; expected 1$/],
    ['not JSON', '{"adapter":', /^--spec .*run-bad\.json is not JSON \(.+\)$/],
  ])('--spec is strict and names the file: %s', async (_, content, message) => {
    const file = tempFile('run-bad.json', content);
    const error = await usageError(['--spec', file]);
    expect(error).toMatch(message);
    expect(error).toContain(file);
  });

  it('--spec names a file that is not there', async () => {
    expect(await usageError(['--spec', 'nowhere/run.json'])).toBe('--spec nowhere/run.json: no such file');
  });

  it('--link repairs and warns, and the flags still apply', async () => {
    const link = `#run=1.${(await import('node:zlib')).deflateRawSync(Buffer.from('{"adapter":{"r":0,"alpha":4},"foo":1}')).toString('base64url')}`;
    const r = await run(['--link', link, '--seed', '2']);
    expect(r.spec).toEqual(parseRunSpec({ adapter: { alpha: 4 }, seed: 2 }));
    expect(r.warnings).toEqual(['the link: adapter.r: found 0; expected an integer ≥ 1; using the default (8)', 'the link: foo: unknown field, ignored']);
  });

  it('--link refuses a link it cannot read, saying why', async () => {
    expect(await usageError(['--link', '#run=2.abcd'])).toBe('--link: the link is of version 2; this playground reads version 1 (the link comes from a newer playground: update this one)');
    expect(await usageError(['--link', 'https://example.org/'])).toBe('--link: the link has no "run=" part (expected #run=1.<data>)');
  });

  it('--spec and --link together are an error', async () => {
    expect(await usageError(['--spec', 'run.json', '--link', encodeRunLink(DEFAULT_RUN_SPEC)])).toBe('give --spec or --link, not both');
  });

  it("a link's local-file task needs --task to say where the file is", async () => {
    const spec = parseRunSpec({ task: { kind: 'file', test: { name: 'quiz.jsonl', sha256: SHA_A } } });
    expect(await usageError(['--link', encodeRunLink(spec)])).toBe('the run\'s task is a file ("quiz.jsonl"); give --task <file> where it is');
    const r = await run(['--link', encodeRunLink(spec), '--task', '/data/quiz.jsonl']);
    expect(r.spec).toEqual(spec);
    expect(r.locations).toEqual({ taskFiles: { test: '/data/quiz.jsonl' } });
  });
});

describe('d2lora link', () => {
  afterEach(() => vi.restoreAllMocks());

  async function printed(flags: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
    const code = await linkCommand(parseFlags(flags, linkFlags, 'link'));
    vi.restoreAllMocks();
    return { code, out: out.join('\n'), err: err.join('') };
  }

  it('prints the page URL with the spec the same flags give train', async () => {
    const flags = ['--story-train', '96', '--story-test', '24', '--max-train', '96', '--max-eval', '24', '--epochs', '1', '--batch', '8'];
    const { code, out, err } = await printed(flags);
    const { spec } = await run(flags);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toBe(`${DEFAULT_PAGE_ORIGIN}${encodeRunLink(spec)}`);
    expect(decodeRunLink(out)).toEqual({ ok: true, spec, problems: [], result: null });
  });

  it('takes another origin, and refuses one that is not an http(s) URL', async () => {
    expect((await printed(['--origin', 'https://example.org/d2lora/', '--r', '4'])).out).toBe(`https://example.org/d2lora/${encodeRunLink(parseRunSpec({ adapter: { r: 4 } }))}`);
    await expect(linkCommand(parseFlags(['--origin', 'ftp://example.org/'], linkFlags, 'link'))).rejects.toThrow('--origin must be an http(s) URL, got ftp://example.org/');
    await expect(linkCommand(parseFlags(['--origin', 'not a url'], linkFlags, 'link'))).rejects.toThrow('--origin not a url is not a URL (e.g. http://localhost:4173/)');
  });

  it('says what a link to local files does and does not carry', async () => {
    const test = tempFile('linked.jsonl', '{}\n');
    const { out, err } = await printed(['--model', './my-model', '--task', test]);
    expect(err).toBe(
      'note: the task is a local file; the link names it with its sha256, and whoever opens the link picks the same file\n' +
        'note: the model is a local folder; the link names it ("my-model"), not its files, and whoever opens the link picks it\n',
    );
    const d = decodeRunLink(out);
    expect(d.ok && d.spec.model).toEqual({ kind: 'files', name: 'my-model', files: [] });
  });

  it('round-trips a spec through --link and back to link', async () => {
    const spec = parseRunSpec(VARIED_SPECS['preset, catalog task, LoRA'] as RunSpecInput);
    const { out } = await printed(['--link', encodeRunLink(spec)]);
    expect(decodeRunLink(out)).toEqual({ ok: true, spec, problems: [], result: null });
  });
});
