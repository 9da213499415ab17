// Task: the built-in story questions (with the generator's options), a benchmark of the catalog
// (from the mirror or its public URL), or the user's own file (JSON, JSONL or CSV) with its
// columns mapped; and what the run's tokenize stage makes of it: the counts after the 5k-sample
// protocol, chance, the truncation, and three items as the model will read them.

import { useEffect, useId, useState } from 'react';
import type { ItemPreview } from '../../run/run';
import type { TaskInspection } from '../../run/inspect';
import { DEFAULT_RUN_SPEC } from '../../run/spec';
import { taskFileColumns, useFieldIssues, useForm, useSectionVisible, type HeldFile } from '../../state/form';
import { useInspect } from '../../state/inspect';
import { TASK_CATALOG } from '../../tasks/catalog';
import { ANSWER_FORMATS, TASK_FILE_FORMATS } from '../../tasks/formats';
import { STORY_QUESTION_TYPES } from '../../tasks/story';
import { PROMPT_TEMPLATES, TEMPLATE_IDS } from '../../tasks/templates';
import type { TruncationReport } from '../../tasks/protocol';
import { formatBytes, formatCount } from '../format';
import { FieldNote, NumberField, Segments, SelectField, TextField, fieldStyles, useDraftValue } from './fields';
import styles from './TaskSection.module.css';

type Source = 'story' | 'catalog' | 'file';

const SOURCES: { value: Source; label: string }[] = [
  { value: 'story', label: 'Story questions' },
  { value: 'catalog', label: 'Benchmark' },
  { value: 'file', label: 'Your file' },
];

const DOWNLOADED = TASK_CATALOG.filter((t) => t.source === 'download');

export function TaskSection() {
  const visible = useSectionVisible('task');
  const kind = useDraftValue('task.kind');
  const set = useForm((s) => s.set);
  const held = useForm((s) => s.taskFiles);
  if (!visible) return null;
  const source: Source = kind === 'catalog' ? 'catalog' : kind === 'file' ? 'file' : 'story';
  const choose = (s: Source) => {
    if (s === source) return;
    if (s === 'story') set(['task'], DEFAULT_RUN_SPEC.task);
    else if (s === 'catalog') set(['task'], { kind: 'catalog', name: 'ARC-Easy' });
    else {
      set(['task'], { kind: 'file' });
      // Files picked before stay picked: the spec names them again.
      if (held.test !== null) void useForm.getState().pickTaskBlob('test', held.test.name, held.test.file);
      if (held.train !== null) void useForm.getState().pickTaskBlob('train', held.train.name, held.train.file);
    }
  };
  return (
    <section className="panel" aria-labelledby="task-heading" data-testid="setup-task">
      <h2 id="task-heading">Task</h2>
      <Segments legend="What the model learns" name="task-source" value={source} options={SOURCES} onChange={choose} testId="task-source" />
      <div className={styles.source}>
        {source === 'story' && <StoryOptions />}
        {source === 'catalog' && <CatalogPicker />}
        {source === 'file' && <FilePicker />}
      </div>
      <TaskStatus />
    </section>
  );
}

function StoryOptions() {
  const id = useId();
  const types = useDraftValue('task.questionTypes');
  const set = useForm((s) => s.set);
  const issues = useFieldIssues('task.questionTypes');
  const chosen = Array.isArray(types) ? (types as string[]) : ['color'];
  const toggle = (t: string, on: boolean) => set(['task', 'questionTypes'], on ? STORY_QUESTION_TYPES.filter((x) => x === t || chosen.includes(x)) : chosen.filter((x) => x !== t));
  return (
    <div className={fieldStyles.grid}>
      <fieldset className={`${fieldStyles.choices} ${fieldStyles.wide}`} aria-describedby={`${id}-note`}>
        <legend>Question types</legend>
        <div className={fieldStyles.choiceRow}>
          {STORY_QUESTION_TYPES.map((t) => (
            <label key={t} className={fieldStyles.check}>
              <input type="checkbox" checked={chosen.includes(t)} onChange={(e) => toggle(t, e.target.checked)} data-testid={`story-type-${t}`} />
              {t === 'yes-no' ? 'yes / no' : t}
            </label>
          ))}
        </div>
        <FieldNote id={`${id}-note`} issues={issues} hint="Asked in equal shares; colour questions about two children are what stories260K learns in two epochs." />
      </fieldset>
      <NumberField path="task.characters" label="Children per story" hint="1–6" />
      <NumberField path="task.choices" label="Choices" hint="2–6 (yes / no: always 2)" />
      <NumberField path="task.trainSize" label="Training stories" />
      <NumberField path="task.testSize" label="Test stories" />
      <NumberField path="task.seed" label="Generator seed" hint="Which stories (not the run's seed)." />
    </div>
  );
}

function CatalogPicker() {
  const name = useDraftValue('task.name');
  const entry = DOWNLOADED.find((t) => t.name === name);
  return (
    <div className={fieldStyles.grid}>
      <SelectField
        path="task.name"
        label="Benchmark"
        wide
        options={DOWNLOADED.map((t) => ({ value: t.name, label: `${t.title} — ${t.choices} choices` }))}
        hint={
          entry === undefined ? undefined : (
            <>
              {entry.description} {entry.files.map((f) => `${f.split}: ${formatCount(f.items)} items`).join(', ')}
              {entry.devOnly ? ' (split in half by the protocol)' : ''}; {entry.licence}.
            </>
          )
        }
      />
    </div>
  );
}

const NAMED = TASK_CATALOG.filter((t) => t.source !== 'builtin');

function FilePicker() {
  const held = useForm((s) => s.taskFiles);
  const [columns, setColumns] = useState<string[]>([]);
  useEffect(() => {
    let live = true;
    const f = held.test ?? held.train;
    if (f === null) return setColumns([]);
    void f.file
      .slice(0, 64 * 1024)
      .text()
      .then((head) => live && setColumns(taskFileColumns(head, f.name)));
    return () => {
      live = false;
    };
  }, [held.test, held.train]);
  return (
    <>
      <div className={fieldStyles.grid}>
        <TaskFileInput role="test" label="Test file" hint="JSON (LLM-Adapters), JSONL or CSV. Without a training file it is split in half." />
        <TaskFileInput role="train" label="Training file (optional)" />
        <SelectField path="task.format" label="Format" unset="From the file's name" options={TASK_FILE_FORMATS.map((f) => ({ value: f, label: f }))} />
        <SelectField
          path="task.name"
          label="Columns and template like"
          unset="None (the defaults)"
          options={NAMED.map((t) => ({ value: t.name, label: t.title }))}
          hint="A catalog name lends its column names and prompt template, and names the task."
        />
        <SelectField
          path="task.template"
          label="Template"
          unset="Default"
          options={TEMPLATE_IDS.map((t) => ({ value: t, label: t }))}
          hint={<TemplateHint />}
        />
      </div>
      <details className={styles.mapping} open={columns.length > 0}>
        <summary>Columns (JSONL and CSV)</summary>
        <p className="muted">
          Which field holds what; left empty, the defaults (question, context, choices, answer){columns.length > 0 ? `. The file has: ${columns.join(', ')}` : ''}.
        </p>
        <div className={fieldStyles.grid}>
          <TextField path="task.mapping.question" label="Question column" placeholder="question" suggestions={columns} emptyRemoves />
          <TextField path="task.mapping.context" label="Context column" placeholder="context" suggestions={columns} emptyRemoves />
          <TextField path="task.mapping.choices" label="Choices column" placeholder="choices" suggestions={columns} emptyRemoves hint="One field with all choices." />
          <ChoiceColumns suggestions={columns} />
          <TextField path="task.mapping.answer" label="Answer column" placeholder="answer" suggestions={columns} emptyRemoves />
          <SelectField
            path="task.mapping.answerFormat"
            label="Answer format"
            unset="auto"
            options={ANSWER_FORMATS.filter((f) => f !== 'auto').map((f) => ({ value: f, label: ANSWER_FORMAT_LABEL[f] ?? f }))}
          />
          <TextField path="task.mapping.id" label="Id column" placeholder="(file:line)" suggestions={columns} emptyRemoves />
        </div>
      </details>
    </>
  );
}

/** How the chosen template (or the default one) writes an item. */
function TemplateHint() {
  const template = useDraftValue('task.template');
  const name = useDraftValue('task.name');
  const lent = TASK_CATALOG.find((t) => t.name === name)?.template;
  const id = typeof template === 'string' && template in PROMPT_TEMPLATES ? (template as keyof typeof PROMPT_TEMPLATES) : (lent ?? 'question-answer');
  return (
    <>
      {template === undefined ? `Default: ${id}${lent !== undefined ? ` (from ${String(name)})` : ''}. ` : ''}
      <code>{PROMPT_TEMPLATES[id].pattern.replace(/\n/g, ' ⏎ ')}</code>
    </>
  );
}

const ANSWER_FORMAT_LABEL: Record<string, string> = {
  index: 'index from 0',
  index1: 'index from 1',
  letter: 'letter (A, B, …)',
  text: "the choice's text",
};

/** Choice columns typed as a comma-separated list. */
function ChoiceColumns({ suggestions }: { suggestions: string[] }) {
  const id = useId();
  const value = useDraftValue('task.mapping.choiceColumns');
  const set = useForm((s) => s.set);
  const issues = useFieldIssues('task.mapping.choiceColumns');
  const [text, setText] = useState(Array.isArray(value) ? value.join(', ') : '');
  return (
    <div className={fieldStyles.field}>
      <label className={fieldStyles.label} htmlFor={id}>
        Choice columns
      </label>
      <input
        id={id}
        className={fieldStyles.input}
        type="text"
        autoComplete="off"
        value={text}
        placeholder={suggestions.filter((c) => /\d$|^[A-E]$/.test(c)).join(', ') || 'ending0, ending1, …'}
        onChange={(e) => {
          setText(e.target.value);
          const names = e.target.value.split(',').map((c) => c.trim()).filter((c) => c !== '');
          set(['task', 'mapping', 'choiceColumns'], names.length === 0 ? undefined : names);
        }}
        aria-invalid={issues.length > 0}
        aria-describedby={`${id}-note`}
        data-testid="field-task.mapping.choiceColumns"
      />
      <FieldNote id={`${id}-note`} issues={issues} hint="One column per choice, in order, separated by commas." />
    </div>
  );
}

function TaskFileInput({ role, label, hint }: { role: 'test' | 'train'; label: string; hint?: string }) {
  const id = useId();
  const held = useForm((s) => s.taskFiles[role]);
  const pickBlob = useForm((s) => s.pickTaskBlob);
  const pick = useForm((s) => s.pickTaskFile);
  const ref = useDraftValue(`task.${role}`) as { name?: string; sha256?: string } | undefined;
  const issues = useFieldIssues(`task.${role}`).map((i) => (held === null && i.message.startsWith('found nothing') ? { ...i, message: 'a file is needed: pick one' } : i));
  return (
    <div className={`${fieldStyles.field} ${styles.fileField}`}>
      <label className={fieldStyles.label} htmlFor={id}>
        {label}
      </label>
      <div className={styles.fileRow}>
        <label className="file-button">
          {held === null ? 'Choose a file…' : 'Choose another…'}
          <input
            id={id}
            type="file"
            accept=".json,.jsonl,.ndjson,.csv"
            className="visually-hidden"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f !== undefined) void pickBlob(role, f.name, f);
              e.target.value = '';
            }}
            aria-invalid={issues.length > 0}
            aria-describedby={`${id}-note`}
            data-testid={`task-file-${role}`}
          />
        </label>
        {held !== null ? <HeldLine file={held} sha256={ref?.sha256} onRemove={role === 'train' ? () => pick('train', null, null) : undefined} /> : <span className="muted">none</span>}
      </div>
      <FieldNote id={`${id}-note`} issues={issues} hint={hint} />
    </div>
  );
}

function HeldLine({ file, sha256, onRemove }: { file: HeldFile; sha256: string | undefined; onRemove?: () => void }) {
  return (
    <span className={styles.held}>
      <code>{file.name}</code> {formatBytes(file.file.size)}
      {sha256 !== undefined && <span title={sha256}> · sha256 {sha256.slice(0, 12)}…</span>}
      {onRemove && (
        <button type="button" className={styles.remove} onClick={onRemove} aria-label={`Remove ${file.name}`}>
          Remove
        </button>
      )}
    </span>
  );
}

function TaskStatus() {
  const t = useInspect((s) => s.task);
  const retry = useInspect((s) => s.retry);
  if (t.status === 'loading') {
    return (
      <p className={styles.status} role="status" aria-live="polite" data-testid="task-status">
        {t.progress === null ? 'Drawing the protocol and tokenizing…' : `${t.progress.file.split('/').pop()}: ${formatBytes(t.progress.loaded)}${t.progress.total !== null ? ` of ${formatBytes(t.progress.total)}` : ''}`}
      </p>
    );
  }
  if (t.status === 'failed') {
    return (
      <div className={styles.status}>
        <p className="error-text" role="alert" data-testid="task-error">
          {t.error!.name === 'FormatError' || t.error!.name === 'ChecksumError' || t.error!.name === 'Error' ? '' : `${t.error!.name}: `}
          {t.error!.message}
        </p>
        <button type="button" onClick={() => retry('task')}>
          Try again
        </button>
      </div>
    );
  }
  if (t.status === 'waiting') {
    const why = t.waitingFor === 'files' ? 'Pick the task file to prepare it.' : t.waitingFor === 'model' ? 'Prepared once the model is loaded (its tokenizer reads the items).' : 'Fix the marked fields to prepare the task.';
    return (
      <p className={`muted ${styles.status}`} data-testid="task-status">
        {why}
      </p>
    );
  }
  if (t.status !== 'ready' || t.result === null) return null;
  return <TaskFacts task={t.result} />;
}

function TaskFacts({ task }: { task: TaskInspection }) {
  const c = task.counts;
  const n = (k: string) => formatCount(Number(c[k]));
  return (
    <div className={styles.facts} data-testid="task-facts">
      <dl className="facts">
        <dt>Task</dt>
        <dd>{task.name}</dd>
        <dt>Training</dt>
        <dd data-testid="task-train-count">
          {n('trainTokenized')} items ({n('train')} drawn of {n('trainPool')}
          {c.devOnly === true ? ' in the dev split\'s training half' : ''}
          {Number(c.trainTokenized) < Number(c.train) ? `; ${formatCount(Number(c.train) - Number(c.trainTokenized))} do not fit` : ''})
        </dd>
        <dt>Evaluation</dt>
        <dd data-testid="task-eval-count">
          {n('evalTokenized')} items ({n('eval')} drawn of {n('evalPool')}
          {Number(c.evalTokenized) < Number(c.eval) ? `; ${formatCount(Number(c.eval) - Number(c.evalTokenized))} do not fit` : ''})
        </dd>
        <dt>Chance</dt>
        <dd data-testid="task-chance">{(100 * task.chance).toFixed(1)}%</dd>
        <dt>Truncation</dt>
        <dd data-testid="task-truncation">
          <Truncation part="training" r={task.truncation.train} /> <Truncation part="evaluation" r={task.truncation.eval} />
          <span className="muted"> {task.truncation.train.how}.</span>
        </dd>
      </dl>
      {task.notes.length > 0 && (
        <ul className={styles.notes}>
          {task.notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
      <h3>Three items as the model reads them</h3>
      <ol className={styles.items} data-testid="task-preview">
        {task.preview.map((item, i) => (
          <li key={i}>
            <PreviewItem item={item} />
          </li>
        ))}
      </ol>
    </div>
  );
}

function Truncation({ part, r }: { part: string; r: TruncationReport }) {
  return (
    <span>
      {part[0]!.toUpperCase() + part.slice(1)}: {formatCount(r.truncated)} of {formatCount(r.items)} prompts cut, {formatCount(r.dropped)} left out, the longest{' '}
      {formatCount(r.longest)} tokens.
    </span>
  );
}

function PreviewItem({ item }: { item: ItemPreview }) {
  return (
    <div className={styles.item}>
      <pre className={`model-text ${styles.prompt}`}>
        {item.cut > 0 && <span className="muted">[{item.cut} tokens cut] </span>}
        {item.prompt}
      </pre>
      <ul className={styles.choices}>
        {item.choices.map((choice, k) => (
          <li key={k} className={k === item.answer ? styles.answer : undefined}>
            <code>{choice}</code>
            {k === item.answer && <span className={styles.answerMark}> ✓ answer</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}
