import { beforeAll, describe, expect, it } from 'vitest';
import { readFileBytes } from '../../src/io/node-files';
import { Llama2cTokenizer } from '../../src/tokenizer/llama2c';
import { tokenizeMultipleChoiceItems } from '../../src/tasks/protocol';
import { checkStoryOptions, generateStoryTask, STORY_QUESTION_TYPES, STORY_WORDS, storyChanceLevels, type StoryOptions, type StoryQuestionType } from '../../src/tasks/story';
import type { MultipleChoiceItem, MultipleChoiceTask } from '../../src/tasks/types';
import { mirrorPath } from './mirror';

/** The test's own reading of a story: the question's type and its correct choice, from the text alone; null if unreadable. */
function readStory(item: MultipleChoiceItem): { type: StoryQuestionType; correct: string | undefined } | null {
  const context = item.context ?? '';
  const had = new Map([...context.matchAll(/(\w+) had a (\w+) (\w+)\./g)].map((m) => [m[1], { color: m[2], thing: m[3] }]));
  const went = new Map([...context.matchAll(/(\w+) went to the (\w+)\./g)].map((m) => [m[1], m[2]]));
  const q = item.question;
  let m: RegExpExecArray | null;
  if ((m = /^What color was (\w+)'s (\w+)\?$/.exec(q))) return { type: 'color', correct: had.get(m[1])?.thing === m[2] ? had.get(m[1])!.color : undefined };
  if ((m = /^Who had the (\w+)\?$/.exec(q))) return { type: 'who', correct: [...had].find(([, v]) => v.thing === m![1])?.[0] };
  if ((m = /^What did (\w+) have\?$/.exec(q))) return { type: 'what', correct: had.get(m[1])?.thing };
  if ((m = /^Where did (\w+) go\?$/.exec(q))) return { type: 'where', correct: went.get(m[1]) };
  if ((m = /^Did (\w+) have a (\w+)\?$/.exec(q))) return { type: 'yes-no', correct: had.has(m[1]) ? (had.get(m[1])!.thing === m[2] ? 'yes' : 'no') : undefined };
  return null;
}

/**
 * Per question type: how often the correct choice sits at each position. Every item must be
 * readable, its answer the one the story gives, once among distinct choices.
 */
function positions(items: MultipleChoiceItem[]): Record<string, number[]> {
  const counts: Record<string, number[]> = {};
  const wrong: string[] = [];
  for (const item of items) {
    const read = readStory(item);
    const ok =
      read !== null &&
      read.correct !== undefined &&
      item.choices[item.answer] === read.correct &&
      item.choices.filter((c) => c === read.correct).length === 1 &&
      new Set(item.choices).size === item.choices.length;
    if (!ok) wrong.push(JSON.stringify(item));
    else (counts[read.type] ??= new Array<number>(item.choices.length).fill(0))[item.answer]++;
  }
  expect(wrong).toEqual([]);
  return counts;
}

const key = (item: MultipleChoiceItem) => `${item.context}\n${item.question}`;

/** The generator at full difficulty (every question type, three children), with some options changed. */
const options = (changes: Partial<StoryOptions> = {}): StoryOptions => ({
  trainSize: 5000,
  testSize: 500,
  seed: 0,
  questionTypes: [...STORY_QUESTION_TYPES],
  characters: 3,
  choices: 4,
  ...changes,
});

describe('the story generator', () => {
  let task: MultipleChoiceTask;
  beforeAll(() => {
    task = generateStoryTask(options());
  });

  it('makes 5,000 training and 500 test items of short stories, the same for the same options', () => {
    expect([task.name, task.kind, task.template, task.train.length, task.test.length]).toEqual(['story', 'multiple-choice', 'story', 5000, 500]);
    expect(task.train[0].id).toBe('story-train-0');
    expect(task.test[499].id).toBe('story-test-499');
    expect(task.source).toBe('built-in story generator (seed 0, 3 characters, 4 choices, questions: color, who, what, where, yes-no)');
    expect(generateStoryTask(options({ trainSize: 50, testSize: 50 })).test).toEqual(generateStoryTask(options({ trainSize: 50, testSize: 50 })).test);
    expect(generateStoryTask(options({ trainSize: 50, testSize: 0 })).train).toEqual(task.train.slice(0, 50));
    expect(generateStoryTask(options({ trainSize: 50, testSize: 0, seed: 1 })).train).not.toEqual(task.train.slice(0, 50));
  });

  it('asks each question type equally often with the correct choice equally often at each position', () => {
    expect(positions(task.train)).toEqual({
      color: [250, 250, 250, 250],
      who: [250, 250, 250, 250],
      what: [250, 250, 250, 250],
      where: [250, 250, 250, 250],
      'yes-no': [500, 500],
    });
    expect(positions(task.test)).toEqual({ color: [25, 25, 25, 25], who: [25, 25, 25, 25], what: [25, 25, 25, 25], where: [25, 25, 25, 25], 'yes-no': [50, 50] });
    expect(storyChanceLevels(options())).toEqual({ color: 0.25, who: 0.25, what: 0.25, where: 0.25, 'yes-no': 0.5 });
    expect(task.notes).toEqual(['chance level: color 25.0%, who 25.0%, what 25.0%, where 25.0%, yes-no 50.0%; overall 30.0% (question types in equal shares)']);
  });

  it('takes wrong choices from the story first, and never repeats a training question in the test split', () => {
    for (const item of task.test.filter((i) => i.question.startsWith('What color'))) {
      const storyColors = [...(item.context ?? '').matchAll(/had a (\w+) /g)].map((m) => m[1]);
      expect(storyColors.every((c) => item.choices.includes(c))).toBe(true);
    }
    const trainKeys = new Set(task.train.map(key));
    expect(task.test.some((item) => trainKeys.has(key(item)))).toBe(false);
  });

  it('lets the difficulty be tuned: characters, choices and question types', () => {
    const easy = generateStoryTask(options({ trainSize: 300, testSize: 30, seed: 3, characters: 2, choices: 3, questionTypes: ['who', 'yes-no'] }));
    expect(positions(easy.train)).toEqual({ who: [50, 50, 50], 'yes-no': [75, 75] });
    expect(easy.train.every((item) => (item.context ?? '').split('. ').length === 2)).toBe(true);
    expect(storyChanceLevels(options({ choices: 3, questionTypes: ['who', 'yes-no'] }))).toEqual({ who: 1 / 3, 'yes-no': 0.5 });
    // One character: the wrong choices all come from outside the story.
    expect(Object.keys(positions(generateStoryTask(options({ trainSize: 100, testSize: 0, characters: 1 })).train))).toHaveLength(5);
    expect(positions(generateStoryTask(options({ trainSize: 60, testSize: 0, characters: 6, choices: 6, questionTypes: ['color'] })).train)).toEqual({
      color: [10, 10, 10, 10, 10, 10],
    });
  });

  it('checks its options', () => {
    expect(checkStoryOptions(options({ seed: -4 }))).toEqual(options({ seed: -4 }));
    expect(() => checkStoryOptions({ ...options(), questionTypes: undefined as unknown as StoryQuestionType[] })).toThrow(/questionTypes: found undefined/);
    expect(() => generateStoryTask(options({ characters: 7 }))).toThrow('story options: characters: found 7; expected an integer in [1, 6]');
    expect(() => generateStoryTask(options({ choices: 1 }))).toThrow('story options: choices: found 1; expected an integer in [2, 6]');
    expect(() => generateStoryTask(options({ trainSize: 2.5 }))).toThrow(/trainSize: found 2.5/);
    expect(() => generateStoryTask(options({ questionTypes: ['when' as StoryQuestionType] }))).toThrow(
      'story options: questionTypes: found ["when"]; expected distinct values of color, who, what, where, yes-no',
    );
    expect(() => generateStoryTask(options({ questionTypes: [] }))).toThrow(/questionTypes/);
  });

  describe('with the stories260K vocabulary', () => {
    let tok512: Llama2cTokenizer;
    beforeAll(async () => {
      tok512 = Llama2cTokenizer.parse(await readFileBytes(mirrorPath('models/stories260K/tok512.bin')), 'tok512.bin', 512);
    });

    it('uses words of at most three tokens after a space', () => {
      const words = [...STORY_WORDS.names, ...STORY_WORDS.colors, ...STORY_WORDS.things, ...STORY_WORDS.places];
      // encode() starts non-empty text with the dummy-prefix space, which merges into the word.
      const lengths = Object.fromEntries(words.map((w) => [w, tok512.encode(w).length]));
      expect(Object.entries(lengths).filter(([, n]) => n > 3)).toEqual([]);
      expect(lengths).toMatchObject({ Lily: 1, Tim: 1, Tom: 2, red: 2, ball: 2, hat: 2, kite: 3, park: 3 });
    });

    it('keeps every item within 64 tokens, BOS and the longest choice included', () => {
      const { items, report } = tokenizeMultipleChoiceItems(task.test, task.template, tok512, 64);
      expect(report).toMatchObject({ items: 500, truncated: 0, dropped: 0 });
      expect(report.longest).toBeLessThanOrEqual(64);
      const lengths = items.map((t) => t.prompt.length + t.choices[t.answer].length);
      expect(lengths.reduce((a, b) => a + b, 0) / lengths.length).toBeLessThan(56);
    });
  });
});
