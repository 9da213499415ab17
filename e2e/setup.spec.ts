// The page's setup (Model, Task, Method and settings) and its share link in the address, in
// Chromium with the engine worker: the method changes the trainable parameters; an invalid field
// is explained beside it and holds Start; a link restores the form field for field and the
// address follows the form; a tampered link is repaired with each repair listed and hides what it
// names; a corrupt model dropped as files fails with the parser's own message and the page goes
// on; a malformed JSONL task names its line and field; and a link with autostart=1 starts its run
// once the model and task are ready; Start in Train runs the form's setup; and the setup's
// sections pass an axe scan. Screenshots: test-results/setup-*.png.

import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { DEFAULT_RUN_SPEC, runSpecWith } from '../src/run/spec';
import { decodeRunLink, encodeRunLink } from '../src/share/link';

/** The page with its GPU and the default setup inspected (stories260K, the story task). */
async function open(page: Page, path = '/'): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(path);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await expect(page.getByTestId('model-facts')).toBeVisible({ timeout: 60_000 });
  expect(errors, 'no uncaught errors').toEqual([]);
}

async function shot(page: Page, info: TestInfo, name: string, testId?: string): Promise<void> {
  const path = join(info.project.outputDir, `setup-${name}.png`);
  if (testId === undefined) await page.screenshot({ path, fullPage: true });
  else await page.getByTestId(testId).screenshot({ path });
}

/** The spec in the page's address. */
function addressSpec(page: Page) {
  const d = decodeRunLink(page.url());
  if (!d.ok) throw new Error(`the address holds no run: ${d.error}`);
  return d.spec;
}

test.use({ viewport: { width: 1280, height: 800 } });

test('recomputing activations lowers the training step\'s memory estimate, and the address follows', async ({ page }, info) => {
  await open(page);
  const step = page.getByTestId('fit-step');
  const before = await step.getAttribute('data-bytes');
  await page.getByTestId('advanced').locator('summary').click();
  const box = page.getByTestId('field-limits.recomputeActivations');
  await expect(box).not.toBeChecked();
  await box.check();
  await expect(step).not.toHaveAttribute('data-bytes', before!);
  expect(Number(await step.getAttribute('data-bytes'))).toBeLessThan(0.6 * Number(before));
  expect(addressSpec(page).limits.recomputeActivations).toBe(true);
  await page.getByTestId('advanced').getByRole('heading', { name: 'Memory' }).scrollIntoViewIfNeeded();
  await shot(page, info, 'recompute', 'advanced');
});

test('the method changes the trainable parameters, and the address follows', async ({ page }, info) => {
  await open(page);
  const trainable = page.getByTestId('method-trainable');
  // stories260K, q/k/v/o in 5 layers, Σ(in + out) = 448 per layer.
  await expect(trainable).toContainText('35,840');
  await expect(page.getByTestId('method-steps')).toContainText('626');
  await page.getByTestId('method-lora').check();
  await expect(trainable).toContainText('17,920');
  expect(addressSpec(page).adapter).toMatchObject({ method: 'lora', r: 8, alpha: 16 });
  await page.getByTestId('method-lora2r').check();
  await expect(trainable).toContainText('35,840');
  await expect(page.getByTestId('method-about')).toContainText('Runs as LoRA r = 16, α = 32.');
  expect(addressSpec(page).adapter).toMatchObject({ method: 'lora', r: 16, alpha: 32 });
  await page.getByTestId('method-dora').check();
  await expect(trainable).toContainText('18,880');
  await page.getByTestId('target-up_proj').check();
  // up_proj 64 → 172: + 5 · (8 · 236 + 172).
  await expect(trainable).toContainText(String((18_880 + 5 * (8 * 236 + 172)).toLocaleString('en-US')));
  await shot(page, info, 'method', 'setup-method');
});

test('an invalid learning rate is explained beside its field and holds Start', async ({ page }, info) => {
  await open(page);
  await expect(page.getByTestId('run-start')).toBeEnabled({ timeout: 60_000 });
  const lr = page.getByTestId('field-training.lr');
  await lr.fill('-1');
  const problem = page.getByTestId('problem-training.lr');
  await expect(problem).toHaveText('found -1; expected a number ≥ 1e-9');
  await expect(lr).toHaveAttribute('aria-invalid', 'true');
  expect(await lr.getAttribute('aria-describedby')).toBe(await problem.getAttribute('id'));
  await expect(page.getByTestId('run-start')).toBeDisabled();
  await expect(page.getByTestId('run-start-reason')).toHaveText('Start needs a valid setup: one field has a problem (Learning rate: found -1; expected a number ≥ 1e-9).');
  await lr.fill('fast');
  await expect(problem).toHaveText('found "fast"; expected a number');
  await lr.scrollIntoViewIfNeeded();
  await shot(page, info, 'invalid-lr');
  await lr.fill('2e-3');
  await expect(problem).toHaveCount(0);
  await expect(page.getByTestId('run-start')).toBeEnabled();
  expect(addressSpec(page).training.lr).toBe(2e-3);
});

test('a run too large for this GPU is refused before it starts, and a suggestion makes it fit', async ({ page }, info) => {
  await open(page);
  await expect(page.getByTestId('fit-verdict')).toHaveText('fits');
  await expect(page.getByTestId('method-steps')).toContainText('626');
  // 4096 sequences of the story task's longest, 52 tokens: the MLP activations are 4096·52·172 floats.
  await page.getByTestId('field-training.batch').fill('4096');
  const largest = page.getByTestId('fit-largest');
  await expect(largest).toHaveAttribute('data-bytes', String(4096 * 52 * 172 * 4));
  const limit = Number(await largest.getAttribute('data-limit'));
  // The CPU adapters of this tier bind 128 MiB; a GPU that binds more fits this run, and says so.
  if (4096 * 52 * 172 * 4 <= limit) {
    await expect(page.getByTestId('fit-verdict')).toHaveText('fits');
    return;
  }
  await expect(page.getByTestId('fit-verdict')).toHaveText('too large');
  await expect(page.getByTestId('fit-refused')).toContainText(
    `This run cannot start: the MLP activations (rows × intermediate size) of a training batch needs one buffer of 146,538,496 bytes; this device allows at most ${limit.toLocaleString('en-US')}`,
  );
  await expect(page.getByTestId('run-start')).toBeDisabled();
  await expect(page.getByTestId('run-start-reason')).toContainText('This run cannot fit on this GPU');
  await shot(page, info, 'refused', 'setup-model');
  await page.getByTestId('fit-suggest-training.batch').click();
  await expect(page.getByTestId('fit-verdict')).toHaveText('fits');
  // The largest batch whose activations fit: ⌊limit / (52 · 172 · 4)⌋ sequences.
  await expect(page.getByTestId('field-training.batch')).toHaveValue(String(Math.floor(Math.floor(limit / (172 * 4)) / 52)));
  await expect(page.getByTestId('run-start')).toBeEnabled({ timeout: 60_000 });
});

test('a link restores the form field for field', async ({ page }, info) => {
  const spec = runSpecWith({
    task: { kind: 'story', questionTypes: ['color', 'who'], characters: 3, trainSize: 400, testSize: 60 },
    adapter: { method: 'dora', r: 4, alpha: 8 },
    targets: ['q_proj', 'v_proj', 'up_proj'],
    training: { lr: 2e-3, batch: 8, epochs: 3, earlyStopping: { patience: 2, devItems: 40 } },
    limits: { maxLength: 128, maxTrain: 300 },
    scoring: 'mean',
    seed: 7,
  });
  await open(page, `/${encodeRunLink(spec)}`);
  await expect(page.getByTestId('link-problems')).toHaveCount(0);
  await expect(page.getByTestId('method-dora')).toBeChecked();
  const value = (path: string) => page.getByTestId(`field-${path}`);
  for (const [path, v] of [['adapter.r', '4'], ['adapter.alpha', '8'], ['training.lr', '0.002'], ['training.batch', '8'], ['training.epochs', '3'], ['limits.maxLength', '128'], ['seed', '7'], ['task.characters', '3'], ['task.trainSize', '400']] as const) {
    await expect(value(path), path).toHaveValue(v);
  }
  await expect(page.getByTestId('story-type-who')).toBeChecked();
  await expect(page.getByTestId('story-type-where')).not.toBeChecked();
  await expect(page.getByTestId('target-up_proj')).toBeChecked();
  await expect(page.getByTestId('target-k_proj')).not.toBeChecked();
  await page.getByTestId('advanced').locator('summary').click();
  await expect(value('scoring')).toHaveValue('mean');
  await expect(value('training.earlyStopping.devItems')).toHaveValue('40');
  await expect(value('limits.maxTrain')).toHaveValue('300');
  // 300 drawn, 40 held out for early stopping: ⌈260 / 8⌉ = 33 steps × 3.
  await expect(page.getByTestId('method-steps')).toContainText('99', { timeout: 60_000 });
  await shot(page, info, 'link');
  // The address is the form's link: a change is in it at once, and nothing else moved.
  await value('training.batch').fill('4');
  await expect.poll(() => addressSpec(page).training.batch).toBe(4);
  expect(addressSpec(page)).toEqual({ ...spec, training: { ...spec.training, batch: 4 } });
});

test('a tampered link is repaired field by field, each repair listed, and hides what it names', async ({ page }, info) => {
  const tampered = {
    ...structuredClone(DEFAULT_RUN_SPEC),
    adapter: { ...DEFAULT_RUN_SPEC.adapter, r: 0, method: 'lora' },
    training: { ...DEFAULT_RUN_SPEC.training, lr: 'fast', batch: 8 },
    evil: '<img src=x onerror=alert(1)>',
  };
  const link = `#run=1.${deflateRawSync(Buffer.from(JSON.stringify(tampered))).toString('base64url')}&hide=task,nonsense`;
  await open(page, `/${link}`);
  const problems = page.getByTestId('link-problems');
  await expect(problems).toContainText('adapter.r: found 0; expected an integer ≥ 1; using the default (8)');
  await expect(problems).toContainText('training.lr: found "fast"; expected a number; using the default (0.005)');
  await expect(problems).toContainText('evil: unknown field, ignored');
  await expect(problems).toContainText('hide: unknown section "nonsense"');
  // The repaired fields at their defaults, the rest as the link has them.
  await expect(page.getByTestId('field-adapter.r')).toHaveValue('8');
  await expect(page.getByTestId('field-training.lr')).toHaveValue('0.005');
  await expect(page.getByTestId('field-training.batch')).toHaveValue('8');
  await expect(page.getByTestId('method-lora')).toBeChecked();
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
  // hide=task: the Task section is not shown until asked for.
  await expect(page.getByTestId('setup-task')).toHaveCount(0);
  await expect(page.getByTestId('link-hidden')).toContainText('The link hides task.');
  await shot(page, info, 'tampered');
  await page.getByRole('button', { name: 'Show every section' }).click();
  await expect(page.getByTestId('setup-task')).toBeVisible();
});

test('a link naming local files says which to pick, by name and sha256', async ({ page }, info) => {
  const sha = (c: string) => c.repeat(64);
  const spec = runSpecWith({
    model: { kind: 'files', name: 'my-smollm', files: [{ name: 'config.json', sha256: sha('a') }, { name: 'tokenizer.json', sha256: sha('b') }, { name: 'model.safetensors', sha256: sha('c') }] },
    task: { kind: 'file', name: 'hellaswag', test: { name: 'hellaswag-dev.jsonl', sha256: sha('d') } },
  });
  await page.goto(`/${encodeRunLink(spec)}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  const model = page.getByTestId('link-model-files');
  await expect(model).toContainText('This run\'s model is local files, my-smollm: pick that folder in Model.');
  await expect(model).toContainText(`model.safetensors ${sha('c')}`);
  await expect(page.getByTestId('link-task-files')).toContainText(`hellaswag-dev.jsonl ${sha('d')}`);
  await expect(page.getByTestId('model-source-files')).toBeChecked();
  await expect(page.getByTestId('model-status')).toHaveText("Pick the model's files to load it.");
  await expect(page.getByTestId('run-start-reason')).toHaveText("Start waits for the model's files: pick them in Model.");
  await shot(page, info, 'link-files');
});

/** A tiny Hugging Face folder whose model.safetensors is corrupt: its header length is past the file's end. */
function corruptModelFiles(): { name: string; bytes: number[] }[] {
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 272, hidden_size: 16, intermediate_size: 40, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 100000, hidden_act: 'silu',
    tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2,
  };
  // A byte-level BPE vocabulary: three special tokens and the 256 byte pieces.
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  const vocab: Record<string, number> = { '<|endoftext|>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[String.fromCodePoint(printable(b) ? b : next++)] = 3 + b;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, normalizer: null, pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
    added_tokens: ['<|endoftext|>', '<s>', '</s>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
  const safetensors = new Uint8Array(40);
  new DataView(safetensors.buffer).setBigUint64(0, 1000n, true);
  safetensors.set(new TextEncoder().encode('{"a":1}'), 8);
  const text = (v: unknown) => [...new TextEncoder().encode(JSON.stringify(v))];
  return [
    { name: 'config.json', bytes: text(config) },
    { name: 'tokenizer.json', bytes: text(tokenizer) },
    { name: 'model.safetensors', bytes: [...safetensors] },
  ];
}

test('a corrupt model dropped as files fails with the parser\'s message, and the page goes on', async ({ page }, info) => {
  await open(page);
  await page.getByTestId('model-source-files').check();
  const files = corruptModelFiles();
  const drop = await page.evaluateHandle((list) => {
    const data = new DataTransfer();
    for (const f of list) data.items.add(new File([new Uint8Array(f.bytes)], f.name));
    return data;
  }, files);
  await page.getByTestId('model-drop').dispatchEvent('drop', { dataTransfer: drop });
  await expect(page.getByTestId('model-files')).toContainText('model.safetensors');
  const error = page.getByTestId('model-error');
  await expect(error).toHaveText('model.safetensors: header length: 1000 bytes, but the file has only 32 bytes after the length field; expected a header that fits in the file', { timeout: 60_000 });
  await expect(page.getByTestId('run-start')).toBeDisabled();
  await expect(page.getByTestId('run-start-reason')).toContainText('The model could not be loaded: model.safetensors: header length');
  await expect(page.getByTestId('task-status')).toHaveText('Prepared once the model is loaded (its tokenizer reads the items).');
  await shot(page, info, 'corrupt-model', 'setup-model');
  // Still usable: back to the preset, everything comes back.
  await page.getByTestId('model-source-preset').check();
  await expect(page.getByTestId('model-name')).toHaveText('stories260K', { timeout: 60_000 });
  await expect(page.getByTestId('method-trainable')).toContainText('35,840');
  await expect(page.getByTestId('run-start')).toBeEnabled({ timeout: 60_000 });
});

test('a malformed JSONL task names its line and field, and a good one is prepared', async ({ page }, info) => {
  await open(page);
  await page.getByTestId('task-source-file').check();
  await expect(page.getByTestId('task-status')).toHaveText('Pick the task file to prepare it.');
  const bad = '{"question":"Which is red?","choices":["sky","apple"],"answer":1}\n{"question":"Which is wet?","choices":["sea","sand"]}\n';
  await page.getByTestId('task-file-test').setInputFiles({ name: 'qa.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(bad) });
  const error = page.getByTestId('task-error');
  await expect(error).toHaveText('qa.jsonl: line 2, field "answer": nothing; expected a field "answer" (present: question, choices)', { timeout: 60_000 });
  await expect(page.getByTestId('run-start')).toBeDisabled();
  await shot(page, info, 'bad-jsonl', 'setup-task');
  // The page goes on: the mapping names another column, a corrected file is prepared.
  const rows = Array.from({ length: 8 }, (_, i) => JSON.stringify({ q: `Lily had a ${['red', 'tan'][i % 2]} ball. What color was it?`, options: ['red', 'tan'], right: i % 2 }));
  await page.getByTestId('field-task.mapping.question').fill('q');
  await page.getByTestId('field-task.mapping.choices').fill('options');
  await page.getByTestId('field-task.mapping.answer').fill('right');
  await page.getByTestId('task-file-test').setInputFiles({ name: 'qa-fixed.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(rows.join('\n')) });
  await expect(page.getByTestId('task-facts')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('task-train-count')).toContainText('4 items (4 drawn of 4 in the dev split');
  await expect(page.getByTestId('task-chance')).toHaveText('50.0%');
  await expect(page.getByTestId('task-preview').locator('li').first()).toContainText('Question: Lily had a');
  await shot(page, info, 'task-file', 'setup-task');
});

test('a link with autostart=1 starts its run once the model and task are ready', async ({ page }, info) => {
  // Two steps of 8 on 16 stories, 8 evaluation items: seconds on a CPU adapter.
  const spec = runSpecWith({ task: { kind: 'story', trainSize: 16, testSize: 8 }, training: { epochs: 1, batch: 8 }, limits: { maxTrain: 16, maxEval: 8 } });
  await open(page, `/${encodeRunLink(spec)}&autostart=1`);
  await expect(page.getByTestId('run-status')).toHaveText(/^(starting|running|done)$/, { timeout: 60_000 });
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 180_000 });
  // Started once: the address no longer asks for it, so a reload would not start it again.
  expect(page.url()).not.toContain('autostart');
  await shot(page, info, 'autostart');
});

test("Start in Train runs the form's setup", async ({ page }) => {
  const spec = runSpecWith({ task: { kind: 'story', trainSize: 16, testSize: 8 }, training: { epochs: 1, batch: 8 }, limits: { maxTrain: 16, maxEval: 8 } });
  await open(page, `/${encodeRunLink(spec)}`);
  await expect(page.getByTestId('method-steps')).toContainText('2', { timeout: 60_000 });
  await page.getByTestId('method-lora').check();
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 180_000 });
  await expect(page.getByTestId('run-spec')).toContainText('LoRA r=8');
});

test('the setup sections pass an axe scan, with their file pickers and every advanced field shown', async ({ page }) => {
  await open(page);
  await page.getByTestId('advanced').locator('summary').click();
  await page.getByTestId('field-training.earlyStopping').check();
  const scan = async (state: string) => {
    const result = await new AxeBuilder({ page }).include('section:has(#model-heading)').include('section:has(#task-heading)').include('section:has(#method-heading)').analyze();
    expect(result.violations.map((v) => `${state}: ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
  };
  await scan('presets and the story task');
  await page.getByTestId('model-source-files').check();
  await page.getByTestId('task-source-file').check();
  await expect(page.getByTestId('task-status')).toHaveText('Pick the task file to prepare it.');
  await scan('picked files');
  await page.getByTestId('model-source-hub').check();
  await page.getByTestId('task-source-catalog').check();
  await scan('a repository and a benchmark');
});
