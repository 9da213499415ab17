// The page's form store (src/state/form.ts): fields set by path and their problems kept by path;
// the methods as the form offers them (LoRA 2r doubles r and α in the spec); picked files held
// as handles and read only when sent; the share link in the address, both ways (a link restores
// the form field for field, a tampered one is repaired with each repair listed, the address
// follows the form and says when a spec is too large for a link); and the page options beside
// the spec in the fragment (hide=, autostart=).

import { deflateRawSync } from 'node:zlib';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_RUN_SPEC, parseRunSpec, type RunSpec } from '../../src/run/spec';
import { encodeRunLink } from '../../src/share/link';
import { fieldLabel, nominalAdapterValue, pageFragment, pickedModel, readPageOptions, syncAddress, taskFileColumns, useForm } from '../../src/state/form';
import { SHA_A, SHA_B } from './run-specs';

const PAGE = 'http://localhost:4173/';
const form = () => useForm.getState();

beforeEach(() => {
  form().loadLink(PAGE);
  useForm.setState({ modelFiles: [], taskFiles: { test: null, train: null }, addressError: null });
});

describe('fields and their problems', () => {
  it('sets a field by path and parses the draft again', () => {
    form().set(['training', 'lr'], 2e-3);
    expect(form().spec?.training.lr).toBe(2e-3);
    expect(form().issues).toEqual([]);
  });

  it('keeps each problem under its field path, worded as the spec words it, and no spec while one is there', () => {
    form().set(['training', 'lr'], -1);
    form().set(['adapter', 'r'], 'eight');
    expect(form().spec).toBeNull();
    expect(form().issues).toEqual([
      { path: 'adapter.r', message: 'found "eight"; expected an integer' },
      { path: 'training.lr', message: 'found -1; expected a number ≥ 1e-9' },
    ]);
    form().set(['training', 'lr'], 1e-3);
    form().set(['adapter', 'r'], 4);
    expect(form().issues).toEqual([]);
    expect(form().spec?.adapter.r).toBe(4);
  });

  it('labels fields as the page does, array entries by their array', () => {
    expect(fieldLabel('training.lr')).toBe('Learning rate');
    expect(fieldLabel('task.questionTypes[1]')).toBe('Question types');
    expect(fieldLabel('task.mapping.unknown')).toBe('Task');
    expect(fieldLabel('nowhere')).toBe('nowhere');
  });
});

describe('methods', () => {
  it('LoRA 2r is LoRA with r and α doubled; the form keeps showing r and α as typed', () => {
    form().setMethod('lora2r');
    expect(form().spec?.adapter).toMatchObject({ method: 'lora', r: 16, alpha: 32 });
    expect(nominalAdapterValue(form(), 'r')).toBe(8);
    form().setNominal('r', 4);
    expect(form().spec?.adapter).toMatchObject({ method: 'lora', r: 8, alpha: 32 });
    form().setMethod('d2lora');
    expect(form().spec?.adapter).toMatchObject({ method: 'd2lora', r: 4, alpha: 16 });
    form().setMethod('dora');
    expect(form().spec?.adapter).toMatchObject({ method: 'dora', r: 4, alpha: 16 });
  });

  it('changes the method of a draft whose r is not a number yet, leaving r as typed', () => {
    form().setNominal('r', 'x');
    form().setMethod('lora2r');
    expect(form().draft.adapter).toMatchObject({ method: 'lora', r: 'x', alpha: 16 });
    expect(form().issues.map((i) => i.path)).toEqual(['adapter.r']);
  });

  it('opens a LoRA link as LoRA (a spec cannot say it was LoRA 2r)', () => {
    form().setMethod('lora2r');
    const link = encodeRunLink(form().spec!);
    form().loadLink(`${PAGE}${link}`);
    expect(form().method).toBe('lora');
    expect(form().spec?.adapter).toMatchObject({ method: 'lora', r: 16, alpha: 32 });
  });
});

describe('picked files', () => {
  it('names a picked folder by its name and its files by their names inside it', () => {
    const blob = new Blob(['x']);
    expect(pickedModel([{ path: 'SmolLM2-135M/config.json', file: blob }, { path: 'SmolLM2-135M/model.safetensors', file: blob }])).toEqual({
      name: 'SmolLM2-135M',
      files: [{ name: 'config.json', file: blob }, { name: 'model.safetensors', file: blob }],
    });
    expect(pickedModel([{ path: 'stories15M.bin', file: blob }, { path: 'tokenizer.bin', file: blob }]).name).toBe('stories15M');
    expect(pickedModel([{ path: 'config.json', file: blob }]).name).toBe('local-model');
  });

  it('makes the model the picked files with no pins, then pins what the worker read', () => {
    const blob = new Blob(['{}']);
    form().pickModelFiles('my-model', [{ name: 'config.json', file: blob }]);
    expect(form().spec?.model).toEqual({ kind: 'files', name: 'my-model', files: [] });
    form().pinModelFiles([{ name: 'config.json', sha256: SHA_A }]);
    expect(form().spec?.model).toEqual({ kind: 'files', name: 'my-model', files: [{ name: 'config.json', sha256: SHA_A }] });
  });

  it('keeps a link\'s pins when the picked files include every pinned name (the worker checks each sha256), else starts afresh', () => {
    form().replace({ model: { kind: 'files', name: 'linked', files: [{ name: 'config.json', sha256: SHA_A }, { name: 'model.safetensors', sha256: SHA_B }] } });
    const blob = new Blob(['x']);
    form().pickModelFiles('other-name', [{ name: 'config.json', file: blob }, { name: 'model.safetensors', file: blob }, { name: 'README.md', file: blob }]);
    expect(form().spec?.model).toMatchObject({ kind: 'files', name: 'linked', files: [{ name: 'config.json' }, { name: 'model.safetensors' }] });
    form().pickModelFiles('other-name', [{ name: 'config.json', file: blob }]);
    expect(form().spec?.model).toEqual({ kind: 'files', name: 'other-name', files: [] });
  });

  it('pins a task file by its sha256 and reads picked files only when they are sent, only those the spec uses', async () => {
    const text = '{"question":"q","choices":["a","b"],"answer":0}\n';
    await form().pickTaskBlob('test', 'qa.jsonl', new Blob([text]));
    expect(form().spec?.task).toEqual({ kind: 'file', test: { name: 'qa.jsonl', sha256: '289e81d413a2b573d5ce944d348cd3a13cc7dad2adcc67f7c23b61d752e10176' } });
    form().pickModelFiles('m', [{ name: 'config.json', file: new Blob(['{}']) }]);
    const wire = await form().wireFiles();
    expect(wire.map((f) => [f.name, new TextDecoder().decode(f.bytes)])).toEqual([
      ['config.json', '{}'],
      ['qa.jsonl', text],
    ]);
    form().set(['model'], { kind: 'preset', name: 'stories260K' });
    form().set(['task'], { kind: 'story' });
    expect(await form().wireFiles()).toEqual([]);
  });

  it('offers a task file\'s column names for the mapping: a CSV header, a JSON line\'s keys (one level deep)', () => {
    expect(taskFileColumns('ctx,"ending0",ending1,label\r\nA man,x,y,0\n', 'hs.csv')).toEqual(['ctx', 'ending0', 'ending1', 'label']);
    expect(taskFileColumns('\n{"question":{"stem":"s","choices":[]},"answerKey":"A"}\n', 'csqa.jsonl')).toEqual(['question', 'question.stem', 'question.choices', 'answerKey']);
    expect(taskFileColumns('[{"instruction":"…"}]', 'test.json')).toEqual([]);
    expect(taskFileColumns('{not json', 'x.jsonl')).toEqual([]);
  });
});

/** `#run=1.` and raw DEFLATE of any JSON (a link as someone else could have written it). */
const linkOfJson = (value: unknown) => `#run=1.${deflateRawSync(Buffer.from(JSON.stringify(value))).toString('base64url')}`;

describe('the link in the address', () => {
  it('restores the form field for field', () => {
    const spec: RunSpec = parseRunSpec({
      model: { kind: 'hub', repo: 'HuggingFaceTB/SmolLM2-135M', revision: 'main' },
      task: { kind: 'story', questionTypes: ['color', 'who'], characters: 3, trainSize: 800 },
      adapter: { method: 'dora', r: 4, alpha: 8 },
      targets: ['q_proj', 'v_proj'],
      training: { lr: 2e-3, batch: 8, epochs: 3, earlyStopping: { patience: 2 } },
      limits: { maxLength: 128 },
      scoring: 'mean',
      seed: 7,
    });
    form().loadLink(`${PAGE}${encodeRunLink(spec)}`);
    expect(form().draft).toEqual(spec);
    expect(form().spec).toEqual(spec);
    expect(form().method).toBe('dora');
    expect(form().link).toEqual({ problems: [], error: null, fromLink: true });
  });

  it('repairs a tampered link field by field: each repair listed, every other field as the link has it', () => {
    const tampered = { ...structuredClone(DEFAULT_RUN_SPEC), training: { ...DEFAULT_RUN_SPEC.training, lr: -5, batch: 4 }, bogus: 1 };
    form().loadLink(`${PAGE}${linkOfJson(tampered)}`);
    expect(form().link.problems).toEqual(['training.lr: found -5; expected a number ≥ 1e-9; using the default (0.005)', 'bogus: unknown field, ignored']);
    expect(form().spec?.training).toMatchObject({ lr: 5e-3, batch: 4 });
  });

  it('says why a link cannot be read at all, and shows the default run', () => {
    form().set(['seed'], 3);
    form().loadLink(`${PAGE}#run=2.abc`);
    expect(form().link.error).toBe('the link is of version 2; this playground reads version 1 (the link comes from a newer playground: update this one)');
    expect(form().spec).toEqual(DEFAULT_RUN_SPEC);
  });
});

describe('page options beside the spec', () => {
  it('reads hide= as sections, in any case; unknown names are problems, not errors', () => {
    expect(readPageOptions(`${PAGE}#run=1.x&hide=Model,task,,try&autostart=1`)).toEqual({ hidden: ['model', 'task', 'try'], autostart: true, problems: [] });
    expect(readPageOptions(`${PAGE}#hide=model,%3Cscript%3E`)).toEqual({
      hidden: ['model'],
      autostart: false,
      problems: ['hide: unknown section "<script>" (the sections: model, task, method, train, try, adapter, export, methods, history, gpu); ignored'],
    });
  });

  it('starts only for autostart=1 (or true)', () => {
    expect(readPageOptions(`${PAGE}#autostart=0`).autostart).toBe(false);
    expect(readPageOptions(`${PAGE}#autostart=yes`)).toEqual({ hidden: [], autostart: false, problems: ['autostart: found "yes"; expected 1 (or 0); not started'] });
    expect(readPageOptions(`${PAGE}#hide=%E0%A4%A`).problems).toEqual(['hide: the value is not valid percent-encoding; ignored']);
  });

  it('keeps them in the store with the spec, the problems beside the link\'s', () => {
    form().loadLink(`${PAGE}${linkOfJson({ seed: -1 })}&hide=gpu,nope&autostart=1`);
    expect(form().hidden).toEqual(['gpu']);
    expect(form().autostart).toBe(true);
    expect(form().link.problems).toEqual([
      'seed: found -1; expected an integer ≥ 0; using the default (0)',
      'hide: unknown section "nope" (the sections: model, task, method, train, try, adapter, export, methods, history, gpu); ignored',
    ]);
    form().consumeAutostart();
    expect(form().autostart).toBe(false);
  });

  it('writes the fragment back: no run= for the default run, hide= kept, autostart= never', () => {
    expect(pageFragment(DEFAULT_RUN_SPEC, [])).toBe('');
    expect(pageFragment(DEFAULT_RUN_SPEC, ['model', 'gpu'])).toBe('hide=model,gpu');
    const spec = parseRunSpec({ seed: 5 });
    expect(pageFragment(spec, ['task'])).toBe(`${encodeRunLink(spec).slice(1)}&hide=task`);
  });
});

describe('the address follows the form', () => {
  function fakeWindow(href: string) {
    const location = { href };
    const history = { replaceState: vi.fn((_state: unknown, _title: string, url?: string | URL | null) => void (location.href = String(url))) };
    return { location, history };
  }

  it('replaces the address with the form\'s link as it changes, and leaves it while the form has a problem', () => {
    const w = fakeWindow(`${PAGE}#hide=gpu`);
    form().loadLink(w.location.href);
    const stop = syncAddress(w.history, w.location);
    form().set(['training', 'lr'], 1e-3);
    expect(w.history.replaceState).toHaveBeenCalledTimes(1);
    expect(w.location.href).toBe(`${PAGE}${encodeRunLink(form().spec!)}&hide=gpu`);
    form().set(['training', 'lr'], 'fast');
    expect(w.history.replaceState).toHaveBeenCalledTimes(1);
    // Opening what the address says gives the same form.
    const written = w.location.href;
    form().set(['training', 'lr'], 1e-3);
    form().loadLink(written);
    expect(form().spec?.training.lr).toBe(1e-3);
    // Back to the default run, with nothing hidden: the page's own address.
    useForm.setState({ hidden: [] });
    form().set(['training', 'lr'], DEFAULT_RUN_SPEC.training.lr);
    expect(w.location.href).toBe(PAGE);
    stop();
  });

  it('says so instead when the spec is too large for a link', () => {
    const w = fakeWindow(PAGE);
    const stop = syncAddress(w.history, w.location);
    const files = Array.from({ length: 200 }, (_, i) => ({ name: `shard-${String(i).padStart(5, '0')}-of-00200.safetensors`, sha256: SHA_A }));
    form().set(['model'], { kind: 'files', name: 'huge', files });
    expect(w.history.replaceState).not.toHaveBeenCalled();
    expect(form().addressError).toMatch(/^The address is not updated: the run spec is \d+ bytes of JSON; a run link holds at most 16384\.$/);
    form().set(['model'], { kind: 'preset', name: 'stories260K' });
    form().set(['seed'], 1);
    expect(form().addressError).toBeNull();
    expect(w.history.replaceState).toHaveBeenCalled();
    stop();
  });
});
