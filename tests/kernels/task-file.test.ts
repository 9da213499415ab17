// A task from the user's own file on the command line: `--task <file>` with the catalog entry it
// holds (`--task-name`, which lends the prompt template and columns) or its columns named by
// flags. The file is pinned by sha256 in run.json; `--spec run.json` runs the same task again from
// the same file, and refuses a file that changed.

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultStoryOptions } from '../../src/run/spec';
import { generateStoryTask } from '../../src/tasks/story';
import { runNode } from './cli';

const SHORT = ['--max-train', '24', '--max-eval', '8', '--epochs', '1', '--batch', '8'];

describe('a task file on the command line', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'd2lora-task-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  // Story questions written as Hugging Face's Rowan/hellaswag lays its rows out: ctx, endings, label.
  const items = generateStoryTask(defaultStoryOptions({ trainSize: 0, testSize: 48 })).test;
  const jsonl = join(scratch, 'hellaswag.jsonl');
  writeFileSync(jsonl, items.map((it) => JSON.stringify({ ctx: `${it.context} ${it.question}`, endings: it.choices, label: it.answer })).join('\n') + '\n');
  const csv = join(scratch, 'items.csv');
  writeFileSync(csv, ['q,a1,a2,a3,a4,right', ...items.map((it) => [JSON.stringify(`${it.context} ${it.question}`), ...it.choices, it.answer + 1].join(','))].join('\n') + '\n');

  it('trains on a JSONL file that names its catalog task, pins it, and runs it again from run.json', async () => {
    const out = join(scratch, 'hs');
    const r = await runNode(['scripts/d2lora.mjs', 'train', '--task', jsonl, '--task-name', 'hellaswag', ...SHORT, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const spec = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { task: unknown };
    const sha256 = createHash('sha256').update(readFileSync(jsonl)).digest('hex');
    expect(spec.task).toEqual({ kind: 'file', name: 'hellaswag', test: { name: 'hellaswag.jsonl', sha256 } });
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { task: { name: string; counts: Record<string, number | boolean> }; steps: { loss: number }[] };
    // A dev split only (no --task-train): half held out for evaluation, the rest drawn for training.
    expect(metrics.task.name).toBe('hellaswag');
    expect(metrics.task.counts).toMatchObject({ devOnly: true, trainPool: 24, evalPool: 24, train: 24, eval: 8 });
    expect(metrics.steps).toHaveLength(3);

    const again = join(scratch, 'hs-again');
    const r2 = await runNode(['scripts/d2lora.mjs', 'train', '--spec', join(out, 'run.json'), '--task', jsonl, '--out', again]);
    expect(r2.code, r2.stderr).toBe(0);
    const steps2 = (JSON.parse(readFileSync(join(again, 'metrics.json'), 'utf8')) as { steps: { loss: number }[] }).steps;
    expect(steps2.map((s) => s.loss)).toEqual(metrics.steps.map((s) => s.loss));

    // The same spec with a changed file: refused, naming the file and both checksums.
    const changed = join(scratch, 'changed.jsonl');
    writeFileSync(changed, readFileSync(jsonl, 'utf8').replace('"label":0', '"label":1'));
    const r3 = await runNode(['scripts/d2lora.mjs', 'train', '--spec', join(out, 'run.json'), '--task', changed, '--out', join(scratch, 'never')]);
    expect(r3.code).toBe(1);
    const found = createHash('sha256').update(readFileSync(changed)).digest('hex');
    expect(r3.stderr.trim().split('\n').at(-1)).toBe(`d2lora train: ${changed}: sha256 ${found}; expected ${sha256}`);
  }, 300_000);

  it('trains on a CSV file whose columns are named by flags', async () => {
    const out = join(scratch, 'csv');
    const r = await runNode([
      'scripts/d2lora.mjs', 'train', '--task', csv, '--question', 'q', '--choice-columns', 'a1,a2,a3,a4', '--answer', 'right', '--answer-format', 'index1', ...SHORT, '--out', out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const spec = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { task: { mapping: unknown } };
    expect(spec.task.mapping).toEqual({ question: 'q', choiceColumns: ['a1', 'a2', 'a3', 'a4'], answer: 'right', answerFormat: 'index1' });
    // A column that is not there: the message names the file, the line and the column.
    const bad = await runNode(['scripts/d2lora.mjs', 'train', '--task', csv, '--question', 'prompt', ...SHORT, '--out', join(scratch, 'never')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/items\.csv.*line 2.*"prompt"/);
  }, 300_000);
});
