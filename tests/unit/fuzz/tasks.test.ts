// The task formats under mutation (src/tasks/formats.ts): LLM-Adapters JSON (slices of the mirror's
// QA files), JSON Lines and CSV (made from the same items), each as multiple-choice and as
// prompt/target files. Mutations: the generic byte ones, the formats' punctuation (quotes, commas,
// line breaks, brackets), boundary numbers and tree edits in the JSON, deep nesting. Every input is
// also given to detectTaskFileFormat, which must not throw.

import { beforeAll, describe, expect, it } from 'vitest';
import { detectTaskFileFormat, parseGenerativeTable, parseLlmAdaptersJson, parseMultipleChoiceTable } from '../../../src/tasks/formats';
import type { GenerativeItem, MultipleChoiceItem } from '../../../src/tasks/types';
import { allSamples, taskSamples, type TaskSamples } from './corpus';
import { byteTarget, formatErrorOutcome, FUZZ_TEST_TIMEOUT_MS, InvalidResult, pick, runFuzz, tokens, type Mutator, type Sample } from './harness';
import { jsonMutators, oneLine, wholeFile } from './json';

const JSON_TOKENS = ['{', '}', '[', ']', '"', ':', ',', 'null', 'true', '-1', '0', '1e999', '"__proto__"', '\\u0000', '\\ud800', ' ', '\n', '\r\n'];
const TABLE_TOKENS = ['"', '""', ',', '\n', '\r\n', '\r', ',,', '"a,b"', '"\n"', 'A', '0', '9', '-1', '\uFEFF', '\u2028'];
const FIELD_NAMES = ['"question"', '"choices"', '"answer"', '"context"', '"label"', '"text"', '"prompt"', '"target"', '"instruction"', '"input"', '"output"', 'choice1', 'A', 'answer'];

function checkChoices(items: MultipleChoiceItem[]): number {
  for (const it of items) {
    if (!(it.choices.length >= 2 && Number.isInteger(it.answer) && it.answer >= 0 && it.answer < it.choices.length)) {
      throw new InvalidResult(`item ${it.id}: answer ${it.answer} of ${it.choices.length} choices`);
    }
    if (it.question.trim() === '' || it.choices.some((c) => c.trim() === '')) throw new InvalidResult(`item ${it.id}: an empty question or choice`);
  }
  return items.length;
}

function checkGenerative(items: GenerativeItem[]): number {
  for (const it of items) {
    if (it.prompt.trim() === '' || it.target.trim() === '') throw new InvalidResult(`item ${it.id}: an empty prompt or target`);
  }
  return items.length;
}

/**
 * The header line replaced by one of 100 to 60,000 distinct column names (the file's own first, so
 * the mapping still finds them): a parser that compares each name with all before it is quadratic.
 */
const wideHeader: Mutator = {
  name: 'wide header',
  weight: 0.25,
  apply(rng, bytes) {
    const text = new TextDecoder().decode(bytes);
    const end = text.indexOf('\n');
    if (end < 0) return null;
    const columns = pick(rng, [100, 1000, 60_000]);
    const names = [...text.slice(0, end).replace(/\r$/, '').split(','), ...Array.from({ length: columns }, (_, i) => `extra${i}`)];
    return { bytes: new TextEncoder().encode(`${names.join(',')}${text.slice(end)}`), what: `${columns} more columns in the header` };
  },
};

interface TaskFormat {
  name: string;
  file: string;
  seed: number;
  samples: (t: TaskSamples) => Sample[];
  mutators: Mutator[];
  dictionary: string[];
  /** Parses and checks the items; returns how many. */
  parse(bytes: Uint8Array, file: string): number;
}

const FORMATS: TaskFormat[] = [
  {
    name: 'LLM-Adapters JSON',
    file: 'data/fuzzed/test.json',
    seed: 0x11a,
    samples: (t) => t.llmAdapters,
    mutators: jsonMutators(wholeFile),
    dictionary: [...JSON_TOKENS, ...FIELD_NAMES, 'Answer1:', 'answer1', 'Answer format:', 'true/false', 'the correct answer is'],
    parse: (bytes, file) => checkChoices(parseLlmAdaptersJson(bytes, file)),
  },
  {
    name: 'JSONL (multiple choice)',
    file: 'data/fuzzed/test.jsonl',
    seed: 0x150c,
    samples: (t) => t.jsonlChoice,
    mutators: jsonMutators(oneLine),
    dictionary: [...JSON_TOKENS, ...FIELD_NAMES],
    parse: (bytes, file) => checkChoices(parseMultipleChoiceTable(bytes, file, 'jsonl')),
  },
  {
    name: 'JSONL (prompt/target)',
    file: 'data/fuzzed/train.jsonl',
    seed: 0x150d,
    samples: (t) => t.jsonlGenerative,
    mutators: jsonMutators(oneLine),
    dictionary: [...JSON_TOKENS, ...FIELD_NAMES],
    parse: (bytes, file) => checkGenerative(parseGenerativeTable(bytes, file, 'jsonl')),
  },
  {
    name: 'CSV (multiple choice)',
    file: 'data/fuzzed/test.csv',
    seed: 0xc5f,
    samples: (t) => t.csvChoice,
    mutators: [wideHeader],
    dictionary: [...TABLE_TOKENS, ...FIELD_NAMES, '["a","b"]', '{"text":["a","b"],"label":["A","B"]}', '[]'],
    parse: (bytes, file) => checkChoices(parseMultipleChoiceTable(bytes, file, 'csv')),
  },
  {
    name: 'CSV (prompt/target)',
    file: 'data/fuzzed/train.csv',
    seed: 0xc60,
    samples: (t) => t.csvGenerative,
    mutators: [wideHeader],
    dictionary: [...TABLE_TOKENS, ...FIELD_NAMES],
    parse: (bytes, file) => checkGenerative(parseGenerativeTable(bytes, file, 'csv')),
  },
];

describe('fuzz: task files', () => {
  let donors: Sample[];
  let tasks: TaskSamples;
  beforeAll(async () => {
    donors = await allSamples();
    tasks = await taskSamples();
  });

  it.each(FORMATS.map((f) => [f.name, f] as const))('10,000 mutations of %s: each gives valid items, or is refused with a FormatError naming the file', { timeout: FUZZ_TEST_TIMEOUT_MS }, (_, format) => {
    const report = runFuzz(
      byteTarget({
        name: format.name,
        seed: format.seed,
        mutations: 10_000,
        samples: format.samples(tasks),
        context: { donors, dictionary: tokens(...format.dictionary) },
        extraMutators: format.mutators,
        run: (bytes) => {
          detectTaskFileFormat(format.file, bytes);
          // Items are not held to a size per input byte: a record of 4 bytes ("a,b" and a newline) gets an id of the file's name and its line.
          return formatErrorOutcome(format.file, () => format.parse(bytes, format.file));
        },
      }),
    );
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    expect(report.accepted).toBeGreaterThan(500);
    expect(report.rejected).toBeGreaterThan(1000);
    expect(report.distinctRefusals).toBeGreaterThan(5);
  });
});
