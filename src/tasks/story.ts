// The built-in task: short stories in simple children's-story English and a question about each,
// multiple choice. Nothing to download, any size, the same items for the same options in every
// engine (everything is drawn from Rng).
//
//   Lily had a red ball. Tom had a green hat. Sue had a pink kite.
//   Q: What color was Tom's hat?
//   A: red / green / pink / gold        (the correct one: green)
//
// A story names `characters` people, each with a different colour, thing and place; its sentences
// carry what the question needs ("<name> had a <colour> <thing>." or "<name> went to the
// <place>."). The wrong choices are first the other characters' colours, things, names or places
// (so the answer needs the story, not a guess at which word appeared), then words from outside
// the story. Question types come in shuffled rounds, and so does the correct choice's position
// within each type, so both are balanced: chance level is exactly 1/choices per type.
//
// The words were picked for the stories260K vocabulary (tok512.bin): each takes one to three tokens
// after a space ("tan", not "blue", which takes four), so with the defaults an item (BOS, story,
// question and its longest choice, in the story template) is 45-64 tokens, 52 on average.

import { Rng } from '../util/rng';
import { BalancedDraw, randomBelow, shuffleInPlace } from '../util/sample';
import type { MultipleChoiceItem, MultipleChoiceTask } from './types';

export type StoryQuestionType = 'color' | 'who' | 'what' | 'where' | 'yes-no';
export const STORY_QUESTION_TYPES: readonly StoryQuestionType[] = ['color', 'who', 'what', 'where', 'yes-no'];

export const STORY_WORDS = Object.freeze({
  names: ['Lily', 'Tim', 'Tom', 'Ben', 'Sam', 'Sue', 'Mia', 'Max'],
  colors: ['red', 'tan', 'green', 'pink', 'gold', 'gray'],
  things: ['ball', 'hat', 'dog', 'cat', 'doll', 'car', 'kite', 'cup', 'box', 'book', 'boat', 'cake'],
  places: ['park', 'pond', 'farm', 'beach', 'lake', 'zoo', 'hill', 'pool', 'sea', 'town'],
});

/** The generator's options; their defaults are the story task's in the RunSpec (src/run/spec.ts). */
export interface StoryOptions {
  trainSize: number;
  /** No test story and question equals a training one. */
  testSize: number;
  seed: number;
  /** In equal shares. */
  questionTypes: StoryQuestionType[];
  /** People per story, 1-6. */
  characters: number;
  /** Choices per question except yes/no (always 2), 2-6. */
  choices: number;
}

const MAX_CHOICES = Math.min(STORY_WORDS.names.length, STORY_WORDS.colors.length, STORY_WORDS.things.length, STORY_WORDS.places.length);

/** The options, each checked (RangeError naming the option). */
export function checkStoryOptions(options: StoryOptions): StoryOptions {
  const o: StoryOptions = { ...options };
  const integer = (field: Exclude<keyof StoryOptions, 'questionTypes'>, lo: number, hi: number) => {
    const v = o[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new RangeError(`story options: ${field}: found ${String(v)}; expected an integer in [${lo}, ${hi}]`);
    }
  };
  integer('trainSize', 0, 1_000_000);
  integer('testSize', 0, 1_000_000);
  integer('seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  integer('characters', 1, MAX_CHOICES);
  integer('choices', 2, MAX_CHOICES);
  const types = o.questionTypes;
  if (!Array.isArray(types) || types.length === 0 || types.some((t) => !STORY_QUESTION_TYPES.includes(t)) || new Set(types).size !== types.length) {
    throw new RangeError(`story options: questionTypes: found ${JSON.stringify(types)}; expected distinct values of ${STORY_QUESTION_TYPES.join(', ')}`);
  }
  return { ...o, questionTypes: [...types] };
}

/** Chance accuracy (1 / choices) of each question type the options ask. */
export function storyChanceLevels(options: StoryOptions): Partial<Record<StoryQuestionType, number>> {
  const o = checkStoryOptions(options);
  return Object.fromEntries(o.questionTypes.map((t) => [t, 1 / choiceCount(t, o)]));
}

function choiceCount(type: StoryQuestionType, o: StoryOptions): number {
  return type === 'yes-no' ? 2 : o.choices;
}

export function generateStoryTask(options: StoryOptions): MultipleChoiceTask {
  const o = checkStoryOptions(options);
  const root = new Rng(o.seed);
  const train = generateItems(o.trainSize, 'train', root.fork('train'), o, new Set());
  const seen = new Set(train.map(itemKey));
  const test = generateItems(o.testSize, 'test', root.fork('test'), o, seen);
  const chance = storyChanceLevels(o);
  const mean = o.questionTypes.reduce((sum, t) => sum + chance[t]!, 0) / o.questionTypes.length;
  const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
  return {
    name: 'story',
    kind: 'multiple-choice',
    template: 'story',
    train,
    test,
    source:
      `built-in story generator (seed ${o.seed}, ${o.characters} characters, ${o.choices} choices, ` +
      `questions: ${o.questionTypes.join(', ')})`,
    notes: [
      `chance level: ${o.questionTypes.map((t) => `${t} ${percent(chance[t]!)}`).join(', ')}; overall ${percent(mean)} (question types in equal shares)`,
    ],
  };
}

/** The text that makes two items the same question. */
function itemKey(item: MultipleChoiceItem): string {
  return `${item.context}\n${item.question}`;
}

function generateItems(count: number, split: string, rng: Rng, o: StoryOptions, avoid: Set<string>): MultipleChoiceItem[] {
  const types = new BalancedDraw(o.questionTypes, rng.fork('types'));
  const positions = new Map(o.questionTypes.map((t) => [t, new BalancedDraw(range(choiceCount(t, o)), rng.fork(`positions-${t}`))]));
  const stories = rng.fork('stories');
  const items: MultipleChoiceItem[] = [];
  while (items.length < count) {
    const type = types.next();
    const position = positions.get(type)!.next();
    // A repeat of a held-out question is drawn again with the same type and position, so the balance holds.
    for (;;) {
      const item = storyItem(type, position, stories, o);
      if (avoid.has(itemKey(item))) continue;
      items.push({ ...item, id: `story-${split}-${items.length}` });
      break;
    }
  }
  return items;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** `k` distinct words of `list`, in random order. */
function pick(list: readonly string[], k: number, rng: Rng): string[] {
  return shuffleInPlace([...list], rng).slice(0, k);
}

interface Character {
  name: string;
  color: string;
  thing: string;
  place: string;
}

/** What each question type asks about a person, and the words its choices come from. */
const ASKED: Record<Exclude<StoryQuestionType, 'yes-no'>, { question: (p: Character) => string; key: keyof Character; words: readonly string[] }> = {
  color: { question: (p) => `What color was ${p.name}'s ${p.thing}?`, key: 'color', words: STORY_WORDS.colors },
  who: { question: (p) => `Who had the ${p.thing}?`, key: 'name', words: STORY_WORDS.names },
  what: { question: (p) => `What did ${p.name} have?`, key: 'thing', words: STORY_WORDS.things },
  where: { question: (p) => `Where did ${p.name} go?`, key: 'place', words: STORY_WORDS.places },
};

function storyItem(type: StoryQuestionType, position: number, rng: Rng, o: StoryOptions): MultipleChoiceItem {
  const n = o.characters;
  const [names, colors, things, places] = [
    pick(STORY_WORDS.names, n, rng),
    pick(STORY_WORDS.colors, n, rng),
    pick(STORY_WORDS.things, n, rng),
    pick(STORY_WORDS.places, n, rng),
  ];
  const people: Character[] = names.map((name, i) => ({ name, color: colors[i], thing: things[i], place: places[i] }));
  const context =
    type === 'where'
      ? people.map((p) => `${p.name} went to the ${p.place}.`).join(' ')
      : people.map((p) => `${p.name} had a ${p.color} ${p.thing}.`).join(' ');
  const asked = people[randomBelow(rng, n)];

  if (type === 'yes-no') {
    // position 0: the answer is yes (the person's own thing); 1: no (someone else's, else a thing not in the story).
    const others = people.filter((p) => p !== asked).map((p) => p.thing);
    const wrong = others.length > 0 ? others[randomBelow(rng, others.length)] : pick(STORY_WORDS.things.filter((t) => t !== asked.thing), 1, rng)[0];
    const thing = position === 0 ? asked.thing : wrong;
    return { context, question: `Did ${asked.name} have a ${thing}?`, choices: ['yes', 'no'], answer: position };
  }

  const ask = ASKED[type];
  const correct = asked[ask.key];
  // Wrong choices: the other people's words first, then words from outside the story.
  const inStory = shuffleInPlace(people.filter((p) => p !== asked).map((p) => p[ask.key]), rng);
  const outside = pick(ask.words.filter((w) => !people.some((p) => p[ask.key] === w)), o.choices, rng);
  const wrong = [...inStory, ...outside].slice(0, o.choices - 1);
  const choices = [...wrong.slice(0, position), correct, ...wrong.slice(position)];
  return { context, question: ask.question(asked), choices, answer: position };
}
