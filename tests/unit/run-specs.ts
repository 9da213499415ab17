// Run specs the spec, link and CLI tests share: non-default, every kind of model and task.

import type { RunSpecInput } from '../../src/run/spec';

export const SHA_A = 'a'.repeat(64);
export const SHA_B = '0123456789abcdef'.repeat(4);

/** Non-default specs: every model kind and every task kind, and every section changed somewhere. */
export const VARIED_SPECS: Record<string, RunSpecInput> = {
  'preset, catalog task, LoRA': {
    model: { kind: 'preset', name: 'stories15M' },
    task: { kind: 'catalog', name: 'ARC-Easy' },
    adapter: { method: 'lora', r: 16, alpha: 32 },
    targets: ['q_proj', 'v_proj'],
    training: { lr: 1e-4, batch: 4, epochs: 3, decay: 'cosine', warmup: 0.1, minLr: 1e-6 },
    limits: { maxTrain: 1000, maxEval: 200, maxLength: 512, evalBatch: 8 },
    scoring: 'mean',
    seed: 7,
  },
  'hub model, story task with every option': {
    model: { kind: 'hub', repo: 'HuggingFaceTB/SmolLM2-135M', revision: 'refs/pr/12' },
    task: { kind: 'story', trainSize: 96, testSize: 24, seed: 3, questionTypes: ['who', 'yes-no', 'where'], characters: 4, choices: 3 },
    adapter: { method: 'd2lora', r: 4, alpha: 8, tau: 0.25, project: false, readd: 0, detachNorm: true, scaling: 'rslora', eps: 1e-10 },
    training: { beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.01, maxGradNorm: 0 },
    seed: 2 ** 31 - 1,
  },
  'URL model, file task with train, mapping, format and template': {
    model: { kind: 'url', url: 'https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct/resolve/main/' },
    task: {
      kind: 'file',
      name: 'hellaswag',
      train: { name: 'data/train.jsonl', sha256: SHA_B },
      test: { name: 'data/test.jsonl', sha256: SHA_A },
      format: 'jsonl',
      mapping: { question: 'ctx', choices: 'endings', answer: 'label', answerFormat: 'index', id: 'ind' },
      template: 'continuation',
    },
    adapter: { method: 'dora', r: 2 },
    targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  },
  'local files model (pinned), dev-split file task with choice columns': {
    model: {
      kind: 'files',
      name: 'my-model',
      files: [
        { name: 'config.json', sha256: SHA_A },
        { name: 'model.safetensors', sha256: SHA_B },
        { name: 'tokenizer.json', sha256: SHA_A },
      ],
    },
    task: { kind: 'file', test: { name: 'quiz.csv', sha256: SHA_B }, format: 'csv', mapping: { question: 'q', choiceColumns: ['A', 'B', 'C'], answer: 'ans', answerFormat: 'letter' } },
    targets: ['attn.c_attn', 'c_proj'],
  },
  'a localhost URL over http, a llama2.c folder not yet read': {
    model: { kind: 'url', url: 'http://localhost:8080/models/stories260K/' },
    task: { kind: 'catalog', name: 'boolq' },
  },
};
