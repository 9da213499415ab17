// The base inputs the fuzzers mutate: small files of every format built here (so most inputs are
// a few KB and 10,000 of them take seconds), the real stories260K and tok512 from the mirror, and
// slices of the mirror's QA files turned into each task format. Every format's samples are also the
// other formats' donors for splicing.

import { readFile } from 'node:fs/promises';
import { parseHfConfig } from '../../../src/io/hf-config';
import { readFileBytes } from '../../../src/io/node-files';
import { writeSafetensors } from '../../../src/io/safetensors';
import { parseLlmAdaptersJson } from '../../../src/tasks/formats';
import type { MultipleChoiceItem } from '../../../src/tasks/types';
import { Rng } from '../../../src/util/rng';
import { GPT2_CONFIG, jsonBytes, LLAMA_CONFIG, QWEN2_CONFIG, randomWeights, shardedFiles, tensorsOf, tinyTokenizerConfig, tinyTokenizerJson } from '../hf-fixtures';
import { mirrorPath } from '../mirror';
import type { Sample } from './harness';

const utf8 = new TextEncoder();
const text = (name: string, t: string): Sample => ({ name, bytes: utf8.encode(t) });

/** Values k/64 (exact in every float format), from a seeded generator. */
function sixtyFourths(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.floor(rng.uniform(-64, 65)) / 64);
}

// ---------------------------------------------------------------------------------------------
// safetensors

/** A file from a header's text and its data buffer, as the format frames them: u64 length, header, data. */
export function safetensorsFrame(headerText: string, data: Uint8Array): Uint8Array {
  const json = utf8.encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

export function safetensorsSamples(): Sample[] {
  const rng = new Rng(1);
  const tiny = writeSafetensors(
    [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: sixtyFourths(rng, 6) },
      { name: 'b', dtype: 'F16', shape: [4], data: sixtyFourths(rng, 4) },
      { name: 'c', dtype: 'BF16', shape: [1, 2, 2], data: sixtyFourths(rng, 4) },
      { name: 'empty', dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
      { name: 'scalar', dtype: 'F32', shape: [], data: sixtyFourths(rng, 1) },
    ],
    { format: 'pt' },
  );
  const ints = safetensorsFrame(
    JSON.stringify({
      mask: { dtype: 'BOOL', shape: [4], data_offsets: [0, 4] },
      ids: { dtype: 'I64', shape: [2], data_offsets: [4, 20] },
      __metadata__: { format: 'pt', note: 'integer dtypes' },
    }),
    Uint8Array.from({ length: 20 }, (_, i) => i),
  );
  const llama = parseHfConfig(jsonBytes(LLAMA_CONFIG), 'config.json');
  const qwen2 = parseHfConfig(jsonBytes(QWEN2_CONFIG), 'config.json');
  const shards = shardedFiles(tensorsOf(randomWeights(qwen2, 3), 'F32'), 3);
  return [
    { name: 'tiny.safetensors', bytes: tiny },
    { name: 'integer-dtypes.safetensors', bytes: ints },
    { name: 'llama-fixture BF16 model.safetensors', bytes: writeSafetensors(tensorsOf(randomWeights(llama, 2), 'BF16'), { format: 'pt' }) },
    { name: 'qwen2-fixture F32 shard 1 of 3', bytes: shards['model-00001-of-00003.safetensors']! },
  ];
}

// ---------------------------------------------------------------------------------------------
// llama2.c

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Negative: an untied classifier ends the file. */
  vocabSize: number;
  seqLen: number;
}

/** A checkpoint in run.c's layout: the 7 int32 and every f32 array, values k/64. */
export function llama2cBytes(h: Llama2cHeader, seed: number): Uint8Array {
  const vocab = Math.abs(h.vocabSize);
  const kvDim = (h.dim * h.nKvHeads) / h.nHeads;
  const headSize = h.dim / h.nHeads;
  const perLayer = h.dim + h.dim * h.dim + 2 * kvDim * h.dim + h.dim * h.dim + h.dim + 3 * h.hiddenDim * h.dim;
  const floats = vocab * h.dim + h.nLayers * perLayer + h.dim + 2 * h.seqLen * (headSize / 2) + (h.vocabSize < 0 ? vocab * h.dim : 0);
  const out = new Uint8Array(28 + 4 * floats);
  const view = new DataView(out.buffer);
  [h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKvHeads, h.vocabSize, h.seqLen].forEach((v, i) => view.setInt32(4 * i, v, true));
  new Float32Array(out.buffer, 28).set(sixtyFourths(new Rng(seed), floats));
  return out;
}

export const TINY_LLAMA2C: Llama2cHeader = { dim: 4, hiddenDim: 6, nLayers: 1, nHeads: 2, nKvHeads: 1, vocabSize: 8, seqLen: 3 };

export async function llama2cSamples(): Promise<Sample[]> {
  return [
    { name: 'tiny tied llama2.c', bytes: llama2cBytes(TINY_LLAMA2C, 1) },
    { name: 'tiny untied llama2.c', bytes: llama2cBytes({ ...TINY_LLAMA2C, nLayers: 2, vocabSize: -8 }, 2) },
    { name: 'stories260K.bin', bytes: await readFileBytes(mirrorPath('models/stories260K/stories260K.bin')) },
  ];
}

/** A llama2.c vocabulary and the vocab size its model would give. */
export interface VocabSample extends Sample {
  vocabSize: number;
}

/** A vocabulary file: max_token_length, then score, length and bytes of each piece. */
export function llama2cVocabBytes(pieces: string[], maxTokenLength: number): Uint8Array {
  const encoded = pieces.map((p) => Uint8Array.from(p, (c) => c.charCodeAt(0)));
  const out = new Uint8Array(4 + encoded.reduce((n, p) => n + 8 + p.length, 0));
  const view = new DataView(out.buffer);
  view.setInt32(0, maxTokenLength, true);
  let at = 4;
  encoded.forEach((p, id) => {
    view.setFloat32(at, -id, true);
    view.setInt32(at + 4, p.length, true);
    out.set(p, at + 8);
    at += 8 + p.length;
  });
  return out;
}

export async function llama2cVocabSamples(): Promise<VocabSample[]> {
  const bytePieces = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const tiny = ['<unk>', '\n<s>\n', '\n</s>\n', ...bytePieces, ' ', 'a', ' a', 'ab'];
  return [
    { name: 'tok512.bin', bytes: await readFileBytes(mirrorPath('models/stories260K/tok512.bin')), vocabSize: 512 },
    { name: 'tiny vocabulary', bytes: llama2cVocabBytes(tiny, 6), vocabSize: tiny.length },
  ];
}

// ---------------------------------------------------------------------------------------------
// Hugging Face JSON files

export function configSamples(): Sample[] {
  return [
    { name: 'llama config.json', bytes: jsonBytes(LLAMA_CONFIG) },
    { name: 'qwen2 config.json', bytes: jsonBytes(QWEN2_CONFIG) },
    { name: 'gpt2 config.json', bytes: jsonBytes(GPT2_CONFIG) },
    { name: 'llama config.json, compact, head_dim given', bytes: utf8.encode(JSON.stringify({ ...LLAMA_CONFIG, head_dim: 4, eos_token_id: [2, 0] })) },
  ];
}

const ADDED = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** A WordPiece (BERT-like) tokenizer.json. */
const WORDPIECE_TOKENIZER = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [ADDED(0, '[UNK]')],
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: null,
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: {
    type: 'WordPiece',
    unk_token: '[UNK]',
    continuing_subword_prefix: '##',
    max_input_chars_per_word: 100,
    vocab: { '[UNK]': 0, hello: 1, world: 2, '##s': 3, h: 4, '##e': 5, '##l': 6, '##o': 7, ',': 8, '!': 9 },
  },
};

/** A Unigram (sentencepiece-like) tokenizer.json with a normalizer sequence and Metaspace. */
const UNIGRAM_TOKENIZER = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [ADDED(0, '<unk>')],
  normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { String: '  ' }, content: ' ' }] },
  pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  post_processor: null,
  decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  model: {
    type: 'Unigram',
    unk_id: 0,
    byte_fallback: false,
    vocab: [['<unk>', 0], ['▁hello', -1], ['▁world', -2], ['▁', -3], ['h', -4], ['e', -4], ['l', -4], ['o', -4], ['w', -4], ['r', -4], ['d', -4], ['s', -5]],
  },
};

export function tokenizerSamples(): Sample[] {
  return [
    { name: 'byte-level BPE tokenizer.json', bytes: jsonBytes(tinyTokenizerJson()) },
    { name: 'byte-level BPE tokenizer.json, compact', bytes: utf8.encode(JSON.stringify(tinyTokenizerJson())) },
    { name: 'WordPiece tokenizer.json', bytes: jsonBytes(WORDPIECE_TOKENIZER) },
    { name: 'Unigram tokenizer.json', bytes: jsonBytes(UNIGRAM_TOKENIZER) },
  ];
}

export function tokenizerConfigSamples(): Sample[] {
  return [
    { name: 'tokenizer_config.json', bytes: jsonBytes(tinyTokenizerConfig('<|im_start|>', '<|im_end|>')) },
    { name: 'tokenizer_config.json, bos null', bytes: jsonBytes({ ...tinyTokenizerConfig(null, '<|endoftext|>'), eos_token: { content: '<|endoftext|>', special: true } }) },
  ];
}

// ---------------------------------------------------------------------------------------------
// Task files, from slices of the mirror's QA sets

const QA_SETS = ['ARC-Challenge', 'ARC-Easy', 'boolq', 'openbookqa', 'piqa', 'social_i_qa', 'winogrande'];
/** Items taken from the start of each QA file: enough for every shape, small enough to mutate fast. */
const SLICE = 3;

export interface TaskSamples {
  llmAdapters: Sample[];
  jsonlChoice: Sample[];
  jsonlGenerative: Sample[];
  csvChoice: Sample[];
  csvGenerative: Sample[];
}

/** A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180). */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

const LETTERS = 'ABCDEFGH';

export async function taskSamples(): Promise<TaskSamples> {
  const llmAdapters: Sample[] = [];
  const items: MultipleChoiceItem[] = [];
  for (const set of QA_SETS) {
    const all = JSON.parse(await readFile(mirrorPath(`data/qa/${set}/test.json`), 'utf8')) as unknown[];
    const slice = JSON.stringify(all.slice(0, SLICE), null, 4);
    llmAdapters.push(text(`${set}/test.json, first ${SLICE} items`, slice));
    items.push(...parseLlmAdaptersJson(utf8.encode(slice), `${set}.json`));
  }
  const lines = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const jsonlChoice = [
    text('choices as a list, 0-based answers', lines(items.map((it) => ({ question: it.question, choices: it.choices, answer: it.answer, ...(it.context === undefined ? {} : { context: it.context }) })))),
    text('choices as {text, label}, letter answers', lines(items.map((it) => ({ question: it.question, choices: { text: it.choices, label: it.choices.map((_, k) => LETTERS[k]) }, answer: LETTERS[it.answer] })))),
    text('choices as [{label, text}], CRLF', lines(items.map((it) => ({ id: it.id, question: it.question, choices: it.choices.map((t, k) => ({ label: `${k + 1}`, text: t })), answer: `${it.answer + 1}` }))).replace(/\n/g, '\r\n')),
    text('choice columns, text answers', lines(items.map((it) => ({ question: it.question, ...Object.fromEntries(it.choices.map((t, k) => [`choice${k + 1}`, t])), answer: it.choices[it.answer] })))),
  ];
  const jsonlGenerative = [text('prompt/target lines', lines(items.map((it) => ({ prompt: `${it.context ?? ''} ${it.question}`.trim(), target: it.choices[it.answer] }))))];
  const choiceCount = Math.max(...items.map((it) => it.choices.length));
  const letterHeader = ['question', ...LETTERS.slice(0, choiceCount), 'answer'].join(',');
  const csvChoice = [
    text('letter columns, letter answers', [letterHeader, ...items.map((it) => [it.question, ...Array.from({ length: choiceCount }, (_, k) => it.choices[k] ?? ''), LETTERS[it.answer]].map(csvField).join(','))].join('\n') + '\n'),
    text('a JSON choices column, CRLF', ['question,choices,answer', ...items.map((it) => [it.question, JSON.stringify(it.choices), String(it.answer)].map(csvField).join(','))].join('\r\n')),
  ];
  const csvGenerative = [text('prompt,target', ['prompt,target', ...items.map((it) => [`${it.context ?? ''}\n${it.question}`.trim(), it.choices[it.answer]].map(csvField).join(','))].join('\n') + '\n')];
  return { llmAdapters, jsonlChoice, jsonlGenerative, csvChoice, csvGenerative };
}

/** Every format's samples, for splicing one format into another. */
export async function allSamples(): Promise<Sample[]> {
  const tasks = await taskSamples();
  return [
    ...safetensorsSamples(),
    ...(await llama2cSamples()),
    ...(await llama2cVocabSamples()),
    ...configSamples(),
    ...tokenizerSamples(),
    ...tokenizerConfigSamples(),
    ...Object.values(tasks).flat(),
  ];
}
