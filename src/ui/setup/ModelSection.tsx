// Model: a preset, a Hugging Face repository (or a URL of a model folder), or the user's own
// files (a Hugging Face folder, or a llama2.c .bin with its vocabulary); what the worker found
// when it loaded it (architecture, parameters, context, the linear layers), its download
// progress, and whether the run fits this GPU.

import { useEffect, useId, useRef, useState, type DragEvent } from 'react';
import type { ModelConfig } from '../../model/config';
import type { ModelSummary } from '../../run/run';
import { pickedModel, useForm, useSectionVisible } from '../../state/form';
import { MODEL_CHOICES, useInspect, type Progress } from '../../state/inspect';
import { formatBytes, formatCount } from '../format';
import { FieldNote, Segments, SelectField, TextField, fieldStyles, useDraftValue } from './fields';
import { FitEstimate } from './FitEstimate';
import { useFieldIssues } from '../../state/form';
import styles from './ModelSection.module.css';

type Source = 'preset' | 'hub' | 'files';

const SOURCES: { value: Source; label: string }[] = [
  { value: 'preset', label: 'Preset' },
  { value: 'hub', label: 'Hugging Face' },
  { value: 'files', label: 'Your files' },
];

export function ModelSection() {
  const visible = useSectionVisible('model');
  const kind = useDraftValue('model.kind');
  const set = useForm((s) => s.set);
  if (!visible) return null;
  const source: Source = kind === 'hub' || kind === 'url' ? 'hub' : kind === 'files' ? 'files' : 'preset';
  const choose = (s: Source) => {
    if (s === source) return;
    if (s === 'preset') set(['model'], { kind: 'preset', name: 'stories260K' });
    else if (s === 'hub') set(['model'], { kind: 'hub', repo: '', revision: 'main' });
    else set(['model'], { kind: 'files', name: 'local-model', files: [] });
  };
  return (
    <section className="panel" aria-labelledby="model-heading" data-testid="setup-model">
      <h2 id="model-heading">Model</h2>
      <Segments legend="Where the model comes from" name="model-source" value={source} options={SOURCES} onChange={choose} testId="model-source" />
      <div className={styles.source}>
        {source === 'preset' && <PresetPicker />}
        {source === 'hub' && <HubPicker />}
        {source === 'files' && <FilesPicker />}
      </div>
      <ModelStatus />
      <FitEstimate />
    </section>
  );
}

function PresetPicker() {
  const name = useDraftValue('model.name');
  const preset = MODEL_CHOICES.find((p) => p.name === name);
  return (
    <div className={fieldStyles.grid}>
      <SelectField
        path="model.name"
        label="Preset"
        wide
        options={MODEL_CHOICES.map((p) => ({ value: p.name, label: `${p.name} — ${p.embedded ? 'built in' : `about ${formatBytes(p.approxBytes)}`}` }))}
        hint={preset?.description}
      />
    </div>
  );
}

/** One box for a repository id ("owner/name", with its revision) or the URL of a model folder. */
function HubPicker() {
  const id = useId();
  const kind = useDraftValue('model.kind');
  const repo = useDraftValue('model.repo');
  const url = useDraftValue('model.url');
  const set = useForm((s) => s.set);
  const revision = useDraftValue('model.revision');
  const typed = [...useFieldIssues('model.repo'), ...useFieldIssues('model.url')];
  const status = useInspect((s) => s.model.status);
  const waitingFor = useInspect((s) => s.model.waitingFor);
  const requestLoad = useInspect((s) => s.requestModelLoad);
  const text = kind === 'url' ? String(url ?? '') : String(repo ?? '');
  // Nothing typed yet is not a mistake: the hint says what to type.
  const issues = text === '' ? [] : typed;
  const onChange = (t: string) => {
    const trimmed = t.trim();
    if (/^https?:\/\//i.test(trimmed)) set(['model'], { kind: 'url', url: trimmed });
    else set(['model'], { kind: 'hub', repo: trimmed, revision: typeof revision === 'string' ? revision : 'main' });
  };
  return (
    <div className={fieldStyles.grid}>
      <div className={`${fieldStyles.field} ${styles.repo}`}>
        <label className={fieldStyles.label} htmlFor={id}>
          Repository or URL
        </label>
        <input
          id={id}
          className={fieldStyles.input}
          type="text"
          autoComplete="off"
          spellCheck={false}
          placeholder="owner/name, or https://…/resolve/main/"
          value={text}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={issues.length > 0}
          aria-describedby={`${id}-note`}
          data-testid="field-model.repo"
        />
        <FieldNote id={`${id}-note`} issues={issues} hint="A repository id, owner/name, or the https:// address of a model folder (config.json, tokenizer.json, model.safetensors)." />
      </div>
      {kind === 'hub' && <TextField path="model.revision" label="Revision" hint="A branch, tag or commit." />}
      <div className={styles.loadButton}>
        <button type="button" onClick={requestLoad} disabled={text === '' || issues.length > 0 || waitingFor !== 'load' || status === 'loading'} data-testid="model-load">
          Load
        </button>
      </div>
    </div>
  );
}

/** Picked files: dropped (a folder or files) or chosen with a file dialog. */
function FilesPicker() {
  const held = useForm((s) => s.modelFiles);
  const pick = useForm((s) => s.pickModelFiles);
  const pins = useDraftValue('model.files');
  const folderInput = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [dropProblem, setDropProblem] = useState<string | null>(null);
  useEffect(() => {
    folderInput.current?.setAttribute('webkitdirectory', '');
  }, []);
  const take = (picked: { path: string; file: File }[]) => {
    setDropProblem(picked.length === 0 ? 'Nothing to read was dropped: drop a model folder or its files.' : null);
    if (picked.length === 0) return;
    const m = pickedModel(picked);
    pick(m.name, m.files);
  };
  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    take(await droppedFiles(e.dataTransfer));
  };
  const pinned = Array.isArray(pins) ? (pins as { name: string; sha256: string }[]) : [];
  return (
    <>
      <div
        className={`${styles.drop} ${over ? styles.dropOver : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => void onDrop(e)}
        data-testid="model-drop"
      >
        <p>
          Drop a model folder here: a Hugging Face folder (<code>config.json</code>, <code>tokenizer.json</code>, <code>model.safetensors</code>) or a
          llama2.c <code>.bin</code> with its <code>tok*.bin</code>.
        </p>
        <div className="controls">
          <label className="file-button">
            Choose a folder…
            <input
              ref={folderInput}
              type="file"
              multiple
              className="visually-hidden"
              onChange={(e) => take([...(e.target.files ?? [])].map((f) => ({ path: f.webkitRelativePath || f.name, file: f })))}
              data-testid="model-folder-input"
            />
          </label>
          <label className="file-button">
            Choose files…
            <input
              type="file"
              multiple
              className="visually-hidden"
              onChange={(e) => take([...(e.target.files ?? [])].map((f) => ({ path: f.name, file: f })))}
              data-testid="model-files-input"
            />
          </label>
        </div>
        {dropProblem !== null && (
          <p className="error-text" role="alert">
            {dropProblem}
          </p>
        )}
      </div>
      <div className={fieldStyles.grid}>
        <TextField path="model.name" label="Model name" hint="Names the output folder and the report." />
      </div>
      {held.length > 0 && (
        <ul className={styles.files} aria-label="Picked model files" data-testid="model-files">
          {held.map((f) => {
            const pin = pinned.find((p) => p.name === f.name);
            return (
              <li key={f.name}>
                <code>{f.name}</code> <span className="muted">{formatBytes(f.file.size)}</span>
                {pin && (
                  <span className="muted" title={pin.sha256}>
                    {' '}
                    · sha256 {pin.sha256.slice(0, 12)}…
                  </span>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}

/** The files of a drop: a folder's whole tree (with its name first in each path), or the files themselves. */
async function droppedFiles(data: DataTransfer): Promise<{ path: string; file: File }[]> {
  const entries = [...data.items].map((i) => i.webkitGetAsEntry?.() ?? null).filter((e) => e !== null);
  if (entries.length === 0) return [...data.files].map((f) => ({ path: f.name, file: f }));
  const out: { path: string; file: File }[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ path: `${prefix}${entry.name}`, file });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      // readEntries returns the entries in batches until an empty one.
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

/** Loading, its error, or what the loaded model is. */
function ModelStatus() {
  const m = useInspect((s) => s.model);
  const retry = useInspect((s) => s.retry);
  const kind = useDraftValue('model.kind');
  const typed = useDraftValue(kind === 'url' ? 'model.url' : 'model.repo');
  const nothingTyped = (kind === 'hub' || kind === 'url') && (typed === '' || typed === undefined);
  if (m.status === 'loading') {
    return (
      <div className={styles.status} role="status" aria-live="polite" data-testid="model-status">
        {m.progress === null ? <p>Loading the model…</p> : <LoadProgress p={m.progress} />}
      </div>
    );
  }
  if (m.status === 'failed') {
    return (
      <div className={styles.status}>
        <p className="error-text" role="alert" data-testid="model-error">
          {m.error!.name === 'FormatError' || m.error!.name === 'ChecksumError' ? '' : `${m.error!.name}: `}
          {m.error!.message}
        </p>
        <button type="button" onClick={() => retry('model')}>
          Try again
        </button>
      </div>
    );
  }
  if (m.status === 'waiting') {
    const why =
      m.waitingFor === 'files'
        ? "Pick the model's files to load it."
        : m.waitingFor === 'load'
          ? 'Press Load to download the model.'
          : nothingTyped
            ? 'Type a repository or the address of a model folder, then press Load.'
            : 'Fix the model field to load it.';
    return (
      <p className={`muted ${styles.status}`} data-testid="model-status">
        {why}
      </p>
    );
  }
  if (m.status !== 'ready' || m.result === null) return null;
  return <ModelFacts summary={m.result.summary} config={m.result.config} />;
}

function LoadProgress({ p }: { p: Progress }) {
  return (
    <>
      <p>
        <code>{p.file.split('/').pop()}</code>: {formatBytes(p.loaded)}
        {p.total !== null ? ` of ${formatBytes(p.total)}` : ''}
      </p>
      {p.total !== null && p.total > 0 && <progress max={p.total} value={p.loaded} aria-label={`Loading ${p.file}`} />}
    </>
  );
}

/** 260,000 → "260K", 134,515,008 → "135M". */
function shortCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}K`;
  return String(n);
}

function ModelFacts({ summary, config }: { summary: ModelSummary; config: ModelConfig }) {
  const family = { llama: 'Llama', qwen2: 'Qwen2', gpt2: 'GPT-2' }[summary.family as ModelConfig['family']] ?? summary.family;
  return (
    <div data-testid="model-facts">
      <dl className={`facts ${styles.facts}`}>
        <dt>Model</dt>
        <dd data-testid="model-name">{summary.name}</dd>
        <dt>Architecture</dt>
        <dd data-testid="model-architecture">
          {family}: {summary.layers} layers, width {summary.hiddenSize}, MLP {config.intermediateSize}, {summary.heads} heads
          {summary.kvHeads !== summary.heads ? ` (${summary.kvHeads} for keys and values)` : ''} of {config.headDim}
        </dd>
        <dt>Parameters</dt>
        <dd data-testid="model-parameters">
          {formatCount(summary.parameters)} ({shortCount(summary.parameters)})
        </dd>
        <dt>Vocabulary</dt>
        <dd>{formatCount(summary.vocabSize)} tokens</dd>
        <dt>Context</dt>
        <dd data-testid="model-context">{formatCount(summary.context)} positions</dd>
        <dt>Linear layers</dt>
        <dd>
          <ul className="chips" aria-label="Linear modules of each layer">
            {summary.modules.map((m) => (
              <li key={m}>
                <code>{m}</code>
              </li>
            ))}
          </ul>
        </dd>
      </dl>
      {summary.warnings.length > 0 && (
        <div className="note" role="note">
          <p>The checkpoint loaded with warnings:</p>
          <ul>
            {summary.warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
