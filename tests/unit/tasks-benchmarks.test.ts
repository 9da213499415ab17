// The seven benchmarks from the mirror (../shared/data/qa or $D2LORA_MIRROR), read the way the
// playground reads them, and loadTask's other sources. The real files are only read, never copied.

import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { defaultStoryOptions } from '../../src/run/spec';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FormatError } from '../../src/io/errors';
import { ChecksumError, sha256Hex } from '../../src/io/fetch-cache';
import { mirrorDataFile } from '../../src/io/mirror';
import { readFileBytes } from '../../src/io/node-files';
import { NodeByteCache } from '../../src/io/node-source';
import { catalogFileUrl, findCatalogEntry, getCatalogEntry, TASK_CATALOG, type DownloadedTask } from '../../src/tasks/catalog';
import { loadTask } from '../../src/tasks/load';
import { loadTaskInNode } from '../../src/tasks/node';
import { prepareTask } from '../../src/tasks/protocol';
import type { MultipleChoiceTask, TaskData } from '../../src/tasks/types';
import { FileServer } from './http-fixture';
import { mirrorPath } from './mirror';

const MIRROR = mirrorPath('.');

/** The documented counts (README, "Tasks") and the choices per question of each benchmark. */
const EXPECTED: Record<string, { train: number; test: number; choices: number[] }> = {
  boolq: { train: 9427, test: 3270, choices: [2] },
  piqa: { train: 0, test: 1838, choices: [2] },
  social_i_qa: { train: 0, test: 1954, choices: [3] },
  winogrande: { train: 0, test: 1267, choices: [2] },
  'ARC-Easy': { train: 2251, test: 2376, choices: [3, 4, 5] },
  'ARC-Challenge': { train: 1119, test: 1172, choices: [3, 4, 5] },
  openbookqa: { train: 4957, test: 500, choices: [4] },
};
const BENCHMARKS = Object.keys(EXPECTED);

const downloaded = (name: string) => getCatalogEntry(name) as DownloadedTask;
const multipleChoice = (task: TaskData): MultipleChoiceTask => {
  if (task.kind !== 'multiple-choice') throw new Error(`${task.name} is not multiple choice`);
  return task;
};

describe('the catalog', () => {
  it('has the seven benchmarks, the two brought by users and the built-in story task', () => {
    expect(TASK_CATALOG.map((t) => `${t.name}:${t.source}`)).toEqual([
      ...BENCHMARKS.map((name) => `${name}:download`),
      'hellaswag:user',
      'commonsense_qa:user',
      'story:builtin',
    ]);
    expect(findCatalogEntry('arc-easy')?.name).toBe('ARC-Easy');
    expect(() => getCatalogEntry('squad')).toThrow(/^unknown task "squad"; the catalog has boolq, piqa, .*, story$/);
  });

  it('knows each file: its public URL, split, size, item count and the sha256 of the mirrored file', async () => {
    for (const name of BENCHMARKS) {
      const entry = downloaded(name);
      const { train, test } = EXPECTED[name];
      expect(entry.devOnly).toBe(train === 0);
      expect(entry.files.map((f) => [f.name, f.split, f.items])).toEqual([
        ...(train === 0 ? [] : [['train.json', 'train', train]]),
        ['test.json', 'test', test],
      ]);
      for (const file of entry.files) {
        expect(catalogFileUrl(entry, file.name)).toBe(`https://raw.githubusercontent.com/AGI-Edgerunners/LLM-Adapters/main/dataset/${name}/${file.name}`);
        const bytes = await readFileBytes(join(MIRROR, mirrorDataFile(name, file.name)));
        expect([bytes.length, await sha256Hex(bytes)]).toEqual([file.bytes, file.sha256]);
      }
    }
  });
});

describe('the seven benchmarks from the mirror', () => {
  const tasks = new Map<string, MultipleChoiceTask>();
  beforeAll(async () => {
    for (const name of BENCHMARKS) tasks.set(name, multipleChoice(await loadTaskInNode(name, { mirror: MIRROR })));
  });

  it('has the documented number of items in each split', () => {
    const counts = Object.fromEntries(BENCHMARKS.map((name) => [name, { train: tasks.get(name)!.train.length, test: tasks.get(name)!.test.length }]));
    expect(counts).toEqual(Object.fromEntries(BENCHMARKS.map((name) => [name, { train: EXPECTED[name].train, test: EXPECTED[name].test }])));
  });

  it('parses every item: a question, its choices, the answer index among them', () => {
    for (const name of BENCHMARKS) {
      const task = tasks.get(name)!;
      const bad = [...task.train, ...task.test].filter(
        (item) =>
          item.question === '' ||
          !EXPECTED[name].choices.includes(item.choices.length) ||
          item.choices.some((c) => c === '' || c !== c.trim()) ||
          !Number.isInteger(item.answer) ||
          item.answer < 0 ||
          item.answer >= item.choices.length ||
          item.context !== undefined,
      );
      expect(bad, name).toEqual([]);
      expect(task.template).toBe(getCatalogEntry(name).template);
    }
    expect(tasks.get('boolq')!.train.every((item) => item.choices.join('/') === 'true/false')).toBe(true);
  });

  it('reads each phrasing as written', () => {
    expect(tasks.get('boolq')!.train[0]).toEqual({ question: 'do iran and afghanistan speak the same language?', choices: ['true', 'false'], answer: 0, id: 'train.json#0' });
    expect(tasks.get('ARC-Challenge')!.test[0]).toEqual({
      question: 'An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?',
      choices: ['Planetary density will decrease.', 'Planetary years will become longer.', 'Planetary days will become shorter.', 'Planetary gravity will become stronger.'],
      answer: 2,
      id: 'test.json#0',
    });
    expect(tasks.get('winogrande')!.test[0]).toMatchObject({ question: 'Sarah was a much better surgeon than Maria so _ always got the easier cases.', choices: ['Sarah', 'Maria'], answer: 1 });
    expect(tasks.get('piqa')!.test[1]).toMatchObject({ question: 'dresser', choices: ['replace drawer with bobby pin', 'finish, woodgrain with  bobby pin'], answer: 1 });
    expect(tasks.get('social_i_qa')!.test[0]).toMatchObject({ choices: ['make a new plan', 'Go home and see Riley', 'Find somewhere to go'], answer: 2 });
  });

  it('draws the 5k-sample protocol from them', () => {
    const counts = Object.fromEntries(BENCHMARKS.map((name) => [name, prepareTask(tasks.get(name)!, { seed: 0 }).counts]));
    expect(counts).toEqual({
      boolq: { devOnly: false, trainPool: 9427, evalPool: 3270, train: 5000, eval: 1000 },
      piqa: { devOnly: true, trainPool: 919, evalPool: 919, train: 919, eval: 919 },
      social_i_qa: { devOnly: true, trainPool: 977, evalPool: 977, train: 977, eval: 977 },
      winogrande: { devOnly: true, trainPool: 633, evalPool: 634, train: 633, eval: 634 },
      'ARC-Easy': { devOnly: false, trainPool: 2251, evalPool: 2376, train: 2251, eval: 1000 },
      'ARC-Challenge': { devOnly: false, trainPool: 1119, evalPool: 1172, train: 1119, eval: 1000 },
      openbookqa: { devOnly: false, trainPool: 4957, evalPool: 500, train: 4957, eval: 500 },
    });
  });
});

describe('loadTask', () => {
  let winogrande: Uint8Array;
  const entry = downloaded('winogrande');
  const url = catalogFileUrl(entry, entry.files[0].name);
  beforeAll(async () => {
    winogrande = await readFileBytes(join(MIRROR, mirrorDataFile('winogrande', 'test.json')));
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.unstubAllEnvs();
  });

  async function tempFolder(): Promise<string> {
    return mkdtemp(join(tmpdir(), 'd2lora-tasks-'));
  }

  it('takes the mirror from $D2LORA_MIRROR in Node and says where the items came from', async () => {
    vi.stubEnv('D2LORA_MIRROR', MIRROR);
    const events: string[] = [];
    const task = multipleChoice(await loadTaskInNode('winogrande', { onProgress: (p) => events.push(`${p.file} ${p.loaded}/${p.total}`) }));
    expect([task.train.length, task.test.length]).toEqual([0, 1267]);
    expect(events).toEqual([`test.json ${winogrande.length}/${winogrande.length}`]);
    expect(task.source).toBe(`${MIRROR}/data/qa/winogrande/ (test.json; sha256 checked)`);
    expect(task.notes).toEqual(["data: the LLM-Adapters repository's copy, licence ODC-By 1.0 (the LLM-Adapters repository's DATA_LICENSE)"]);
  });

  it('reads a mirror URL, as the browser does', async () => {
    const server = new FileServer(new Map([['mirror/data/qa/winogrande/test.json', winogrande]]));
    const base = await server.start();
    try {
      const task = await loadTask('winogrande', { mirror: `${base}mirror` });
      expect(task.test.length).toBe(1267);
      expect(server.requests.map((r) => r.path)).toEqual(['mirror/data/qa/winogrande/test.json']);
    } finally {
      await server.stop();
    }
  });

  it('downloads from the public URL without a mirror, through the cache, checking the sha256', async () => {
    const folder = await tempFolder();
    try {
      let body = winogrande;
      const fetched: string[] = [];
      vi.stubGlobal('fetch', async (input: string | URL) => {
        fetched.push(String(input));
        return new Response(body.slice(), { status: 200, headers: { 'content-length': String(body.length) } });
      });
      const cache = new NodeByteCache(folder);
      expect((await loadTask('winogrande', { cache })).test.length).toBe(1267);
      expect((await loadTask('winogrande', { cache })).source).toBe(
        'https://raw.githubusercontent.com/AGI-Edgerunners/LLM-Adapters/main/dataset/winogrande/ (test.json; sha256 checked)',
      );
      expect(fetched).toEqual([url]); // the second load came from the cache

      body = winogrande.slice();
      body[10] ^= 1;
      await expect(loadTask('winogrande', { cache: new NodeByteCache(join(folder, 'fresh')) })).rejects.toThrow(ChecksumError);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('never goes online with a mirror set: a missing file is an error, and so is a wrong checksum', async () => {
    const mirror = await tempFolder();
    try {
      await expect(loadTaskInNode('winogrande', { mirror })).rejects.toThrow(
        `${mirror}/data/qa/winogrande/test.json: not in the mirror (D2LORA_MIRROR=${mirror}); with a mirror set nothing is downloaded`,
      );
      await mkdir(join(mirror, 'data/qa/winogrande'), { recursive: true });
      await writeFile(join(mirror, 'data/qa/winogrande/test.json'), '[]');
      const error = await loadTaskInNode('winogrande', { mirror }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChecksumError);
      expect((error as Error).message).toBe(`${mirror}/data/qa/winogrande/test.json: sha256 ${await sha256Hex(new TextEncoder().encode('[]'))}; expected ${entry.files[0].sha256}`);
    } finally {
      await rm(mirror, { recursive: true, force: true });
    }
  });

  it("asks for the user's files for hellaswag and commonsense_qa, and reads them with the entry's mapping and template", async () => {
    await expect(loadTask('hellaswag')).rejects.toThrow(/^task hellaswag is not distributed with the playground: supply its files .*Expected: LLM-Adapters JSON/);
    const lines = [
      { ctx: 'A man stands behind a drum. He', endings: ['sings.', 'eats.', 'plays it.', 'sleeps.'], label: '2' },
      { ctx: 'A dog sees a ball. It', endings: ['runs to it.', 'reads.', 'cooks.', 'flies.'], label: '0' },
    ];
    const picked = { name: 'hellaswag_val.jsonl', bytes: async () => new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join('\n')) };
    const task = multipleChoice(await loadTask({ name: 'hellaswag', files: { test: picked } }));
    expect(task).toEqual({
      name: 'hellaswag',
      kind: 'multiple-choice',
      template: 'continuation',
      train: [],
      test: [
        { question: 'A man stands behind a drum. He', choices: ['sings.', 'eats.', 'plays it.', 'sleeps.'], answer: 2, id: 'hellaswag_val.jsonl:1' },
        { question: 'A dog sees a ball. It', choices: ['runs to it.', 'reads.', 'cooks.', 'flies.'], answer: 0, id: 'hellaswag_val.jsonl:2' },
      ],
      source: 'hellaswag_val.jsonl',
      notes: ['no train file: the test file is split into training and held-out parts'],
    });
    const csqa = { question: 'Where is a fish?', choices: { label: ['A', 'B', 'C', 'D', 'E'], text: ['sky', 'water', 'desk', 'car', 'oven'] }, answerKey: 'B' };
    const file = { name: 'csqa/train.json', bytes: async () => new TextEncoder().encode(`${JSON.stringify(csqa)}\n`) };
    const loaded = multipleChoice(await loadTask({ name: 'commonsense_qa', files: { train: file, test: file } }));
    expect([loaded.template, loaded.train[0].answer, loaded.test[0].choices.length]).toEqual(['question-answer', 1, 5]);
  });

  it('reads CSV and JSONL files by path, multiple-choice or generative, naming the file of a bad one', async () => {
    const folder = await tempFolder();
    try {
      await writeFile(join(folder, 'train.csv'), 'question,choice1,choice2,answer\n"Is it, or not?",yes,no,1\n');
      await writeFile(join(folder, 'test.csv'), 'question,choice1,choice2,answer\nWhy?,because,"no ""reason""",0\n');
      const task = multipleChoice(await loadTaskInNode({ files: { train: join(folder, 'train.csv'), test: join(folder, 'test.csv') }, template: 'goal-solution' }));
      expect(task).toMatchObject({ name: 'test', template: 'goal-solution', source: `${folder}/train.csv, ${folder}/test.csv`, notes: [] });
      expect(task.test[0].choices).toEqual(['because', 'no "reason"']);

      await writeFile(join(folder, 'gen.jsonl'), '{"prompt": "2+2=", "target": " 4"}\n');
      const gen = await loadTaskInNode({ name: 'sums', kind: 'generative', files: { test: join(folder, 'gen.jsonl') } });
      expect(gen).toMatchObject({ name: 'sums', kind: 'generative', test: [{ prompt: '2+2=', target: ' 4' }] });

      await writeFile(join(folder, 'bad.csv'), 'question,choice1,choice2,answer\nWhy?,a,b,7\n');
      const error = await loadTaskInNode({ files: { test: join(folder, 'bad.csv') } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FormatError);
      expect((error as FormatError).message).toBe(`${folder}/bad.csv: line 2, column "answer": "7"; expected the 0-based index (answerFormat "index1" reads 1-based ones) of one of the 2 choices`);
      await expect(loadTaskInNode({ files: { test: join(folder, 'missing.csv') } })).rejects.toThrow(`${folder}/missing.csv: no such file`);
      await expect(loadTaskInNode({ files: { test: join(folder, 'gen.jsonl') }, kind: 'generative', format: 'llm-adapters' })).rejects.toThrow(FormatError);
      await expect(loadTask({ files: { test: join(folder, 'test.csv') } })).rejects.toThrow(/a local path, but this environment cannot read local files/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('generates the story task with the options it is given', async () => {
    const task = multipleChoice(await loadTask('story', { story: defaultStoryOptions({ trainSize: 20, testSize: 10, seed: 7 }) }));
    expect([task.name, task.template, task.train.length, task.test.length]).toEqual(['story', 'story', 20, 10]);
  });
});
