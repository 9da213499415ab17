import { beforeAll, describe, expect, it } from 'vitest';
import { defaultStoryOptions } from '../../src/run/spec';
import { readFileBytes } from '../../src/io/node-files';
import { Llama2cTokenizer } from '../../src/tokenizer/llama2c';
import type { Tokenizer } from '../../src/tokenizer/types';
import {
  prepareTask,
  tokenizeGenerative,
  tokenizeGenerativeItems,
  tokenizeMultipleChoice,
  tokenizeMultipleChoiceItems,
  trainingExample,
} from '../../src/tasks/protocol';
import { generateStoryTask } from '../../src/tasks/story';
import { choiceContinuation, PROMPT_TEMPLATES, TEMPLATE_IDS } from '../../src/tasks/templates';
import type { MultipleChoiceItem, MultipleChoiceTask } from '../../src/tasks/types';
import { mirrorPath } from './mirror';

/** One token per character (ids = char code + 3), BOS 1 and EOS 2 when it has them. */
class CharTokenizer implements Tokenizer {
  readonly vocabSize = 131;
  constructor(
    readonly bosId: number | null = 1,
    readonly eosId: number | null = 2,
  ) {}

  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const ids = [...text].map((c) => c.charCodeAt(0) + 3);
    if (opts.bos && this.bosId !== null) ids.unshift(this.bosId);
    if (opts.eos && this.eosId !== null) ids.push(this.eosId);
    return ids;
  }

  decode(ids: readonly number[]): string {
    return ids.filter((i) => i > 2).map((i) => String.fromCharCode(i - 3)).join('');
  }
}

/** CharTokenizer that also merges ": " into one token, 130, across a prompt's end and its choice. */
class ColonSpaceTokenizer extends CharTokenizer {
  override encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    return super.encode(text, opts).reduce<number[]>((ids, id) => {
      if (id === 35 && ids[ids.length - 1] === 61) ids[ids.length - 1] = 130;
      else ids.push(id);
      return ids;
    }, []);
  }
}

function fakeTask(train: number, test: number): MultipleChoiceTask {
  const item = (split: string, i: number): MultipleChoiceItem => ({ question: `${split} ${i}?`, choices: ['a', 'b'], answer: i % 2, id: `${split}-${i}` });
  return {
    name: 'fake',
    kind: 'multiple-choice',
    template: 'question-answer',
    train: Array.from({ length: train }, (_, i) => item('train', i)),
    test: Array.from({ length: test }, (_, i) => item('test', i)),
    source: 'made in the test',
    notes: ['a note of the task'],
  };
}

const index = (item: { id?: string }) => Number(item.id!.split('-')[1]);
const isIncreasing = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1] < x);

describe('the 5k-sample protocol', () => {
  it('draws at most 5,000 training and 1,000 evaluation items, in file order, the same for the same seed', () => {
    const data = fakeTask(9427, 3270);
    const a = prepareTask(data, { seed: 1 });
    expect(a.counts).toEqual({ devOnly: false, trainPool: 9427, evalPool: 3270, train: 5000, eval: 1000 });
    expect(a.kind === 'multiple-choice' && a.template).toBe('question-answer');
    expect(a.train.every((x) => x.id!.startsWith('train-')) && a.eval.every((x) => x.id!.startsWith('test-'))).toBe(true);
    expect(isIncreasing(a.train.map(index)) && isIncreasing(a.eval.map(index))).toBe(true);
    expect(a.notes).toEqual([
      'training: 5,000 of 9,427 items of the train split, drawn with seed 1',
      'evaluation: 1,000 of 3,270 items of the test split, drawn with evalSeed 0',
      'a note of the task',
    ]);
    expect(prepareTask(data, { seed: 1 })).toEqual(a);

    // Another run seed: another training sample, the same evaluation questions.
    const b = prepareTask(data, { seed: 2 });
    expect(b.train.map(index)).not.toEqual(a.train.map(index));
    expect(b.eval).toEqual(a.eval);
    expect(prepareTask(data, { seed: 1, evalSeed: 5 }).eval.map(index)).not.toEqual(a.eval.map(index));
  });

  it('keeps smaller splits whole and honours the caps it is given', () => {
    const data = fakeTask(1119, 1172);
    const all = prepareTask(data, { seed: 0 });
    expect(all.counts).toMatchObject({ train: 1119, eval: 1000 });
    expect(all.train).toEqual(data.train);
    expect(all.notes[0]).toBe('training: all 1,119 items of the train split');
    const capped = prepareTask(data, { seed: 0, maxTrain: 100, maxEval: Infinity });
    expect(capped.counts).toMatchObject({ train: 100, eval: 1172 });
    expect(capped.notes[1]).toBe('evaluation: all 1,172 items of the test split');
  });

  it('splits a dev-only task into disjoint training and held-out parts, the same for every run seed', () => {
    const data = fakeTask(0, 1838);
    const a = prepareTask(data, { seed: 1 });
    expect(a.counts).toEqual({ devOnly: true, trainPool: 919, evalPool: 919, train: 919, eval: 919 });
    expect(a.notes[0]).toBe('only a dev split (1,838 items): 919 held out for evaluation, 919 for training (heldOutFraction 0.5, evalSeed 0)');
    const trainIds = new Set(a.train.map(index));
    expect(a.eval.some((x) => trainIds.has(index(x)))).toBe(false);
    expect(new Set([...trainIds, ...a.eval.map(index)]).size).toBe(1838);
    const b = prepareTask(data, { seed: 2 });
    expect(b.eval).toEqual(a.eval);
    expect(b.train).toEqual(a.train); // the whole training part: the seed has nothing to draw

    const quarter = prepareTask(data, { seed: 1, heldOutFraction: 0.25, maxTrain: 1000, maxEval: 300 });
    expect(quarter.counts).toEqual({ devOnly: true, trainPool: 1378, evalPool: 460, train: 1000, eval: 300 });
  });

  it('prepares generative tasks the same way and checks its options', () => {
    const gen = prepareTask(
      { name: 'g', kind: 'generative', train: [], test: Array.from({ length: 10 }, (_, i) => ({ prompt: `${i}+1=`, target: ` ${i + 1}` })), source: 'test' },
      { seed: 0, maxEval: 3 },
    );
    expect(gen.kind).toBe('generative');
    expect(gen.counts).toEqual({ devOnly: true, trainPool: 5, evalPool: 5, train: 5, eval: 3 });
    const data = fakeTask(10, 10);
    expect(() => prepareTask(data, { seed: 0, maxTrain: -1 })).toThrow('task protocol: maxTrain: found -1; expected an integer ≥ 0 or Infinity');
    expect(() => prepareTask(data, { seed: 0, heldOutFraction: 1 })).toThrow('task protocol: heldOutFraction: found 1; expected a number in (0, 1)');
    expect(() => prepareTask(data, { seed: 0.5 })).toThrow('task protocol: seed: found 0.5; expected a safe integer');
    expect(() => prepareTask(fakeTask(0, 1), { seed: 0 })).toThrow(/expected a test split, or a dev split of at least 2 items/);
  });
});

describe('tokenizing multiple-choice items', () => {
  const chars = new CharTokenizer();
  const long: MultipleChoiceItem = { context: 'x'.repeat(100), question: 'Q?', choices: ['yes', 'no'], answer: 1, id: 'long' };

  it('makes the prompt and each choice, the choice with its leading space', () => {
    const short: MultipleChoiceItem = { question: 'Q?', choices: ['yes', 'no'], answer: 0 };
    const t = tokenizeMultipleChoice(short, 'question-answer', chars, 64)!;
    expect(chars.decode(t.prompt)).toBe('Question: Q?\nAnswer:');
    expect([t.prompt[0], t.cut, t.answer]).toEqual([1, 0, 0]);
    expect(t.choices.map((c) => chars.decode(c))).toEqual([' yes', ' no']);
    expect(trainingExample(t)).toEqual({ tokens: [...t.prompt, ...t.choices[0]], targetStart: t.prompt.length });
  });

  it('moves prompt tokens that merge with the choice into the choices', () => {
    const merging = new ColonSpaceTokenizer();
    const t = tokenizeMultipleChoice({ question: 'Q?', choices: ['yes', 'no'], answer: 0 }, 'question-answer', merging, 64)!;
    // "Answer:" + " yes": the ':' and the ' ' become one token, which every choice then starts with.
    expect(t.prompt).toEqual(merging.encode('Question: Q?\nAnswer', { bos: true }));
    expect(t.choices).toEqual([[130, ...chars.encode('yes')], [130, ...chars.encode('no')]]);
  });

  it('cuts the context from the left, keeping BOS and every choice, to fit the longest choice', () => {
    const t = tokenizeMultipleChoice(long, PROMPT_TEMPLATES['question-answer'], chars, 20)!;
    // 20 tokens = BOS + 15 prompt tokens + the longest choice, " yes".
    expect(t.prompt.length).toBe(16);
    expect(t.prompt[0]).toBe(1);
    expect(chars.decode(t.prompt)).toBe('ion: Q?\nAnswer:');
    expect(t.cut).toBe(1 + 100 + '\nQuestion: Q?\nAnswer:'.length - 16);
    expect(t.choices.map((c) => chars.decode(c))).toEqual([' yes', ' no']);
    expect(trainingExample(t).tokens.length).toBe(19);

    // Room for BOS and one prompt token still works; less does not.
    expect(tokenizeMultipleChoice(long, 'question-answer', chars, 6)!.prompt.length).toBe(2);
    expect(tokenizeMultipleChoice(long, 'question-answer', chars, 5)).toBeNull();
    // Without BOS the cut starts at the very first token.
    const noBos = tokenizeMultipleChoice(long, 'question-answer', new CharTokenizer(null, null), 20)!;
    expect(new CharTokenizer().decode(noBos.prompt)).toBe('tion: Q?\nAnswer:');
  });

  it('reports how many prompts were cut, and how, and leaves out items whose choice cannot fit', () => {
    const tooLong: MultipleChoiceItem = { question: 'Q?', choices: ['a', 'b'.repeat(30)], answer: 0, id: 'too-long' };
    const { items, report } = tokenizeMultipleChoiceItems([{ question: 'Q?', choices: ['a', 'b'], answer: 1 }, long, tooLong], 'question-answer', chars, 24);
    expect(items.map((t) => t.id)).toEqual([undefined, 'long']);
    expect(report).toEqual({
      items: 3,
      truncated: 1,
      how: 'context cut from the left to fit 24 tokens (BOS, the end of the prompt and every choice kept whole)',
      dropped: 1,
      droppedIds: ['too-long'],
      longest: 24,
    });
  });

  it('tokenizes generative items with the target and EOS whole', () => {
    const t = tokenizeGenerative({ prompt: 'abcdef', target: 'gh' }, chars, 64)!;
    expect(t).toEqual({ example: { tokens: [1, ...chars.encode('abcdefgh'), 2], targetStart: 7 }, cut: 0 });
    const cut = tokenizeGenerative({ prompt: 'abcdef', target: 'gh' }, chars, 5)!;
    expect(cut).toEqual({ example: { tokens: [1, ...chars.encode('fgh'), 2], targetStart: 2 }, cut: 5 });
    const { examples, report } = tokenizeGenerativeItems([{ prompt: 'abcdef', target: 'gh' }, { prompt: 'a', target: 'x'.repeat(9), id: 'g1' }], chars, 5);
    expect(examples.length).toBe(1);
    expect(report).toMatchObject({ items: 2, truncated: 1, dropped: 1, droppedIds: ['g1'], longest: 5 });
    expect(report.how).toBe('context cut from the left to fit 5 tokens (BOS, the end of the prompt and every target kept whole)');
  });

  describe('with the stories260K vocabulary', () => {
    let tok512: Llama2cTokenizer;
    beforeAll(async () => {
      tok512 = Llama2cTokenizer.parse(await readFileBytes(mirrorPath('models/stories260K/tok512.bin')), 'tok512.bin', 512);
    });

    it('splits prompt and choice where the tokenization of the whole text splits: at the end of the prompt', () => {
      const items: MultipleChoiceItem[] = [
        ...generateStoryTask(defaultStoryOptions({ trainSize: 0, testSize: 20 })).test,
        { question: 'Which is a planet?', choices: ['Mars', 'the Moon'], answer: 0 },
        { context: 'Two lines,\nthe second one.', question: 'Sue beat Mia because _ was faster.', choices: ['Sue', 'Mia'], answer: 0 },
        { question: 'A man sits', choices: [', then stands.', "'s tired."], answer: 1 },
      ];
      for (const id of TEMPLATE_IDS) {
        for (const item of items) {
          const t = tokenizeMultipleChoice(item, id, tok512, 512)!;
          expect(t.cut).toBe(0);
          expect(t.prompt).toEqual(tok512.encode(PROMPT_TEMPLATES[id].prompt(item), { bos: true }));
          item.choices.forEach((_, k) => {
            const whole = PROMPT_TEMPLATES[id].prompt(item) + choiceContinuation(item, k);
            expect([...t.prompt, ...t.choices[k]]).toEqual(tok512.encode(whole, { bos: true }));
          });
        }
      }
    });
  });
});
