// Task files → items, every field checked. A bad file fails with a FormatError that names the file,
// the item (JSON: its index in the array, from 0) or line (JSONL, CSV: from 1) and the field.
//
// Formats:
//   llm-adapters  the LLM-Adapters JSON array of {instruction, input, output, answer}: the choices
//                 are written into the instruction ("Answer1: … Answer2: …", "Solution1: …",
//                 "Option1: …", "Ending1: …") and the instruction ends with the labels,
//                 "Answer format: answer1/answer2/…" (or "true/false" for BoolQ), which `answer`
//                 names ("answer3", "true"); a non-empty `input` becomes the item's context;
//   jsonl         one JSON object per line, fields named by a ColumnMapping (dotted paths reach
//                 nested fields: "question.stem");
//   csv           RFC 4180: a header line naming the columns, commas between fields, fields in
//                 double quotes may hold commas, newlines and doubled quotes ("");
//                 records end with LF or CRLF.

import { failIn, type Fail } from '../io/errors';
import { describeJson, isPlainObject } from '../io/json';
import type { GenerativeItem, MultipleChoiceItem } from './types';

export type TaskFileFormat = 'llm-adapters' | 'jsonl' | 'csv';
export const TASK_FILE_FORMATS: readonly TaskFileFormat[] = ['llm-adapters', 'jsonl', 'csv'];

/**
 * The format of a task file from its name and first bytes: .csv → csv; .jsonl / .ndjson → jsonl;
 * .json → llm-adapters when it holds a JSON array, jsonl when it holds objects one per line (what
 * Hugging Face datasets' to_json writes). Null when neither tells.
 */
export function detectTaskFileFormat(fileName: string, bytes: Uint8Array): TaskFileFormat | null {
  const name = fileName.replace(/[?#].*$/, '').toLowerCase();
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (!name.endsWith('.json')) return null;
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  if (head.startsWith('[')) return 'llm-adapters';
  if (head.startsWith('{')) return 'jsonl';
  return null;
}

/** The bytes as text; bad UTF-8 is a FormatError. A leading byte-order mark is dropped. */
function decodeText(bytes: Uint8Array, file: string, expected: string): string {
  const fail: Fail = failIn(file);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    fail(undefined, `bytes that are not UTF-8 (${(e as Error).message})`, expected);
  }
}

/** The last segment of a path or URL (items' ids name their file by it). */
export function fileBaseName(file: string): string {
  const path = file.replace(/[?#].*$/, '');
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

// ---------------------------------------------------------------------------------------------
// LLM-Adapters JSON

const LLM_ADAPTERS_SHAPE = 'a JSON array of {instruction, input, output, answer} objects (the LLM-Adapters format)';
const ANSWER_FORMAT = 'Answer format:';
/** "Please choose the correct answer to the question: " and the like, up to the first colon. */
const PREAMBLE = /^Please [^:\n]*:\s*/;
const TRUE_FALSE = ['true', 'false'];

export function parseLlmAdaptersJson(bytes: Uint8Array, file: string): MultipleChoiceItem[] {
  const fail: Fail = failIn(file);
  const text = decodeText(bytes, file, LLM_ADAPTERS_SHAPE);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    fail(undefined, `text that is not JSON (${(e as Error).message})`, LLM_ADAPTERS_SHAPE);
  }
  if (!Array.isArray(value)) fail(undefined, `JSON ${describeJson(value)}`, LLM_ADAPTERS_SHAPE);
  const name = fileBaseName(file);
  return value.map((raw: unknown, i) => {
    const at = `item ${i}`;
    if (!isPlainObject(raw)) fail(at, describeJson(raw), 'an object {instruction, input, output, answer}');
    const field = (key: string, required: boolean): string | undefined => {
      const v = raw[key];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'string') fail(`${at}, field "${key}"`, describeJson(v), 'a string');
      return v;
    };
    const instruction = field('instruction', true)!;
    const { question, choices, labels } = splitInstruction(instruction, (found, expected) => fail(`${at}, field "instruction"`, found, expected));

    const answerText = field('answer', true)!.trim().toLowerCase();
    const answer = labels.indexOf(answerText);
    if (answer < 0) fail(`${at}, field "answer"`, JSON.stringify(answerText), `one of ${labels.join('/')} (the instruction's answer format)`);
    const output = field('output', false);
    const said = output === undefined ? null : /the correct answer is\s+(\S+?)\.?\s*$/i.exec(output);
    if (said !== null && said[1].toLowerCase() !== answerText) {
      fail(`${at}, field "output"`, JSON.stringify(output), `an output naming the answer field's "${answerText}"`);
    }

    const input = field('input', false)?.trim() ?? '';
    const item: MultipleChoiceItem = { question, choices, answer, id: `${name}#${i}` };
    if (input !== '') item.context = input;
    return item;
  });
}

/**
 * The question, choices and answer labels of an instruction:
 *   "Please choose the correct answer to the question: <question>\n\nAnswer1: <a> Answer2: <b>…\n\nAnswer format: answer1/answer2/…"
 *   "Please answer the following question with true or false, question: <question>\n\nAnswer format: true/false"
 * Each choice starts at its capitalised label and a colon ("Solution2:") and runs to the next one.
 */
function splitInstruction(
  instruction: string,
  fail: (found: string, expected: string) => never,
): { question: string; choices: string[]; labels: string[] } {
  const formatAt = instruction.lastIndexOf(ANSWER_FORMAT);
  if (formatAt < 0) fail(`no "${ANSWER_FORMAT}" in ${quoteStart(instruction)}`, `an instruction that ends with "${ANSWER_FORMAT} <label1>/<label2>/…"`);
  const labels = instruction.slice(formatAt + ANSWER_FORMAT.length).trim().toLowerCase().split('/');
  const body = instruction.slice(0, formatAt).replace(PREAMBLE, '');

  if (labels.length === 2 && labels[0] === TRUE_FALSE[0] && labels[1] === TRUE_FALSE[1]) {
    const question = body.trim();
    if (question === '') fail('an empty question', 'question text before the answer format');
    return { question, choices: [...TRUE_FALSE], labels };
  }

  const word = /^([a-z]+)1$/.exec(labels[0])?.[1];
  const numbered = word !== undefined && labels.length >= 2 && labels.every((l, k) => l === `${word}${k + 1}`);
  if (!numbered) {
    fail(`answer format "${labels.join('/')}"`, 'true/false or numbered labels <word>1/<word>2/… such as answer1/answer2/answer3/answer4');
  }
  const marker = (k: number) => `${word[0].toUpperCase()}${word.slice(1)}${k + 1}:`;
  const starts: number[] = [];
  for (let k = 0; k < labels.length; k++) {
    const from = k === 0 ? 0 : starts[k - 1] + marker(k - 1).length;
    const start = indexOfIgnoringCase(body, marker(k), from);
    if (start < 0) {
      const after = k === 0 ? '' : ` after "${marker(k - 1)}"`;
      const expected = `the ${labels.length} choices its answer format lists, each after its label (${marker(0)} … ${marker(labels.length - 1)})`;
      fail(`no "${marker(k)}"${after} in ${quoteStart(body)}`, expected);
    }
    starts.push(start);
  }
  const question = body.slice(0, starts[0]).trim();
  if (question === '') fail('an empty question', `question text before "${marker(0)}"`);
  const choices = starts.map((start, k) => {
    const text = body.slice(start + marker(k).length, k + 1 < starts.length ? starts[k + 1] : body.length).trim();
    if (text === '') fail(`an empty choice after "${marker(k)}"`, 'text for every choice');
    return text;
  });
  return { question, choices, labels };
}

/** The first `needle` from `from` on, as written, else in any case ("answer1:", "ANSWER1:"). */
function indexOfIgnoringCase(text: string, needle: string, from: number): number {
  const exact = text.indexOf(needle, from);
  if (exact >= 0) return exact;
  const re = new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
  re.lastIndex = from;
  return re.exec(text)?.index ?? -1;
}

function quoteStart(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180)

export interface CsvRecord {
  /** The line the record starts on, from 1 (a quoted field may span lines). */
  line: number;
  cells: string[];
}

export interface CsvTable {
  header: string[];
  records: CsvRecord[];
}

/**
 * Parses CSV text with a header line. Blank lines are skipped. Errors name the line and the column
 * (by its header name): a quote inside an unquoted field, text after a closing quote, a quoted
 * field never closed, a record with more or fewer fields than the header.
 */
export function parseCsv(text: string, file: string): CsvTable {
  const fail: Fail = failIn(file);
  const header: string[] = [];
  // The header's names as a set too: a line of 60,000 columns, each looked up in the list, took seconds.
  const headerNames = new Set<string>();
  const records: CsvRecord[] = [];
  const columnName = (c: number) => (header.length === 0 ? `field ${c + 1}` : `column "${header[c] ?? c + 1}"`);
  let line = 1;
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    const recordLine = line;
    const cells: string[] = [];
    for (;;) {
      const c = cells.length;
      let cell = '';
      if (text[pos] === '"') {
        const openedOn = line;
        pos++;
        for (;;) {
          const quote = text.indexOf('"', pos);
          if (quote < 0) {
            fail(`line ${openedOn}, ${columnName(c)}`, 'a quoted field that is never closed', 'a closing double quote (") before the end of the file');
          }
          const chunk = text.slice(pos, quote);
          line += countNewlines(chunk);
          cell += chunk;
          pos = quote + 1;
          if (text[pos] !== '"') break;
          cell += '"';
          pos++;
        }
        const next = text[pos];
        if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
          const expected = 'a comma or the end of the line (a quote inside a quoted field is written "")';
          fail(`line ${line}, ${columnName(c)}`, `${JSON.stringify(next)} after a closing quote`, expected);
        }
      } else {
        let end = pos;
        while (end < n && text[end] !== ',' && text[end] !== '\n' && text[end] !== '\r') end++;
        cell = text.slice(pos, end);
        if (cell.includes('"')) {
          const expected = 'quotes only around a whole field, with inner quotes doubled ("")';
          fail(`line ${line}, ${columnName(c)}`, `a quote inside the unquoted field ${JSON.stringify(cell)}`, expected);
        }
        pos = end;
      }
      cells.push(cell);
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      // End of record: LF, CRLF, a lone CR, or the end of the text.
      if (text[pos] === '\r') pos++;
      if (text[pos] === '\n') pos++;
      line++;
      break;
    }
    if (cells.length === 1 && cells[0] === '') continue;
    if (header.length === 0) {
      cells.forEach((name, c) => {
        const trimmed = name.trim();
        if (trimmed === '') fail(`line ${recordLine}, field ${c + 1}`, 'an empty column name', 'a name for every column of the header line');
        if (headerNames.has(trimmed)) fail(`line ${recordLine}, field ${c + 1}`, `a second column named "${trimmed}"`, 'distinct column names');
        header.push(trimmed);
        headerNames.add(trimmed);
      });
    } else {
      if (cells.length !== header.length) {
        fail(`line ${recordLine}`, `${cells.length} fields`, `${header.length} fields, as the header line has`);
      }
      records.push({ line: recordLine, cells });
    }
  }
  if (header.length === 0) fail(undefined, 'no header line', 'a header line naming the columns');
  return { header, records };
}

function countNewlines(s: string): number {
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    // CRLF and a lone CR each end one line.
    if (s[i] === '\n' || (s[i] === '\r' && s[i + 1] !== '\n')) count++;
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// Rows of named fields (JSONL objects, CSV records) → items

/** How a cell names the correct choice. */
export type AnswerFormat = 'auto' | 'index' | 'index1' | 'letter' | 'text';
export const ANSWER_FORMATS: readonly AnswerFormat[] = ['auto', 'index', 'index1', 'letter', 'text'];

/**
 * Which fields (JSONL) or columns (CSV) hold what. Every name has a default; a field named here
 * must be present in every row, an optional one left at its default may be absent.
 */
export interface ColumnMapping {
  /** Default "question". */
  question?: string;
  /** A passage read before the question; default "context" (optional). */
  context?: string;
  /**
   * One field with all the choices (default "choices"): an array of strings, {text: [...],
   * label: [...]} or [{label, text}, …] (Hugging Face's ARC, OpenBookQA, CommonsenseQA); in a
   * CSV cell, the same as JSON text.
   */
  choices?: string;
  /**
   * One field per choice, in order. Default, when a row has no "choices" field: the fields named
   * like choice1…, option1…, ending1…, solution1…, sol1…, answerA… (in suffix order), else A, B, C….
   */
  choiceColumns?: string[];
  /** Default "answer". */
  answer?: string;
  /**
   * 'index': 0-based; 'index1': 1-based (WinoGrande's and Social IQa's labels); 'letter': A, B, …;
   * 'text': the correct choice's text. 'auto' (default): a label of the choices when they carry
   * labels, else a number or digits as a 0-based index, a single letter as a letter, any other
   * text as the choice's text.
   */
  answerFormat?: AnswerFormat;
  /** A field with each item's id; default: <file>:<line>. */
  id?: string;
  /** Generative tasks: default "prompt". */
  prompt?: string;
  /** Generative tasks: default "target". */
  target?: string;
}

interface Row {
  /** `line 5`. */
  where: string;
  /** What a message calls one of its names: 'field' (JSONL) or 'column' (CSV). */
  noun: 'field' | 'column';
  /** Values by name: JSON values (JSONL) or strings (CSV). */
  get(name: string): unknown;
  names(): string[];
  /** CSV cells are text; a choices cell holds JSON text. */
  csv: boolean;
  id: string;
}

function jsonlRows(bytes: Uint8Array, file: string): Row[] {
  const fail: Fail = failIn(file);
  const text = decodeText(bytes, file, 'JSON Lines: one JSON object per line');
  const name = fileBaseName(file);
  const rows: Row[] = [];
  text.split('\n').forEach((raw, i) => {
    const lineText = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (lineText.trim() === '') return;
    const where = `line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch (e) {
      fail(where, `text that is not JSON (${(e as Error).message})`, 'one JSON object per line');
    }
    if (!isPlainObject(value)) fail(where, `JSON ${describeJson(value)}`, 'one JSON object per line');
    const object = value;
    rows.push({ where, noun: 'field', get: (path) => lookupPath(object, path), names: () => Object.keys(object), csv: false, id: `${name}:${i + 1}` });
  });
  return rows;
}

/** `path` in the object: the key itself if present, else its dot-separated parts, level by level. */
function lookupPath(object: Record<string, unknown>, path: string): unknown {
  if (path in object) return object[path];
  let value: unknown = object;
  for (const part of path.split('.')) {
    if (!isPlainObject(value)) return undefined;
    value = value[part];
  }
  return value;
}

function csvRows(bytes: Uint8Array, file: string): Row[] {
  const { header, records } = parseCsv(decodeText(bytes, file, 'CSV text'), file);
  const name = fileBaseName(file);
  const column = new Map(header.map((h, c) => [h, c]));
  return records.map(({ line, cells }) => ({
    where: `line ${line}`,
    noun: 'column',
    get: (key) => {
      const c = column.get(key);
      return c === undefined ? undefined : cells[c];
    },
    names: () => header,
    csv: true,
    id: `${name}:${line}`,
  }));
}

function tableRows(bytes: Uint8Array, file: string, format: 'jsonl' | 'csv'): Row[] {
  return format === 'jsonl' ? jsonlRows(bytes, file) : csvRows(bytes, file);
}

/** A row's text field: a string (numbers and booleans as text); absent → undefined when optional. */
function textField(row: Row, name: string, required: boolean, fail: Fail): string | undefined {
  const v = row.get(name);
  if (v === undefined || v === null) {
    if (!required) return undefined;
    fail(`${row.where}, ${row.noun} "${name}"`, 'nothing', `a ${row.noun} "${name}" (present: ${row.names().join(', ')})`);
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') fail(`${row.where}, ${row.noun} "${name}"`, describeJson(v), 'text');
  return v;
}

/** choice1, Option_2, ending3, sol1, answerA …: a number or a capital letter after the word. */
const CHOICE_COLUMN = /^(?:[Cc]hoice|[Oo]ption|[Ee]nding|[Ss]olution|[Ss]ol|[Aa]nswer)[ _-]?([0-9]+|[A-Z])$/;

/** The default choice columns of a row without a "choices" field. */
function detectChoiceColumns(names: string[]): string[] {
  const suffixed = names
    .map((name) => ({ name, suffix: CHOICE_COLUMN.exec(name)?.[1] }))
    .filter((c): c is { name: string; suffix: string } => c.suffix !== undefined);
  if (suffixed.length >= 2) {
    const key = (s: string) => (/^\d+$/.test(s) ? Number(s) : s.charCodeAt(0));
    return suffixed.sort((a, b) => key(a.suffix) - key(b.suffix)).map((c) => c.name);
  }
  return names.filter((n) => /^[A-Z]$/.test(n)).sort();
}

const CHOICES_SHAPE = 'an array of choice strings, {"text": [...], "label": [...]}, or [{"label": …, "text": …}, …]';

/** The choices of a row and their labels when the file gives them. */
function rowChoices(row: Row, mapping: ColumnMapping, fail: Fail): { choices: string[]; labels: string[] | null } {
  const choicesName = mapping.choices ?? 'choices';
  const explicit = mapping.choiceColumns;
  if (explicit === undefined && (mapping.choices !== undefined || row.get(choicesName) !== undefined)) {
    const at = `${row.where}, ${row.noun} "${choicesName}"`;
    let v = row.get(choicesName);
    if (v === undefined) fail(at, 'nothing', `a ${row.noun} "${choicesName}" (present: ${row.names().join(', ')})`);
    if (row.csv) {
      try {
        v = JSON.parse(v as string);
      } catch {
        fail(at, JSON.stringify(v), `JSON text of ${CHOICES_SHAPE}`);
      }
    }
    return choiceList(v, at, fail);
  }
  const columns = explicit ?? detectChoiceColumns(row.names());
  if (columns.length < 2) {
    const expected = `a ${row.noun} "${choicesName}", or choice ${row.noun}s (choice1, choice2, … or a ColumnMapping's choiceColumns)`;
    fail(row.where, `no choices (present: ${row.names().join(', ')})`, expected);
  }
  const choices = columns.map((c) => textField(row, c, true, fail)!.trim());
  // Rows with fewer choices than columns leave the last ones empty (ARC's 3- and 5-choice questions).
  while (choices.length > 0 && choices[choices.length - 1] === '') choices.pop();
  choices.forEach((c, k) => {
    if (c === '') fail(`${row.where}, ${row.noun} "${columns[k]}"`, 'an empty choice', 'text for every choice before the last non-empty one');
  });
  return { choices, labels: null };
}

function choiceList(v: unknown, at: string, fail: Fail): { choices: string[]; labels: string[] | null } {
  let texts: unknown[];
  let labels: unknown[] | null = null;
  if (Array.isArray(v) && v.every(isPlainObject)) {
    texts = v.map((c) => c.text);
    labels = v.some((c) => c.label !== undefined) ? v.map((c) => c.label) : null;
  } else if (Array.isArray(v)) {
    texts = v;
  } else if (isPlainObject(v) && Array.isArray(v.text)) {
    texts = v.text;
    if (v.label !== undefined) {
      if (!Array.isArray(v.label) || v.label.length !== texts.length) {
        fail(at, `labels ${describeJson(v.label)} beside ${texts.length} texts`, 'one label per choice');
      }
      labels = v.label;
    }
  } else {
    fail(at, describeJson(v), CHOICES_SHAPE);
  }
  const choices = texts.map((t, k) => {
    if (typeof t !== 'string' || t.trim() === '') fail(`${at}, choice ${k}`, describeJson(t), 'non-empty text');
    return t.trim();
  });
  const labelTexts = labels?.map((l, k) => {
    if (typeof l !== 'string' && typeof l !== 'number') fail(`${at}, label ${k}`, describeJson(l), 'a label (text or number)');
    return String(l).trim();
  });
  return { choices, labels: labelTexts ?? null };
}

/** The index the answer cell names, by the mapping's answer format. */
function answerIndex(value: string, choices: string[], labels: string[] | null, format: AnswerFormat, at: string, fail: Fail): number {
  const v = value.trim();
  const inRange = (i: number, how: string): number => {
    if (i < 0 || i >= choices.length) fail(at, JSON.stringify(value), `${how} of one of the ${choices.length} choices`);
    return i;
  };
  switch (format) {
    case 'index':
    case 'index1': {
      if (!/^\d+$/.test(v)) fail(at, JSON.stringify(value), `a ${format === 'index' ? '0' : '1'}-based choice index`);
      return format === 'index' ? inRange(Number(v), 'the 0-based index') : inRange(Number(v) - 1, 'the 1-based index');
    }
    case 'letter': {
      if (!/^[A-Za-z]$/.test(v)) fail(at, JSON.stringify(value), 'a letter A, B, …');
      return inRange(v.toUpperCase().charCodeAt(0) - 65, 'the letter');
    }
    case 'text': {
      const i = choices.indexOf(v);
      if (i < 0) fail(at, JSON.stringify(value), `the text of one of the choices ${JSON.stringify(choices)}`);
      return i;
    }
    case 'auto': {
      if (labels !== null) {
        const i = labels.indexOf(v);
        if (i < 0) fail(at, JSON.stringify(value), `one of the choices' labels ${labels.join(', ')}`);
        return i;
      }
      if (/^\d+$/.test(v)) return inRange(Number(v), 'the 0-based index (answerFormat "index1" reads 1-based ones)');
      if (/^[A-Za-z]$/.test(v)) return inRange(v.toUpperCase().charCodeAt(0) - 65, 'the letter');
      return answerIndex(value, choices, labels, 'text', at, fail);
    }
  }
}

/** Multiple-choice items from a JSONL or CSV file. */
export function parseMultipleChoiceTable(bytes: Uint8Array, file: string, format: 'jsonl' | 'csv', mapping: ColumnMapping = {}): MultipleChoiceItem[] {
  const fail: Fail = failIn(file);
  const answerFormat = mapping.answerFormat ?? 'auto';
  if (!ANSWER_FORMATS.includes(answerFormat)) fail(undefined, `answerFormat ${JSON.stringify(answerFormat)}`, `one of ${ANSWER_FORMATS.join(', ')}`);
  const questionName = mapping.question ?? 'question';
  const answerName = mapping.answer ?? 'answer';
  const contextName = mapping.context ?? 'context';
  return tableRows(bytes, file, format).map((row) => {
    const question = textField(row, questionName, true, fail)!.trim();
    if (question === '') fail(`${row.where}, ${row.noun} "${questionName}"`, 'an empty question', 'question text');
    const { choices, labels } = rowChoices(row, mapping, fail);
    if (choices.length < 2) fail(row.where, `${choices.length} choice${choices.length === 1 ? '' : 's'}`, 'at least 2 choices');
    const answerAt = `${row.where}, ${row.noun} "${answerName}"`;
    const answer = answerIndex(textField(row, answerName, true, fail)!, choices, labels, answerFormat, answerAt, fail);
    const context = textField(row, contextName, mapping.context !== undefined, fail)?.trim();
    const id = mapping.id === undefined ? row.id : textField(row, mapping.id, true, fail)!;
    const item: MultipleChoiceItem = { question, choices, answer, id };
    if (context !== undefined && context !== '') item.context = context;
    return item;
  });
}

/** Prompt/target items from a JSONL or CSV file. */
export function parseGenerativeTable(bytes: Uint8Array, file: string, format: 'jsonl' | 'csv', mapping: ColumnMapping = {}): GenerativeItem[] {
  const fail: Fail = failIn(file);
  const promptName = mapping.prompt ?? 'prompt';
  const targetName = mapping.target ?? 'target';
  return tableRows(bytes, file, format).map((row) => {
    const prompt = textField(row, promptName, true, fail)!;
    const target = textField(row, targetName, true, fail)!;
    if (prompt.trim() === '') fail(`${row.where}, ${row.noun} "${promptName}"`, 'an empty prompt', 'prompt text');
    if (target.trim() === '') fail(`${row.where}, ${row.noun} "${targetName}"`, 'an empty target', 'target text');
    const id = mapping.id === undefined ? row.id : textField(row, mapping.id, true, fail)!;
    return { prompt, target, id };
  });
}
