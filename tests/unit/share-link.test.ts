// The share link (src/share/link.ts): `#run=1.<base64url of raw-DEFLATE JSON>`. Every spec comes
// back as it went in; hostile or broken links are refused with a message that says which part is
// wrong, or repaired field by field with each repair listed; the decoder never throws, which the
// seeded fuzzing harness checks on mutated real links (tests/unit/fuzz/share-link.test.ts).
//
// The links under test are built here with Node's zlib and Buffer's base64url, not with the
// codec's own encoder, so the two agree on the format rather than with themselves.

import { deflateRawSync, inflateRawSync, deflateSync as zlibDeflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_SPEC, parseRunSpec, type RunSpec, type RunSpecInput } from '../../src/run/spec';
import { decodeRunLink, encodeRunLink, isDefaultSpec, LINK_VERSION, MAX_LINK_CHARS, MAX_RESULT_CHARS, MAX_SPEC_JSON_BYTES, runLinkUrl, type LinkDecoding } from '../../src/share/link';
import { compareWithSender, downsampleLoss, lossPointSteps, RESULT_LOSS_POINTS, summarizeResult } from '../../src/share/result';
import { Rng } from '../../src/util/rng';
import { SHA_A, VARIED_SPECS } from './run-specs';

/** `#run=1.` and the payload of raw DEFLATE of `content` (text or bytes), as an outside encoder writes it. */
function linkOf(content: string | Uint8Array, version = '1'): string {
  return `#run=${version}.${deflateRawSync(typeof content === 'string' ? Buffer.from(content, 'utf8') : content).toString('base64url')}`;
}

const DEFAULT_LINK = encodeRunLink(DEFAULT_RUN_SPEC);
const PAYLOAD = DEFAULT_LINK.slice('#run=1.'.length);
/** The default link with the payload's character at `at` replaced by `ch`. */
const withCharAt = (at: number, ch: string) => `#run=1.${PAYLOAD.slice(0, at)}${ch}${PAYLOAD.slice(at + 1)}`;

function decoded(link: string): RunSpec {
  const d = decodeRunLink(link);
  if (!d.ok) throw new Error(`refused: ${d.error}`);
  return d.spec;
}

describe('round trip', () => {
  it.each([['the default run', {} as RunSpecInput], ...Object.entries(VARIED_SPECS)])('%s: encode → decode gives the same spec and no problems', (_, input) => {
    const spec = parseRunSpec(input);
    const link = encodeRunLink(spec);
    expect(link).toMatch(/^#run=1\.[A-Za-z0-9_-]+$/);
    expect(decodeRunLink(link)).toEqual({ ok: true, spec, problems: [], result: null });
    // The payload is plain raw DEFLATE of the spec's JSON: any inflater reads it.
    expect(decodeRunLink(linkOf(JSON.stringify(spec)))).toEqual({ ok: true, spec, problems: [], result: null });
  });

  it('is the spec exactly as JSON: an outside encoder and this one agree on what the payload holds', () => {
    const spec = parseRunSpec(VARIED_SPECS['hub model, story task with every option']!);
    const payload = Buffer.from(encodeRunLink(spec).slice('#run=1.'.length), 'base64url');
    expect(JSON.parse(inflateRawSync(payload).toString('utf8'))).toEqual(spec);
  });

  it('reads a whole URL, a #run=… fragment, run=… alone, and ignores other parameters', () => {
    const spec = parseRunSpec(VARIED_SPECS['preset, catalog task, LoRA']!);
    const link = encodeRunLink(spec);
    const forms = [
      link,
      link.slice(1),
      runLinkUrl(spec, 'http://localhost:4173/'),
      runLinkUrl(spec, 'https://example.org/playground/?lang=en#old=fragment'),
      `https://example.org/?run=0.bogus#tab=train&${link.slice(1)}&theme=dark`,
      `#a=1&b&${link.slice(1)}`,
      `${link}&run=2.ignored`,
    ];
    for (const form of forms) expect(decodeRunLink(form), form).toEqual({ ok: true, spec, problems: [], result: null });
    expect(runLinkUrl(spec, 'https://example.org/playground/?lang=en#old')).toBe(`https://example.org/playground/?lang=en${link}`);
  });

  it('caps the fragment, not the page address in front of it', () => {
    const link = encodeRunLink(parseRunSpec(VARIED_SPECS['preset, catalog task, LoRA']!));
    expect(decodeRunLink(`https://example.org/${'p'.repeat(MAX_LINK_CHARS)}/${link}`).ok).toBe(true);
  });

  it('stays under the cap for a maximal realistic spec, and refuses to make a link the decoder would refuse', () => {
    const rng = new Rng(1);
    const sha = () => Array.from({ length: 64 }, () => '0123456789abcdef'[rng.nextU32() & 15]).join('');
    const shards = Array.from({ length: 8 }, (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-00008.safetensors`);
    const files = ['config.json', 'generation_config.json', 'model.safetensors.index.json', ...shards, 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'];
    // A sharded local model pinned file by file (16 incompressible sha256s), a file task with
    // both splits, every mapping field, every module, every setting changed from its default.
    const maximal = parseRunSpec({
      model: { kind: 'files', name: 'Qwen2.5-0.5B-Instruct-finetuned-on-my-own-data-v2', files: files.map((name) => ({ name, sha256: sha() })) },
      task: {
        kind: 'file',
        name: 'commonsense_qa',
        train: { name: 'datasets/commonsense_qa/train-00000-of-00001-with-my-extra-questions.jsonl', sha256: sha() },
        test: { name: 'datasets/commonsense_qa/validation-00000-of-00001-with-my-extra-questions.jsonl', sha256: sha() },
        format: 'jsonl',
        mapping: { question: 'question_stem', context: 'question_concept', choices: 'choices_text', answer: 'answerKey', answerFormat: 'letter', id: 'question_id' },
        template: 'question-answer',
      },
      adapter: { method: 'd2lora', r: 1024, alpha: 123.456789, tau: 0.123456789, project: false, readd: 0.987654321, detachNorm: true, scaling: 'rslora', eps: 1.23456789e-11 },
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      training: { epochs: 100, batch: 4096, lr: 0.000123456789, minLr: 0.0000123456789, warmup: 0.123456789, decay: 'cosine', beta1: 0.89, beta2: 0.9989, eps: 1.5e-7, weightDecay: 0.0123, maxGradNorm: 123.5 },
      limits: { maxTrain: 999_999, maxEval: 99_999, maxLength: 131_072, evalBatch: 4095 },
      scoring: 'mean',
      seed: 2_147_483_647,
    });
    const link = encodeRunLink(maximal);
    console.log(`links: the default run ${DEFAULT_LINK.length} characters; a maximal realistic spec ${link.length} of at most ${MAX_LINK_CHARS}`);
    expect(link.length).toBeLessThan(MAX_LINK_CHARS);
    expect(decodeRunLink(runLinkUrl(maximal, 'https://example.org/d2lora/'))).toEqual({ ok: true, spec: maximal, problems: [], result: null });

    // 256 pinned files of long names: valid as a spec, too long for a link.
    const huge = parseRunSpec({ model: { kind: 'files', name: 'm', files: Array.from({ length: 256 }, (_, i) => ({ name: `shards/part-${i}-${'x'.repeat(200)}.bin`, sha256: sha() })) } });
    expect(() => encodeRunLink(huge)).toThrow(new RangeError(`the run spec is ${new TextEncoder().encode(JSON.stringify(huge)).length} bytes of JSON; a run link holds at most ${MAX_SPEC_JSON_BYTES}`));
    const wide = parseRunSpec({ model: { kind: 'files', name: 'm', files: Array.from({ length: 100 }, (_, i) => ({ name: `f${i}`, sha256: sha() })) } });
    expect(() => encodeRunLink(wide)).toThrow(/^the run's link would be \d+ characters long; a run link has at most 6144$/);
  });

  it('tells the default spec from any other', () => {
    expect(isDefaultSpec(decoded(DEFAULT_LINK))).toBe(true);
    expect(isDefaultSpec(parseRunSpec({ seed: 1 }))).toBe(false);
  });
});

const NOT_BASE64 = 'the link\'s data is not base64url (letters, digits, "-" and "_"): it may have been cut or changed';
const NOT_DEFLATE = (why: string) => `the link's data is not DEFLATE-compressed (${why}): it may have been cut or changed`;
const CUT_LENGTH = (n: number) => `the link's data is ${n} character${n === 1 ? '' : 's'} long, a length base64url never has: it may have been cut`;
const NO_RUN = 'the link has no "run=" part (expected #run=1.<data>)';

/** Cuts of the default link at several points: an impossible length, or a DEFLATE stream that ends early. */
const CUTS: [string, string, string][] = [9, 10, 12, 40, 101, Math.floor(DEFAULT_LINK.length / 2), DEFAULT_LINK.length - 3, DEFAULT_LINK.length - 2, DEFAULT_LINK.length - 1].map((at) => {
  const payloadChars = at - '#run=1.'.length;
  return [`cut after ${at} characters`, DEFAULT_LINK.slice(0, at), payloadChars % 4 === 1 ? CUT_LENGTH(payloadChars) : NOT_DEFLATE('unexpected EOF')];
});

/** Links that are refused as a whole: input → the message. */
const REFUSED: [string, string, string | RegExp][] = [
  ...CUTS,
  ['nothing', '', NO_RUN],
  ['no run= part', 'https://example.org/#tab=train&theme=dark', NO_RUN],
  ['"run" without "="', '#run', NO_RUN],
  ['run= in the query, not the fragment', `https://example.org/?${DEFAULT_LINK.slice(1)}`, NO_RUN],
  ['no dot', `#run=${PAYLOAD}`, 'the link\'s data has no version (expected run=1.<data>)'],
  ['version 0', `#run=0.${PAYLOAD}`, 'the link is of version 0; this playground reads version 1'],
  ['version 2', `#run=2.${PAYLOAD}`, 'the link is of version 2; this playground reads version 1 (the link comes from a newer playground: update this one)'],
  ['version 99', `#run=99.${PAYLOAD}`, 'the link is of version 99; this playground reads version 1 (the link comes from a newer playground: update this one)'],
  ['version "v1"', `#run=v1.${PAYLOAD}`, 'the link\'s version "v1" is not a number (expected 1)'],
  ['empty version', `#run=.${PAYLOAD}`, 'the link\'s version "" is not a number (expected 1)'],
  ['negative version', `#run=-1.${PAYLOAD}`, 'the link\'s version "-1" is not a number (expected 1)'],
  ['version as HTML', `#run=<script>alert(1)</script>.${PAYLOAD}`, 'the link\'s version "<script>alert(1)</sc" is not a number (expected 1)'],
  ['no data', '#run=1.', 'the link carries no data after its version'],
  ['a "+" (base64, not base64url)', withCharAt(20, '+'), NOT_BASE64],
  ['a "/" (base64, not base64url)', withCharAt(20, '/'), NOT_BASE64],
  ['"=" padding', `${DEFAULT_LINK}==`, NOT_BASE64],
  ['a space', withCharAt(20, ' '), NOT_BASE64],
  ['a percent-escape', withCharAt(20, '%2B'), NOT_BASE64],
  ['a non-ASCII letter', withCharAt(20, 'é'), NOT_BASE64],
  ['an emoji', withCharAt(20, '😀'), NOT_BASE64],
  ['impossible length: 5 characters', '#run=1.AAAAA', CUT_LENGTH(5)],
  ['impossible length: 1 character', '#run=1.A', CUT_LENGTH(1)],
  ['random bytes', `#run=1.${Buffer.from([0xff, 0xfe, 0x13, 0x99, 0x00, 0x42, 0x77, 0x11]).toString('base64url')}`, NOT_DEFLATE('invalid block type')],
  ['the JSON itself, uncompressed', `#run=1.${Buffer.from(JSON.stringify(DEFAULT_RUN_SPEC)).toString('base64url')}`, NOT_DEFLATE('invalid distance')],
  ['zlib-wrapped DEFLATE', `#run=1.${zlibDeflateSync(Buffer.from(JSON.stringify(DEFAULT_RUN_SPEC))).toString('base64url')}`, NOT_DEFLATE('unexpected EOF')],
  ['DEFLATE of bytes that are not UTF-8', linkOf(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), "the link's data is not UTF-8 text"],
  ['DEFLATE of text that is not JSON', linkOf('model=stories260K&r=8'), /^the link's data is not JSON \(Unexpected token .*\)$/],
  ['DEFLATE of nothing', linkOf(''), "the link's data is not JSON (Unexpected end of JSON input)"],
  ['DEFLATE of JSON cut short', linkOf(JSON.stringify(DEFAULT_RUN_SPEC).slice(0, 100)), /^the link's data is not JSON \(/],
  [
    'a bomb: a few hundred bytes inflating to a megabyte',
    linkOf(`{"model":{"kind":"files","name":"${'x'.repeat(1_000_000)}"}}`),
    `the link's data inflates to more than ${MAX_SPEC_JSON_BYTES} bytes; a run spec is far smaller`,
  ],
  ['a bomb of whitespace', linkOf(' '.repeat(MAX_SPEC_JSON_BYTES + 1)), `the link's data inflates to more than ${MAX_SPEC_JSON_BYTES} bytes; a run spec is far smaller`],
  ['nesting past the cap: arrays', linkOf(`${'['.repeat(17)}${']'.repeat(17)}`), "the link's JSON nests 17 levels deep; a run spec has at most 16"],
  ['nesting past the cap: in a field', linkOf(`{"task":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`), "the link's JSON nests 2001 levels deep; a run spec has at most 16"],
  ['an oversize link', `#run=1.${'A'.repeat(MAX_LINK_CHARS)}`, `the link's fragment is ${MAX_LINK_CHARS + 6} characters long; a run link has at most ${MAX_LINK_CHARS}`],
  ['an oversize URL of parameters', `https://example.org/#${'x=1&'.repeat(2000)}${DEFAULT_LINK.slice(1)}`, /^the link's fragment is \d+ characters long; a run link has at most 6144$/],
];

describe('links that are refused', () => {
  it(`has at least 25 cases (${REFUSED.length})`, () => {
    expect(REFUSED.length).toBeGreaterThanOrEqual(25);
  });

  it.each(REFUSED)('%s', (_, link, message) => {
    let d: LinkDecoding | undefined;
    expect(() => (d = decodeRunLink(link))).not.toThrow();
    expect(d!.ok, JSON.stringify(d)).toBe(false);
    const error = (d as { error: string }).error;
    if (typeof message === 'string') expect(error).toBe(message);
    else expect(error).toMatch(message);
  });

  it('refuses what is not text at all', () => {
    expect(decodeRunLink(42 as unknown as string)).toEqual({ ok: false, error: 'the link is not text' });
    expect(decodeRunLink(null as unknown as string)).toEqual({ ok: false, error: 'the link is not text' });
  });

  it('accepts nesting up to the cap (the depth counts brackets outside strings only)', () => {
    const d = decodeRunLink(linkOf(`{"x":${'['.repeat(15)}"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{"${']'.repeat(15)}}`));
    expect(d).toEqual({ ok: true, spec: DEFAULT_RUN_SPEC, problems: ["x: unknown field, ignored"], result: null });
  });
});

const FOLDER = 'expected a folder name (no "/", "\\", ".." or any of <>:"|?*)';
const RELATIVE = 'expected a file name relative to its folder (no "..", no absolute path)';
const DEFAULT_MODEL = 'using the default model ({"kind":"preset","name":"stories260K"})';
const DEFAULT_TASK = 'using the default task ({"kind":"story","trainSize":5000,"testSize":500,"seed":0,"questionTypes":["co...)';
const PRESETS = '"stories260K", "stories15M", "stories42M", "stories110M", "SmolLM2-135M", "SmolLM2-135M-Instruct", "SmolLM2-360M-Instruct", "Qwen2.5-0.5B-Instruct"';

/**
 * Links read with repairs: the JSON (as text, so that 1e999 and __proto__ arrive as a browser's
 * JSON.parse gives them) → the spec it becomes (the defaults in place of what was wrong) and the
 * problems listed.
 */
const REPAIRED: [string, string, RunSpecInput, string[]][] = [
  ['a JSON array', '[1,2]', {}, ['the spec is [1,2], not an object; using the default run']],
  ['a JSON number', '42', {}, ['the spec is 42, not an object; using the default run']],
  ['a JSON string', '"stories260K"', {}, ['the spec is "stories260K", not an object; using the default run']],
  ['JSON null', 'null', {}, ['the spec is null, not an object; using the default run']],
  ['__proto__ at the top', '{"__proto__":{"polluted":"yes"},"seed":3}', { seed: 3 }, ['__proto__: a field name that is not allowed, ignored']],
  [
    'constructor and prototype in a section',
    '{"adapter":{"constructor":{"prototype":{"polluted":"yes"}},"prototype":1,"r":4}}',
    { adapter: { r: 4 } },
    ['adapter.constructor: a field name that is not allowed, ignored', 'adapter.prototype: a field name that is not allowed, ignored'],
  ],
  [
    '__proto__ inside an array entry',
    '{"targets":["q_proj",{"__proto__":{"polluted":"yes"}}]}',
    {},
    ['targets[1].__proto__: a field name that is not allowed, ignored', `targets[1]: found {}; expected one of "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "c_attn", "c_proj", "c_fc"; using the default targets (null)`],
  ],
  ['__proto__ in a model', '{"model":{"kind":"preset","name":"stories15M","__proto__":{"kind":"files"}}}', { model: { kind: 'preset', name: 'stories15M' } }, ['model.__proto__: a field name that is not allowed, ignored']],
  [
    '<script> in a model folder name',
    '{"model":{"kind":"files","name":"<script>alert(1)</script>"}}',
    {},
    [`model.name: found "<script>alert(1)</script>"; ${FOLDER}; ${DEFAULT_MODEL}`],
  ],
  [
    '<script> in a task file name',
    `{"task":{"kind":"file","test":{"name":"<script>alert(1)</script>.jsonl","sha256":"${SHA_A}"}}}`,
    {},
    [`task.test.name: found "<script>alert(1)</script>.jsonl"; ${RELATIVE}; ${DEFAULT_TASK}`],
  ],
  [
    'markup in two fields of one model, beside a valid seed',
    `{"model":{"kind":"files","name":"<b>m</b>","files":[{"name":"<i>w</i>.bin","sha256":"${SHA_A}"}]},"seed":9}`,
    { seed: 9 },
    // One repair for the model (which covers its file), the seed kept: not the whole default run.
    [`model.name: found "<b>m</b>"; ${FOLDER}; ${DEFAULT_MODEL}`],
  ],
  [
    'an HTML attribute in a preset name',
    '{"model":{"kind":"preset","name":"\\"><img src=x onerror=alert(1)>"}}',
    {},
    [`model.name: found "\\"><img src=x onerror=alert(1)>"; expected one of ${PRESETS}; ${DEFAULT_MODEL}`],
  ],
  ['rank 0', '{"adapter":{"r":0}}', {}, ['adapter.r: found 0; expected an integer ≥ 1; using the default (8)']],
  ['rank 1e9', '{"adapter":{"r":1e9,"alpha":4}}', { adapter: { alpha: 4 } }, ['adapter.r: found 1000000000; expected an integer ≤ 1024; using the default (8)']],
  ['rank Infinity (1e999)', '{"adapter":{"r":1e999}}', {}, ['adapter.r: found Infinity; expected an integer; using the default (8)']],
  ['lr 1e10', '{"training":{"lr":1e10}}', {}, ['training.lr: found 10000000000; expected a number ≤ 1; using the default (0.005)']],
  ['lr −1', '{"training":{"lr":-1,"batch":4}}', { training: { batch: 4 } }, ['training.lr: found -1; expected a number ≥ 1e-9; using the default (0.005)']],
  ['lr "NaN"', '{"training":{"lr":"NaN"}}', {}, ['training.lr: found "NaN"; expected a number; using the default (0.005)']],
  ['lr "Infinity"', '{"training":{"lr":"Infinity"}}', {}, ['training.lr: found "Infinity"; expected a number; using the default (0.005)']],
  ['lr −Infinity (-1e999)', '{"training":{"lr":-1e999}}', {}, ['training.lr: found -Infinity; expected a number; using the default (0.005)']],
  ['min lr above lr', '{"training":{"lr":0.001,"minLr":0.01}}', { training: { lr: 0.001 } }, ['training.minLr: found 0.01; expected a number at most the peak learning rate (lr); using the default (0)']],
  ['a boolean as text', '{"adapter":{"project":"false"}}', {}, ['adapter.project: found "false"; expected a boolean; using the default (true)']],
  ['a rank as text', '{"adapter":{"r":"4"}}', {}, ['adapter.r: found "4"; expected an integer; using the default (8)']],
  [
    'a section of the wrong type',
    '{"adapter":"big","seed":5}',
    { seed: 5 },
    ['adapter: found "big"; expected an object; using the default ({"method":"d2lora","r":8,"alpha":16,"tau":0.5,"project":true,"readd":1,"detac...)'],
  ],
  ['targets as a string', '{"targets":"q_proj"}', {}, ['targets: found "q_proj"; expected an array; using the default (null)']],
  ['the version as text', '{"version":"1"}', {}, ['version: found "1"; expected 1; using the default (1)']],
  ['unknown catalog task', '{"task":{"kind":"catalog","name":"mmlu"}}', {}, [`task.name: found "mmlu"; expected one of "boolq", "piqa", "social_i_qa", "winogrande", "ARC-Easy", "ARC-Challenge", "openbookqa"; ${DEFAULT_TASK}`]],
  ['unknown task kind', '{"task":{"kind":"quiz","name":"x"}}', {}, [`task.kind: found "quiz"; expected one of the kinds "story", "catalog", "file"; ${DEFAULT_TASK}`]],
  [
    'a bad optional field (no default: left out)',
    `{"task":{"kind":"file","name":"mmlu","test":{"name":"quiz.jsonl","sha256":"${SHA_A}"}}}`,
    { task: { kind: 'file', test: { name: 'quiz.jsonl', sha256: SHA_A } } },
    ['task.name: found "mmlu"; expected one of "boolq", "piqa", "social_i_qa", "winogrande", "ARC-Easy", "ARC-Challenge", "openbookqa", "hellaswag", "commonsense_qa", "story"; left out'],
  ],
  ['one bad story option', '{"task":{"kind":"story","characters":9,"trainSize":96}}', { task: { kind: 'story', trainSize: 96 } }, ['task.characters: found 9; expected an integer ≤ 6; using the default (2)']],
  ['unknown preset', '{"model":{"kind":"preset","name":"gpt-5"}}', {}, [`model.name: found "gpt-5"; expected one of ${PRESETS}; ${DEFAULT_MODEL}`]],
  ['unknown model kind', '{"model":{"kind":"s3","bucket":"b"}}', {}, [`model.kind: found "s3"; expected one of the kinds "preset", "hub", "url", "files"; ${DEFAULT_MODEL}`]],
  ['a files model named ../../etc/passwd', '{"model":{"kind":"files","name":"../../etc/passwd"}}', {}, [`model.name: found "../../etc/passwd"; ${FOLDER}; ${DEFAULT_MODEL}`]],
  [
    'a pinned file ../../etc/passwd',
    `{"model":{"kind":"files","name":"m","files":[{"name":"../../etc/passwd","sha256":"${SHA_A}"}]}}`,
    { model: { kind: 'files', name: 'm' } },
    [`model.files[0].name: found "../../etc/passwd"; ${RELATIVE}; using the default model.files ([])`],
  ],
  ['a hub repo with bad characters', '{"model":{"kind":"hub","repo":"evil repo/x;rm -rf"}}', {}, [`model.repo: found "evil repo/x;rm -rf"; expected a Hugging Face repository id "owner/name"; ${DEFAULT_MODEL}`]],
  ['a hub repo without an owner', '{"model":{"kind":"hub","repo":"gpt2"}}', {}, [`model.repo: found "gpt2"; expected a Hugging Face repository id "owner/name"; ${DEFAULT_MODEL}`]],
  ['a bad hub revision only', '{"model":{"kind":"hub","repo":"o/r","revision":"../../x"}}', { model: { kind: 'hub', repo: 'o/r' } }, ['model.revision: found "../../x"; expected a branch, tag or commit (letters, digits, ".", "_", "-", "/"); using the default ("main")']],
  [
    'an http URL to another host',
    '{"model":{"kind":"url","url":"http://evil.example/m/"}}',
    {},
    [`model.url: found "http://evil.example/m/"; expected an https:// URL of a Hugging Face model folder (http:// only for localhost); ${DEFAULT_MODEL}`],
  ],
  [
    'a file: URL',
    '{"model":{"kind":"url","url":"file:///etc/passwd"}}',
    {},
    [`model.url: found "file:///etc/passwd"; expected an https:// URL of a Hugging Face model folder (http:// only for localhost); ${DEFAULT_MODEL}`],
  ],
  ['unknown fields', '{"foo":1,"adapter":{"bar":2,"r":4},"task":{"kind":"story","extra":true}}', { adapter: { r: 4 } }, ['task.extra: unknown field, ignored', 'adapter.bar: unknown field, ignored', 'foo: unknown field, ignored']],
  [
    'several problems at once, each repaired',
    '{"adapter":{"r":-3,"method":"qlora"},"seed":1.5,"scoring":"max","limits":{"maxEval":50}}',
    { limits: { maxEval: 50 } },
    [
      'adapter.method: found "qlora" (did you mean "lora"?); expected one of "d2lora", "lora", "dora"; using the default ("d2lora")',
      'adapter.r: found -3; expected an integer ≥ 1; using the default (8)',
      'scoring: found "max"; expected one of "sum", "mean"; using the default ("sum")',
      'seed: found 1.5; expected an integer; using the default (0)',
    ],
  ],
];

describe('links that are repaired', () => {
  it.each(REPAIRED)('%s', (_, json, expected, problems) => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const d = decodeRunLink(linkOf(json));
    expect(d).toEqual({ ok: true, spec: parseRunSpec(expected), problems, result: null });
    // Nothing reached a prototype, and the repaired spec is one strict parsing accepts as it is.
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf((d as { spec: object }).spec)).toBe(Object.prototype);
    expect(parseRunSpec((d as { spec: RunSpec }).spec)).toEqual((d as { spec: RunSpec }).spec);
  });

  it('quotes hostile text as inert JSON: every quoted value parses back as the string it was', () => {
    for (const [, json, , problems] of REPAIRED.filter(([name]) => /script|HTML/.test(name))) {
      for (const problem of problems) {
        const quoted = /found ("(?:[^"\\]|\\.)*")/.exec(problem)![1]!;
        expect(JSON.stringify(JSON.parse(quoted))).toBe(quoted);
        expect(json).toContain(JSON.parse(quoted).replace(/"/g, '\\"'));
      }
    }
  });

  it('accepts https anywhere and http on this machine', () => {
    for (const url of ['https://example.org/m/', 'http://localhost:8080/m/', 'http://127.0.0.1/m/', 'http://[::1]:9000/m/']) {
      expect(decodeRunLink(linkOf(JSON.stringify({ model: { kind: 'url', url } })))).toEqual({ ok: true, spec: parseRunSpec({ model: { kind: 'url', url } }), problems: [], result: null });
    }
  });
});

describe('the link format', () => {
  it('is version 1, base64url without padding', () => {
    expect(LINK_VERSION).toBe(1);
    expect(DEFAULT_LINK.startsWith('#run=1.')).toBe(true);
    expect(PAYLOAD).not.toMatch(/[=+/]/);
  });
});

// ---------------------------------------------------------------------------------------------
// The sender's result beside the spec: `&result=1.<payload>`.

describe("a link's result summary", () => {
  const steps = Array.from({ length: 1000 }, (_, i) => ({ loss: 3 * Math.exp(-i / 300) + 0.1 * Math.sin(i) }));
  const source = {
    before: { accuracy: 0.316, items: 500 },
    after: { accuracy: 0.818, items: 500 },
    merged: { accuracy: 0.818 },
    steps,
    device: { vendor: 'nvidia', architecture: 'hopper' },
  };
  const summary = summarizeResult(source);

  it('holds the accuracies, the counts and at most 64 loss points, each the mean of an equal share of the steps', () => {
    expect(summary.accuracy).toEqual({ before: 0.316, after: 0.818, merged: 0.818 });
    expect([summary.items, summary.steps, summary.loss.length, summary.device]).toEqual([500, 1000, RESULT_LOSS_POINTS, 'nvidia hopper']);
    // Share k of 1000 steps in 64: steps [⌊1000k/64⌋, ⌊1000(k+1)/64⌋).
    const share = (k: number) => steps.slice(Math.floor((1000 * k) / 64), Math.floor((1000 * (k + 1)) / 64)).map((s) => s.loss);
    for (const k of [0, 17, 63]) {
      const xs = share(k);
      expect(summary.loss[k]).toBeCloseTo(xs.reduce((a, b) => a + b, 0) / xs.length, 3);
    }
    expect(lossPointSteps(summary)[0]).toBe((0 + 15 + 1) / 2);
    expect(lossPointSteps(summary).at(-1)).toBe((984 + 1000 + 1) / 2);
    // A short run keeps every step.
    expect(downsampleLoss([1, 2, 3])).toEqual([1, 2, 3]);
  });

  it('travels beside the spec and comes back as it went, in a few hundred characters', () => {
    const spec = parseRunSpec(VARIED_SPECS['preset, catalog task, LoRA']!);
    const link = encodeRunLink(spec, summary);
    expect(link).toMatch(/^#run=1\.[A-Za-z0-9_-]+&result=1\.[A-Za-z0-9_-]+$/);
    const resultPart = link.slice(link.indexOf('&result=') + '&result='.length);
    console.log(`links: a result summary of ${summary.loss.length} points takes ${resultPart.length} characters (at most ${MAX_RESULT_CHARS})`);
    expect(resultPart.length).toBeLessThan(MAX_RESULT_CHARS);
    expect(decodeRunLink(link)).toEqual({ ok: true, spec, problems: [], result: summary });
    expect(decodeRunLink(runLinkUrl(spec, 'https://example.org/', summary))).toEqual({ ok: true, spec, problems: [], result: summary });
  });

  const resultLink = (content: string) => `${DEFAULT_LINK}&result=1.${deflateRawSync(Buffer.from(content, 'utf8')).toString('base64url')}`;
  const good = JSON.stringify(summary);
  const BAD_RESULTS: [string, string, RegExp][] = [
    ['not JSON', resultLink('accuracy=1'), /^the sender's result was ignored: its data is not JSON/],
    ['an accuracy above 1', resultLink(good.replace('"after":0.818', '"after":2')), /^the sender's result was ignored: accuracy\.after: Too big/],
    ['65 loss points', resultLink(JSON.stringify({ ...summary, loss: [...summary.loss, 1] })), /^the sender's result was ignored: loss: Too big/],
    ['a negative loss', resultLink(JSON.stringify({ ...summary, loss: [-1] })), /^the sender's result was ignored: loss\[0\]: Too small/],
    ['markup in the device name', resultLink(JSON.stringify({ ...summary, device: 'é<img src=x onerror=alert(1)>' })), /^the sender's result was ignored: device: /],
    ['an extra field', resultLink(JSON.stringify({ ...summary, script: 'alert(1)' })), /^the sender's result was ignored: .*script/],
    ['a prototype key', resultLink(good.replace('{', '{"__proto__":{"polluted":1},')), /^$/],
    ['another version', `${DEFAULT_LINK}&result=2.AAAA`, /^the sender's result was ignored: it is of version 2; this playground reads version 1 \(the link comes from a newer playground: update this one\)$/],
    ['not base64url', `${DEFAULT_LINK}&result=1.a+b`, /^the sender's result was ignored: its data is not base64url/],
    ['too long', `${DEFAULT_LINK}&result=1.${'A'.repeat(MAX_RESULT_CHARS)}`, new RegExp(`^the sender's result was ignored: it is ${MAX_RESULT_CHARS + 2} characters long; a result has at most ${MAX_RESULT_CHARS}$`)],
    ['a bomb', resultLink(' '.repeat(100_000)), /^the sender's result was ignored: its data inflates to more than 4096 bytes; a result is far smaller$/],
  ];
  it.each(BAD_RESULTS)('%s: the spec opens, the result is dropped with the reason', (_, link, problem) => {
    const d = decodeRunLink(link);
    if (!d.ok) throw new Error(d.error);
    expect(d.spec).toEqual(DEFAULT_RUN_SPEC);
    if (problem.source === '^$') {
      // A prototype key is dropped silently, the rest of the result kept, and nothing polluted.
      expect(d.result).toEqual(summary);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      return;
    }
    expect(d.result).toBeNull();
    expect(d.problems).toHaveLength(1);
    expect(d.problems[0]).toMatch(problem);
  });

  it("tells whether a reproduction agrees with the sender's accuracies, item for item", () => {
    expect(compareWithSender(summary, source)).toMatchObject({ agree: true, mismatch: null });
    // One item more right after training: 0.818 → 0.820 of 500 items.
    const off = compareWithSender(summary, { ...source, after: { accuracy: 0.82 } });
    expect(off.agree).toBe(false);
    expect(off.accuracies.find((a) => a.phase === 'after')!.diffPoints).toBeCloseTo(0.2, 10);
    expect(compareWithSender(summary, { ...source, before: { accuracy: 0.316, items: 400 } })).toMatchObject({ agree: false, mismatch: "the sender's run scored 500 items, this one 400" });
    expect(compareWithSender(summary, { ...source, steps: steps.slice(0, 10) }).mismatch).toBe("the sender's run trained 1000 steps, this one 10");
  });
});
