// Named malformed inputs, as a new user would give them to the command line: each must end in its
// own clear message (asserted exactly, as the last line the command prints), a non-zero exit (2
// for a flag, 1 for bad files and failed runs), no stack trace, nothing on stdout, and nothing
// half-written. The fixtures are real files made from the project's stories260K: a llama2.c copy,
// a Hugging Face copy (as `train` exports it), and broken variants of each.

import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportMergedCheckpoint } from '../../src/export/checkpoint';
import { loadModelInNode } from '../../src/io/node-source';
import { runSpecWith } from '../../src/run/spec';
import { encodeRunLink } from '../../src/share/link';
import { d2lora, expectCleanFailure, expectNothingWritten } from './cli';
import { mirrorPath } from '../unit/mirror';

const scratch = mkdtempSync(join(tmpdir(), 'd2lora-malformed-'));
const at = (...parts: string[]) => join(scratch, ...parts);
const FINITE = 'expected finite numbers (NaN and ±Infinity come from a training run that diverged, or from a damaged file)';
/** A few steps of the story task: every case that gets as far as training stays short. */
const SHORT = ['--story-train', '32', '--max-train', '32', '--story-test', '8', '--max-eval', '8', '--epochs', '1', '--batch', '8'];
/** The same for a task from a file. */
const FILE_TASK = ['--max-train', '32', '--max-eval', '8', '--epochs', '1', '--batch', '8'];

interface Case {
  name: string;
  argv: () => string[];
  code: 1 | 2;
  /** The last line the command prints (stderr), exactly, or a pattern where it holds a value made at run time. */
  message: () => string | RegExp;
  /** An --out the case must leave unwritten. */
  out?: string;
}

/** A copy of the Hugging Face stories260K with one change. */
function hfVariant(name: string, change: (dir: string) => void): string {
  const dir = at(name);
  cpSync(at('hf'), dir, { recursive: true });
  change(dir);
  return dir;
}

function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(file, JSON.stringify(json));
}

beforeAll(async () => {
  mkdirSync(at('bin'));
  for (const f of ['stories260K.bin', 'tok512.bin']) copyFileSync(mirrorPath(`models/stories260K/${f}`), at('bin', f));
  const model = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
  mkdirSync(at('hf'));
  for (const [name, bytes] of exportMergedCheckpoint(model, model.weights)) writeFileSync(at('hf', name), bytes);

  mkdirSync(at('nan-bin'));
  const bin = readFileSync(at('bin', 'stories260K.bin'));
  new Float32Array(bin.buffer, bin.byteOffset + 28, (bin.length - 28) / 4).fill(NaN);
  writeFileSync(at('nan-bin', 'stories260K.bin'), bin);
  copyFileSync(at('bin', 'tok512.bin'), at('nan-bin', 'tok512.bin'));
  mkdirSync(at('short-bin'));
  writeFileSync(at('short-bin', 'stories260K.bin'), readFileSync(at('bin', 'stories260K.bin')).subarray(0, 4096));
  copyFileSync(at('bin', 'tok512.bin'), at('short-bin', 'tok512.bin'));

  hfVariant('zero-link', (d) => {
    rmSync(join(d, 'model.safetensors'));
    symlinkSync('/dev/zero', join(d, 'model.safetensors'));
  });
  hfVariant('fifo', (d) => {
    rmSync(join(d, 'model.safetensors'));
    execFileSync('mkfifo', [join(d, 'model.safetensors')]);
  });
  hfVariant('layers', (d) => editJson(join(d, 'config.json'), (c) => void (c.num_hidden_layers = 100_000_000)));
  hfVariant('positions', (d) => editJson(join(d, 'config.json'), (c) => void (c.max_position_embeddings = 2 ** 40)));
  hfVariant('llama3-rope', (d) =>
    editJson(join(d, 'config.json'), (c) => {
      c.rope_parameters = { rope_type: 'llama3', rope_theta: c.rope_theta, factor: 8 };
      delete c.rope_theta;
    }),
  );
  hfVariant('two-thetas', (d) => editJson(join(d, 'config.json'), (c) => void (c.rope_parameters = { rope_type: 'default', rope_theta: 1e6 })));
  hfVariant('short-safetensors', (d) => writeFileSync(join(d, 'model.safetensors'), readFileSync(join(d, 'model.safetensors')).subarray(0, 100_000)));
  hfVariant('duplicate-key', (d) => {
    const file = readFileSync(join(d, 'model.safetensors'));
    const n = Number(file.readBigUInt64LE(0));
    const header = file.subarray(8, 8 + n).toString('utf8');
    // A tensor's entry written twice: the same entry, one key more (the header grows, so the length field too).
    const entry = /"model\.norm\.weight":\{[^}]*\}/.exec(header)![0];
    const doubled = Buffer.from(`{${entry},${header.slice(1)}`, 'utf8');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(doubled.length));
    writeFileSync(join(d, 'model.safetensors'), Buffer.concat([length, doubled, file.subarray(8 + n)]));
  });
  hfVariant('bad-tokenizer', (d) => writeFileSync(join(d, 'tokenizer.json'), '{"version": "1.0", "model": '));

  writeFileSync(at('bad.jsonl'), '{"question": "Q1?", "choices": ["a", "b"], "answer": 0}\n{"question": "Q2?", "choices": ["a", "b"], "answer": 1}\n{"question": "Q3?", choices: ["a"]}\n');
  writeFileSync(at('no-answer.csv'), 'question,choice1,choice2\nQ1?,a,b\nQ2?,c,d\n');
  writeFileSync(at('unknown-field.json'), JSON.stringify({ adapter: { rank: 4 } }));
  writeFileSync(at('bad-r.json'), JSON.stringify({ adapter: { r: 0 } }));
  writeFileSync(at('a-file'), 'not a folder');
}, 120_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const CASES: Case[] = [
  // Flags: refused before anything is loaded, exit 2, naming the flag.
  { name: 'an empty flag value', argv: () => ['generate', '--temperature', ''], code: 2, message: () => 'd2lora generate: --temperature needs a value (0 = greedy)' },
  { name: 'empty seeds', argv: () => ['compare', '--seeds', ''], code: 2, message: () => 'd2lora compare: --seeds needs a value (comma-separated seeds)' },
  { name: 'no training items', argv: () => ['train', '--max-train', '0'], code: 2, message: () => 'd2lora train: --max-train: found 0; expected an integer ≥ 1' },
  { name: 'a negative sequence length', argv: () => ['train', '--seq-len', '-5'], code: 2, message: () => 'd2lora train: --seq-len: found -5; expected an integer ≥ 2' },
  { name: 'an empty model', argv: () => ['train', '--model', ''], code: 2, message: () => 'd2lora train: --model needs a value (preset name, Hugging Face URL (https://huggingface.co/<owner>/<name>/resolve/<revision>/), local Hugging Face folder or llama2.c .bin)' },
  { name: 'a learning rate of 1e10', argv: () => ['train', '--lr', '1e10'], code: 2, message: () => 'd2lora train: --lr: found 10000000000; expected a number ≤ 1' },
  { name: 'a learning rate of 1e3 (a typo for 1e-3)', argv: () => ['train', '--lr', '1e3'], code: 2, message: () => 'd2lora train: --lr: found 1000; expected a number ≤ 1' },
  { name: 'a fractional batch', argv: () => ['train', '--batch', '2.5'], code: 2, message: () => 'd2lora train: --batch: found 2.5; expected an integer' },
  { name: 'a hexadecimal rank', argv: () => ['train', '--r', '0x10'], code: 2, message: () => /^d2lora train: --r must be a decimal number, got "0x10"/ },
  { name: 'an unknown flag', argv: () => ['train', '--rank', '4'], code: 2, message: () => /^d2lora train: unknown flag --rank; accepted: --model, .*--r, / },
  { name: 'an unknown module', argv: () => ['train', '--targets', 'q_proj,qproj'], code: 2, message: () => /^d2lora train: --targets: found "qproj" \(did you mean "q_proj"\?\); expected one of "q_proj", "k_proj", .*"c_fc"$/ },
  { name: 'an unknown task', argv: () => ['train', '--task', 'mmlu'], code: 2, message: () => 'd2lora train: --task: unknown task "mmlu"; expected story, boolq, piqa, social_i_qa, winogrande, ARC-Easy, ARC-Challenge, openbookqa, or a task file' },
  { name: 'a misspelt task', argv: () => ['train', '--task', 'boolg'], code: 2, message: () => 'd2lora train: --task: unknown task "boolg" (did you mean "boolq"?); expected story, boolq, piqa, social_i_qa, winogrande, ARC-Easy, ARC-Challenge, openbookqa, or a task file' },
  { name: 'a task that needs your files', argv: () => ['train', '--task', 'hellaswag'], code: 2, message: () => /^d2lora train: --task hellaswag needs your own files: .* --task \.\/hellaswag\.jsonl --task-name hellaswag$/ },
  { name: 'a story option for another task', argv: () => ['train', '--task', 'boolq', '--story-train', '5'], code: 2, message: () => 'd2lora train: --story-train sets an option of the story task, but the task is boolq' },
  { name: 'dev items without early stopping', argv: () => ['train', '--dev-items', '50'], code: 2, message: () => 'd2lora train: --dev-items goes with --early-stopping' },
  { name: 'an on/off flag set to maybe', argv: () => ['train', '--project=maybe'], code: 2, message: () => 'd2lora train: --project is on or off: --project, --project=true or --project=false, got "maybe"' },
  { name: 'a link of another version', argv: () => ['train', '--link', 'http://localhost:4173/#run=2.abc'], code: 2, message: () => 'd2lora train: --link: the link is of version 2; this playground reads version 1 (the link comes from a newer playground: update this one)' },
  { name: 'a link cut to a length base64 never has', argv: () => ['train', '--link', encodeRunLink(runSpecWith({})).slice(0, 60)], code: 2, message: () => "d2lora train: --link: the link's data is 53 characters long, a length base64url never has: it may have been cut" },
  { name: 'a link cut short', argv: () => ['train', '--link', encodeRunLink(runSpecWith({})).slice(0, 59)], code: 2, message: () => "d2lora train: --link: the link's data is not DEFLATE-compressed (unexpected EOF): it may have been cut or changed" },
  { name: 'a spec file that is not there', argv: () => ['train', '--spec', at('none.json')], code: 2, message: () => `d2lora train: --spec ${at('none.json')}: no such file` },
  { name: 'a spec with an unknown field', argv: () => ['train', '--spec', at('unknown-field.json')], code: 2, message: () => `d2lora train: ${at('unknown-field.json')}: adapter.rank: unknown field (the fields here: method, r, alpha, tau, project, readd, detachNorm, scaling, eps)` },
  { name: 'a spec with a rank of 0', argv: () => ['train', '--spec', at('bad-r.json')], code: 2, message: () => `d2lora train: ${at('bad-r.json')}: adapter.r: found 0; expected an integer ≥ 1` },
  { name: 'an adapter folder that is not there', argv: () => ['eval', '--adapter', at('none')], code: 2, message: () => `d2lora eval: --adapter ${at('none')}: no adapter files there (adapter_config.json, adapter_model.safetensors, d2lora_config.json, d2lora_model.safetensors) nor in ${at('none', 'adapter')}` },
  // The output folder: checked before anything is loaded.
  { name: 'an --out that is a file', argv: () => ['train', '--out', at('a-file')], code: 1, message: () => `d2lora train: --out ${at('a-file')} is a file, not a folder: choose another --out` },
  { name: 'an --out under a file', argv: () => ['train', '--out', at('a-file', 'run')], code: 1, message: () => `d2lora train: ${at('a-file', 'run')}: cannot be the output folder (ENOTDIR): a part of the path is a file, not a folder: choose another --out` },
  // Models: refused as they are read, naming the file and what was expected.
  { name: 'a wrong-case preset', argv: () => ['generate', '--model', 'Stories260k'], code: 1, message: () => 'd2lora generate: Stories260k/config.json: no such file; expected the model configuration (config.json) (did you mean the preset "stories260K"?)' },
  { name: 'NaN weights (llama2.c)', argv: () => ['generate', '--model', at('nan-bin', 'stories260K.bin')], code: 1, message: () => `d2lora generate: ${at('nan-bin', 'stories260K.bin')}: tensor "model.embed_tokens.weight" (array token_embedding): NaN at [0, 0] (index 0); all 32768 of its values are NaN or infinite; ${FINITE}` },
  { name: 'NaN weights, training', argv: () => ['train', '--model', at('nan-bin', 'stories260K.bin'), ...SHORT, '--out', at('out-nan')], code: 1, message: () => `d2lora train: ${at('nan-bin', 'stories260K.bin')}: tensor "model.embed_tokens.weight" (array token_embedding): NaN at [0, 0] (index 0); all 32768 of its values are NaN or infinite; ${FINITE}`, out: at('out-nan') },
  { name: 'a llama2.c file cut short', argv: () => ['generate', '--model', at('short-bin', 'stories260K.bin')], code: 1, message: () => `d2lora generate: ${at('short-bin', 'stories260K.bin')}: 4096 bytes, 1052444 fewer than its header declares; expected 1056540 bytes = the 28-byte header and the arrays for dim 64, hidden_dim 172, n_layers 5, n_heads 8, n_kv_heads 4, vocab_size 512, seq_len 512` },
  { name: 'weights that are a link to /dev/zero', argv: () => ['generate', '--model', at('zero-link')], code: 1, message: () => `d2lora generate: ${at('zero-link', 'model.safetensors')}: a character device (a symbolic link to /dev/zero); expected a regular file (devices, FIFOs and sockets are never read)` },
  { name: 'weights that are a FIFO', argv: () => ['generate', '--model', at('fifo')], code: 1, message: () => `d2lora generate: ${at('fifo', 'model.safetensors')}: a FIFO (named pipe); expected a regular file (devices, FIFOs and sockets are never read)` },
  { name: '100,000,000 layers', argv: () => ['generate', '--model', at('layers')], code: 1, message: () => `d2lora generate: ${at('layers', 'config.json')}: field "num_hidden_layers": 100000000; expected at most 1024, far more than any published model has; a larger value means a broken config` },
  { name: '2^40 positions', argv: () => ['generate', '--model', at('positions')], code: 1, message: () => `d2lora generate: ${at('positions', 'config.json')}: field "max_position_embeddings": 1099511627776; expected at most 4194304, far more than any published model has; a larger value means a broken config` },
  { name: 'llama3 RoPE scaling (a transformers 5 config)', argv: () => ['generate', '--model', at('llama3-rope')], code: 1, message: () => `d2lora generate: ${at('llama3-rope', 'config.json')}: field "rope_parameters.rope_type": string "llama3"; expected "default" (absent means "default"); this engine implements plain RoPE only, none of linear, dynamic, yarn, longrope or llama3` },
  { name: 'two RoPE θ (transformers 4 and 5 disagree)', argv: () => ['generate', '--model', at('two-thetas')], code: 1, message: () => /^d2lora generate: .*two-thetas\/config\.json: field "rope_parameters\.rope_theta": 1000000, but rope_theta is 10000; expected one θ/ },
  { name: 'a safetensors file cut short', argv: () => ['generate', '--model', at('short-safetensors')], code: 1, message: () => `d2lora generate: ${at('short-safetensors', 'model.safetensors')}: 100000 bytes, 944992 fewer than its header declares; expected 1044992 bytes = 8 (the header length) + 4856 (the header) + 1040128 (the tensors' data, up to the end of tensor "model.norm.weight")` },
  { name: 'a safetensors key twice', argv: () => ['generate', '--model', at('duplicate-key')], code: 1, message: () => `d2lora generate: ${at('duplicate-key', 'model.safetensors')}: tensor "model.norm.weight": two entries of that name in the header (JSON keeps only the last); expected each name once` },
  { name: 'a tokenizer.json cut short', argv: () => ['generate', '--model', at('bad-tokenizer')], code: 1, message: () => `d2lora generate: ${at('bad-tokenizer', 'tokenizer.json')}: bytes that are not UTF-8 JSON (Unexpected end of JSON input); expected a JSON object` },
  // Prompts that do not fit.
  { name: 'a prompt longer than --steps', argv: () => ['generate', '--prompt', 'Once upon a time there was a girl', '--steps', '4'], code: 1, message: () => 'd2lora generate: the prompt is 11 tokens, over steps = 4 (positions to run, the prompt included) by 7; raise steps to at least 11' },
  { name: 'a prompt longer than the context', argv: () => ['generate', '--prompt', 'Lily had a red ball. '.repeat(80), '--steps', '2000'], code: 1, message: () => "d2lora generate: the prompt is 642 tokens, over the model's context of 512 positions by 130; shorten it" },
  // Task files.
  { name: 'a JSONL task with a broken line', argv: () => ['train', '--task', at('bad.jsonl'), ...FILE_TASK, '--out', at('out-jsonl')], code: 1, message: () => `d2lora train: ${at('bad.jsonl')}: line 3: text that is not JSON (Expected double-quoted property name in JSON at position 20); expected one JSON object per line`, out: at('out-jsonl') },
  { name: 'a CSV task with no answer column', argv: () => ['train', '--task', at('no-answer.csv'), ...FILE_TASK, '--out', at('out-csv')], code: 1, message: () => `d2lora train: ${at('no-answer.csv')}: line 2, column "answer": nothing; expected a column "answer" (present: question, choice1, choice2)`, out: at('out-csv') },
  // Runs that fail on their way.
  { name: 'early stopping holding out more than there is', argv: () => ['train', '--early-stopping', '2', ...SHORT, '--out', at('out-early')], code: 1, message: () => 'd2lora train: training.earlyStopping holds out 200 training items (devItems), but the task has only 32: lower devItems or turn early stopping off', out: at('out-early') },
  { name: 'early stopping with no held-out losses', argv: () => ['train', '--early-stopping', '2', '--dev-items', '8', '--held-out-every', '0', ...SHORT, '--out', at('out-early2')], code: 1, message: () => 'd2lora train: training.earlyStopping needs held-out losses to compare: training.heldOutEvery must not be 0', out: at('out-early2') },
  {
    name: 'a run that diverges',
    argv: () => ['train', '--story-train', '128', '--max-train', '128', '--story-test', '16', '--max-eval', '16', '--epochs', '2', '--batch', '8', '--lr', '0.3', '--max-grad-norm', '0', '--seed', '1', '--out', at('out-diverged')],
    code: 1,
    message: () => /^d2lora train: training diverged: the loss stayed above ln 512 = 6\.238, .* Try a lower learning rate \(--lr 0\.03 instead of 0\.3\) or clipping the gradient norm \(--max-grad-norm 1 instead of 0\)\.$/,
    out: at('out-diverged'),
  },
];

describe('named malformed inputs', () => {
  it('are at least forty', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const r = await d2lora(c.argv());
    if (process.env.D2LORA_SHOW_MESSAGES) console.log(`${c.name}: ${r.stderr.trimEnd().split('\n').at(-1)}`);
    expectCleanFailure(r, c.message(), c.code);
    if (c.out) expectNothingWritten(c.out);
  }, 120_000);
});
