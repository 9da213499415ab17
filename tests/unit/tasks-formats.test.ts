import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/io/errors';
import {
  detectTaskFileFormat,
  parseCsv,
  parseGenerativeTable,
  parseLlmAdaptersJson,
  parseMultipleChoiceTable,
} from '../../src/tasks/formats';

const bytes = (text: string) => new TextEncoder().encode(text);
const json = (value: unknown) => bytes(JSON.stringify(value));

function formatError(run: () => unknown): FormatError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError, but parsing succeeded');
}

/** One item of each phrasing the LLM-Adapters files use (the seven here, and HellaSwag's). */
const PHRASINGS = [
  {
    instruction: 'Please answer the following question with true or false, question: is the sky blue?\n\nAnswer format: true/false',
    input: '',
    output: 'the correct answer is true',
    answer: 'true',
  },
  {
    instruction:
      'Please choose the correct solution to the question: How do I dry a cup?\n\nSolution1: Wipe it with a towel. \n\nSolution2: Fill it with water.\n\nAnswer format: solution1/solution2',
    input: '',
    output: 'the correct answer is solution1',
    answer: 'solution1',
  },
  {
    instruction:
      'Please choose the correct answer to the question: Sam gave Max a gift. How would Max feel?\n\nAnswer1: happy Answer2: sad Answer3: bored\n\nAnswer format: answer1/answer2/answer3',
    input: '',
    output: 'the correct answer is answer1',
    answer: 'answer1',
  },
  {
    instruction:
      'Please choose the correct answer to fill in the blank to complete the given sentence: Sue beat Mia because _ was faster.\n\nOption1: Sue Option2: Mia Answer format: option1/option2',
    input: '',
    output: 'the correct answer is option1',
    answer: 'option1',
  },
  {
    instruction:
      'Please choose the correct answer to the question: Which is a planet?\n\nAnswer1: the Moon Answer2: Mars Answer3: the Sun Answer4: Halley: a comet Answer5: Sirius\n\nAnswer format: answer1/answer2/answer3/answer4/answer5',
    input: '',
    output: 'the correct answer is answer2',
    answer: 'answer2',
  },
  {
    instruction:
      'Please choose the correct ending to complete the given sentence: Playing drums: People stand behind drums. A man\n\nEnding1: sings.\n\nEnding2: eats.\n\nEnding3: sleeps.\n\nEnding4: plays the drums.\n\nAnswer format: ending1/ending2/ending3/ending4',
    input: 'A stage.',
    output: 'the correct answer is ending4',
    answer: 'ending4',
  },
];

describe('LLM-Adapters JSON', () => {
  it('parses the choices out of every phrasing and maps the answer label to its index', () => {
    expect(parseLlmAdaptersJson(json(PHRASINGS), 'dir/test.json')).toEqual([
      { question: 'is the sky blue?', choices: ['true', 'false'], answer: 0, id: 'test.json#0' },
      { question: 'How do I dry a cup?', choices: ['Wipe it with a towel.', 'Fill it with water.'], answer: 0, id: 'test.json#1' },
      { question: 'Sam gave Max a gift. How would Max feel?', choices: ['happy', 'sad', 'bored'], answer: 0, id: 'test.json#2' },
      { question: 'Sue beat Mia because _ was faster.', choices: ['Sue', 'Mia'], answer: 0, id: 'test.json#3' },
      { question: 'Which is a planet?', choices: ['the Moon', 'Mars', 'the Sun', 'Halley: a comet', 'Sirius'], answer: 1, id: 'test.json#4' },
      {
        context: 'A stage.',
        question: 'Playing drums: People stand behind drums. A man',
        choices: ['sings.', 'eats.', 'sleeps.', 'plays the drums.'],
        answer: 3,
        id: 'test.json#5',
      },
    ]);
  });

  it('names the file, the item and the field of a missing field', () => {
    const items = [PHRASINGS[0], { instruction: PHRASINGS[0].instruction, input: '', output: 'the correct answer is true' }];
    const e = formatError(() => parseLlmAdaptersJson(json(items), 'boolq/train.json'));
    expect(e.message).toBe('boolq/train.json: item 1, field "answer": nothing; expected a string');
    expect([e.file, e.field]).toEqual(['boolq/train.json', 'item 1, field "answer"']);
  });

  it('rejects an answer outside the answer format', () => {
    const e = formatError(() => parseLlmAdaptersJson(json([{ ...PHRASINGS[2], answer: 'answer4', output: 'the correct answer is answer4' }]), 'siqa.json'));
    expect(e.message).toBe('siqa.json: item 0, field "answer": "answer4"; expected one of answer1/answer2/answer3 (the instruction\'s answer format)');
  });

  it('rejects an instruction whose choices do not match its answer format', () => {
    const instruction = 'Please choose the correct answer to the question: Why?\n\nAnswer1: a Answer2: b\n\nAnswer format: answer1/answer2/answer3';
    const e = formatError(() => parseLlmAdaptersJson(json([{ instruction, input: '', output: '', answer: 'answer1' }]), 'arc.json'));
    expect(e.field).toBe('item 0, field "instruction"');
    expect(e.found).toBe('no "Answer3:" after "Answer2:" in "Why?\\n\\nAnswer1: a Answer2: b\\n\\n"');
    expect(e.expected).toBe('the 3 choices its answer format lists, each after its label (Answer1: … Answer3:)');

    const empty = 'Please choose the correct answer to the question: Why?\n\nAnswer1: a Answer2: \n\nAnswer format: answer1/answer2';
    expect(formatError(() => parseLlmAdaptersJson(json([{ instruction: empty, answer: 'answer1' }]), 'arc.json')).message).toBe(
      'arc.json: item 0, field "instruction": an empty choice after "Answer2:"; expected text for every choice',
    );
    const noFormat = formatError(() => parseLlmAdaptersJson(json([{ instruction: 'Which? Answer1: a Answer2: b', answer: 'answer1' }]), 'arc.json'));
    expect(noFormat.found).toBe('no "Answer format:" in "Which? Answer1: a Answer2: b"');
    const oddLabels = formatError(() => parseLlmAdaptersJson(json([{ instruction: 'Which?\n\nAnswer format: a/b', answer: 'a' }]), 'arc.json'));
    expect(oddLabels.found).toBe('answer format "a/b"');
  });

  it('rejects an output that names another answer, a non-object item and a file that is not an array', () => {
    const e = formatError(() => parseLlmAdaptersJson(json([{ ...PHRASINGS[3], output: 'the correct answer is option2' }]), 'w.json'));
    expect(e.message).toBe('w.json: item 0, field "output": "the correct answer is option2"; expected an output naming the answer field\'s "option1"');
    expect(formatError(() => parseLlmAdaptersJson(json([PHRASINGS[0], 7]), 'w.json')).message).toBe(
      'w.json: item 1: number 7; expected an object {instruction, input, output, answer}',
    );
    expect(formatError(() => parseLlmAdaptersJson(json({ data: [] }), 'w.json')).found).toBe('JSON an object');
    expect(formatError(() => parseLlmAdaptersJson(bytes('[{"instruction": '), 'w.json')).found).toMatch(/^text that is not JSON/);
    expect(formatError(() => parseLlmAdaptersJson(new Uint8Array([0x5b, 0xff, 0x5d]), 'w.json')).found).toMatch(/^bytes that are not UTF-8/);
  });
});

describe('CSV', () => {
  it('reads RFC 4180: quoted commas, newlines and doubled quotes, CRLF, blank lines', () => {
    const text = 'question,answer\r\n"Who said ""hi, there""?",Tom\r\n\r\n"two\r\nlines",x\nlast,""\n';
    expect(parseCsv(text, 'q.csv')).toEqual({
      header: ['question', 'answer'],
      records: [
        { line: 2, cells: ['Who said "hi, there"?', 'Tom'] },
        { line: 4, cells: ['two\r\nlines', 'x'] },
        { line: 6, cells: ['last', ''] },
      ],
    });
    expect(parseCsv('a,b\n1,2', 'q.csv').records).toEqual([{ line: 2, cells: ['1', '2'] }]);
  });

  it('names the line and column of a bad quote, a quote never closed and a short record', () => {
    const bare = formatError(() => parseCsv('question,answer\nok,1\nsay "hi",2\n', 'q.csv'));
    expect(bare.message).toBe(
      'q.csv: line 3, column "question": a quote inside the unquoted field "say \\"hi\\""; expected quotes only around a whole field, with inner quotes doubled ("")',
    );
    const open = formatError(() => parseCsv('question,answer\n"a",b\nx,"never\nclosed\n', 'q.csv'));
    expect(open.field).toBe('line 3, column "answer"');
    expect(open.found).toBe('a quoted field that is never closed');
    const after = formatError(() => parseCsv('question,answer\n"a"b,c\n', 'q.csv'));
    expect(after.field).toBe('line 2, column "question"');
    expect(after.found).toBe('"b" after a closing quote');
    expect(formatError(() => parseCsv('question,answer\n"multi\nline",1,2\n', 'q.csv')).message).toBe('q.csv: line 2: 3 fields; expected 2 fields, as the header line has');
    expect(formatError(() => parseCsv('a,a\n', 'q.csv')).field).toBe('line 1, field 2');
    expect(formatError(() => parseCsv('\n\n', 'q.csv')).found).toBe('no header line');
  });
});

describe('JSONL and CSV with named columns', () => {
  it('reads choices as a list, as {text, label} and as [{label, text}], by dotted paths', () => {
    const lines = [
      { question: 'Q1', choices: ['a', 'b', 'c'], answer: 2 },
      { question: 'Q2', choices: { text: ['x', 'y'], label: ['A', 'B'] }, answer: 'B', context: 'Some passage.' },
      { id: 'c-7', question: { stem: 'Q3', choices: [{ label: '1', text: 'p' }, { label: '2', text: 'q' }] }, answerKey: '1' },
    ];
    const text = lines.map((l) => JSON.stringify(l)).join('\r\n');
    expect(parseMultipleChoiceTable(bytes(text.split('\r\n').slice(0, 2).join('\n')), 'dev.jsonl', 'jsonl')).toEqual([
      { question: 'Q1', choices: ['a', 'b', 'c'], answer: 2, id: 'dev.jsonl:1' },
      { question: 'Q2', choices: ['x', 'y'], answer: 1, context: 'Some passage.', id: 'dev.jsonl:2' },
    ]);
    const mapping = { question: 'question.stem', choices: 'question.choices', answer: 'answerKey', id: 'id' };
    expect(parseMultipleChoiceTable(bytes(`\n${JSON.stringify(lines[2])}\n\n`), 'csqa.jsonl', 'jsonl', mapping)).toEqual([
      { question: 'Q3', choices: ['p', 'q'], answer: 0, id: 'c-7' },
    ]);
  });

  it('finds choice columns by their names and reads 1-based, letter and text answers', () => {
    const wino = '\uFEFFsentence,option1,option2,answer\n"Sue beat Mia, as _ was fast.",Sue,Mia,2\n';
    expect(parseMultipleChoiceTable(bytes(wino), 'w.csv', 'csv', { question: 'sentence', answerFormat: 'index1' })).toEqual([
      { question: 'Sue beat Mia, as _ was fast.', choices: ['Sue', 'Mia'], answer: 1, id: 'w.csv:2' },
    ]);
    const arc = 'question,A,B,C,D,answer\nWhich?,w,x,y,,C\nWhat?,a,b,c,d,b\n';
    expect(parseMultipleChoiceTable(bytes(arc), 'arc.csv', 'csv').map((i) => [i.choices, i.answer])).toEqual([
      [['w', 'x', 'y'], 2],
      [['a', 'b', 'c', 'd'], 1],
    ]);
    const piqa = 'goal,sol1,sol2,label\nDry a cup,"Wipe it, then",Soak it,Soak it\n';
    expect(parseMultipleChoiceTable(bytes(piqa), 'p.csv', 'csv', { question: 'goal', answer: 'label', answerFormat: 'text' })[0]).toMatchObject({
      choices: ['Wipe it, then', 'Soak it'],
      answer: 1,
    });
    const inCell = 'question,choices,answer\nQ,"[""one"", ""two""]",0\n';
    expect(parseMultipleChoiceTable(bytes(inCell), 'c.csv', 'csv')[0].choices).toEqual(['one', 'two']);
  });

  it('names the file, line and field of a bad row', () => {
    const missing = formatError(() => parseMultipleChoiceTable(bytes('{"question": "Q", "choices": ["a", "b"], "answer": 0}\n{"choices": ["a", "b"], "answer": 0}'), 'd.jsonl', 'jsonl'));
    expect(missing.message).toBe('d.jsonl: line 2, field "question": nothing; expected a field "question" (present: choices, answer)');
    const range = formatError(() => parseMultipleChoiceTable(bytes('question,option1,option2,answer\nQ,a,b,3\n'), 'w.csv', 'csv', { answerFormat: 'index1' }));
    expect(range.message).toBe('w.csv: line 2, column "answer": "3"; expected the 1-based index of one of the 2 choices');
    const label = formatError(() => parseMultipleChoiceTable(bytes('{"question": "Q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answer": "E"}'), 'd.jsonl', 'jsonl'));
    expect(label.found).toBe('"E"');
    expect(label.expected).toBe("one of the choices' labels A, B");
    const noChoices = formatError(() => parseMultipleChoiceTable(bytes('question,answer\nQ,0\n'), 'q.csv', 'csv'));
    expect(noChoices.field).toBe('line 2');
    const badChoices = formatError(() => parseMultipleChoiceTable(bytes('{"question": "Q", "choices": "a|b", "answer": 0}'), 'd.jsonl', 'jsonl'));
    expect(badChoices.field).toBe('line 1, field "choices"');
    const gap = formatError(() => parseMultipleChoiceTable(bytes('question,A,B,C,answer\nQ,a,,c,A\n'), 'q.csv', 'csv'));
    expect(gap.message).toBe('q.csv: line 2, column "B": an empty choice; expected text for every choice before the last non-empty one');
    expect(formatError(() => parseMultipleChoiceTable(bytes('{"question": "Q", "choices": ["a","b"], "answer": 0}\nnot json'), 'd.jsonl', 'jsonl')).field).toBe('line 2');
  });

  it('reads generative prompt/target rows', () => {
    expect(parseGenerativeTable(bytes('in,out\n"2+2=", 4\n'), 'g.csv', 'csv', { prompt: 'in', target: 'out' })).toEqual([{ prompt: '2+2=', target: ' 4', id: 'g.csv:2' }]);
    expect(formatError(() => parseGenerativeTable(bytes('{"prompt": "a", "target": ""}'), 'g.jsonl', 'jsonl')).message).toBe(
      'g.jsonl: line 1, field "target": an empty target; expected target text',
    );
  });

  it('tells the format from the name and the first bytes', () => {
    expect(detectTaskFileFormat('x/test.json', bytes(' [{"instruction": ""}]'))).toBe('llm-adapters');
    expect(detectTaskFileFormat('https://h/x/train.json?raw=1', bytes('{"question": ""}\n'))).toBe('jsonl');
    expect(detectTaskFileFormat('dev.JSONL', bytes(''))).toBe('jsonl');
    expect(detectTaskFileFormat('dev.csv', bytes(''))).toBe('csv');
    expect(detectTaskFileFormat('dev.txt', bytes('[]'))).toBeNull();
  });
});
