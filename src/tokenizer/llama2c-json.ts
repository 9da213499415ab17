// A llama2.c vocabulary → the tokenizer.json and tokenizer_config.json of a Hugging Face Llama.
//
// The tokenizer.json that transformers' LlamaConverter would write for the sentencepiece model the
// llama2.c vocabulary was exported from, which encodes as run.c does:
//   vocab       the pieces with ' ' back to '▁' (llama2.c's export turned '▁' into ' '); ids 0..2
//               as <unk>, <s>, </s> (llama2.c stores BOS and EOS as "\n<s>\n" and "\n</s>\n");
//   merges      generate_merges of transformers' convert_slow_tokenizer.py: for each piece, every
//               split into two pieces of the vocabulary (ordered by the parts' ids), all ordered by
//               the piece's score, highest first (then longer left part, then longer right part;
//               a stable sort otherwise). Applying the lowest-ranked merge first is run.c's "merge
//               the pair whose piece scores highest", except between different pieces of equal
//               score, which run.c takes leftmost first and the ranks order by id. Pieces run.c
//               never merges into (score ≤ −1e10, and the control tokens 0..2) get no merge;
//   normalizer  Prepend('▁') then Replace(' ', '▁'): run.c's dummy-prefix space, which both skip
//               for empty text; byte_fallback spells other characters as <0xHH> tokens, like run.c.
// Known differences from run.c's encoder: the added tokens' text ("<unk>", "<s>", "</s>") in the
// input encodes as the special token (run.c spells it out), and a '▁' in the input acts as a space.

import { failIn, type Fail } from '../io/errors';
import { Llama2cTokenizer, MIN_MERGE_SCORE } from './llama2c';

const SPIECE_SPACE = '▁';
const CONTROL_PIECES = ['<unk>', '<s>', '</s>'];

/** The two files' texts, for the merged checkpoint of a llama2.c base (src/export/checkpoint.ts) to name. */
export interface HfTokenizerTexts {
  tokenizerJson: string;
  tokenizerConfigJson: string;
}

/**
 * The Hugging Face tokenizer of the llama2.c vocabulary `bytes` (named `fileName` in errors) of a
 * model with `vocabSize` tokens and `maxPositions` positions; a vocabulary that cannot become one
 * (two tokens with one piece, a piece that is not UTF-8) is a FormatError naming the token.
 */
export function hfTokenizerFromLlama2c(bytes: Uint8Array, fileName: string, model: { vocabSize: number; maxPositions: number }): HfTokenizerTexts {
  const { pieces, scores } = readVocabulary(bytes, fileName, model.vocabSize);
  const fail: Fail = failIn(fileName);
  const vocab = pieces.map((piece, id) => (id < CONTROL_PIECES.length ? CONTROL_PIECES[id] : piece.replaceAll(' ', SPIECE_SPACE)));
  const ids = new Map<string, number>();
  vocab.forEach((piece, id) => {
    const earlier = ids.get(piece);
    if (earlier !== undefined) {
      fail(`token ${id}`, `piece ${JSON.stringify(piece)}, as token ${earlier} is`, 'distinct pieces (a tokenizer.json vocabulary maps each to one id)');
    }
    ids.set(piece, id);
  });

  const merges: { left: string; right: string; score: number; leftLength: number; rightLength: number }[] = [];
  vocab.forEach((piece, id) => {
    if (id < CONTROL_PIECES.length || !(scores[id] > MIN_MERGE_SCORE)) return;
    const chars = Array.from(piece);
    const splits: { left: string; right: string; leftLength: number; rightLength: number }[] = [];
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      if (ids.has(left) && ids.has(right)) splits.push({ left, right, leftLength: k, rightLength: chars.length - k });
    }
    splits.sort((a, b) => ids.get(a.left)! - ids.get(b.left)! || ids.get(a.right)! - ids.get(b.right)!);
    for (const split of splits) merges.push({ ...split, score: scores[id] });
  });
  merges.sort((a, b) => b.score - a.score || b.leftLength - a.leftLength || b.rightLength - a.rightLength);

  const bos = { SpecialToken: { id: '<s>', type_id: 0 } };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: CONTROL_PIECES.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPIECE_SPACE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPIECE_SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPIECE_SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      // fromEntries, not assignment: a piece named "__proto__" must stay a key.
      vocab: Object.fromEntries(vocab.map((piece, id) => [piece, id])),
      // "left right" strings, which every tokenizers version reads; no piece holds a ' ' any more.
      merges: merges.map((m) => `${m.left} ${m.right}`),
    },
  };
  const tokenizerConfig = {
    tokenizer_class: 'LlamaTokenizerFast',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    add_bos_token: true,
    add_eos_token: false,
    legacy: true,
    clean_up_tokenization_spaces: false,
    model_max_length: model.maxPositions,
  };
  return { tokenizerJson: JSON.stringify(tokenizer), tokenizerConfigJson: `${JSON.stringify(tokenizerConfig, null, 2)}\n` };
}

/** Each token's piece as text and its score, from the validated vocabulary. */
function readVocabulary(bytes: Uint8Array, fileName: string, vocabSize: number): { pieces: string[]; scores: Float32Array } {
  const tokenizer = Llama2cTokenizer.parse(bytes, fileName, vocabSize);
  const fail: Fail = failIn(fileName);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const scores = new Float32Array(vocabSize);
  for (let id = 0; id < vocabSize; id++) {
    scores[id] = tokenizer.score(id);
    try {
      pieces.push(decoder.decode(tokenizer.pieceBytes(id)));
    } catch {
      fail(`token ${id}`, 'a piece that is not UTF-8', 'UTF-8 text, as sentencepiece pieces are');
    }
  }
  return { pieces, scores };
}
