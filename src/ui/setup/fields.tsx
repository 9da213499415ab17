// The setup's form controls, each bound to one field of the form's draft by its path: the value
// shown is the draft's, a change sets the draft, and the field's problem (useForm().issues by
// path) is written beside it and named by aria-describedby.

import { useEffect, useId, useState, type ReactNode } from 'react';
import { nominalAdapterValue, useFieldIssues, useForm, type FieldIssue } from '../../state/form';
import styles from './Fields.module.css';

export { styles as fieldStyles };

/** The draft's value at a dotted path ("training.lr"). */
export function useDraftValue(path: string): unknown {
  return useForm((s) => valueAt(s.draft, path.split('.')));
}

function valueAt(root: unknown, keys: readonly string[]): unknown {
  let v = root;
  for (const k of keys) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** A problem as the page words it beside a field: an empty entry reads as empty, not `found ""`. */
export function problemText(issue: FieldIssue): string {
  return issue.message.replace(/^found ""; /, 'empty; ');
}

/** The problems (or the hint) under a control, with the id the control's aria-describedby names. */
export function FieldNote({ id, issues, hint }: { id: string; issues: FieldIssue[]; hint?: ReactNode }) {
  if (issues.length > 0) {
    return (
      <span id={id} className={styles.problem} role="alert" data-testid={`problem-${issues[0]!.path}`}>
        {issues.map(problemText).join('; ')}
      </span>
    );
  }
  return hint === undefined ? null : (
    <span id={id} className={styles.hint}>
      {hint}
    </span>
  );
}

/** A number as typed: a number when it reads as one, else the text itself (the schema then says what is wrong). */
export function parseNumberText(text: string): number | string {
  const t = text.trim();
  return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t) ? Number(t) : t;
}

/** A number as the field shows it: short, exponent form for small magnitudes (5e-3). */
export function formatNumberText(v: unknown): string {
  if (typeof v !== 'number') return v === undefined || v === null ? '' : String(v);
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential();
  return String(v);
}

interface NumberFieldProps {
  path: string;
  label: string;
  hint?: ReactNode;
  /** r and α as the form shows them (halved for LoRA 2r). */
  nominal?: 'r' | 'alpha';
  /** An empty field means null (e.g. "about ten per epoch"), said by this placeholder. */
  emptyMeansNull?: string;
  wide?: boolean;
}

/** A number typed as text (scientific notation welcome), kept as typed while it is being edited. */
export function NumberField({ path, label, hint, nominal, emptyMeansNull, wide }: NumberFieldProps) {
  const id = useId();
  const noteId = `${id}-note`;
  const issues = useFieldIssues(path);
  const draftValue = useDraftValue(path);
  const shown = useForm((s) => (nominal ? nominalAdapterValue(s, nominal) : draftValue));
  const set = useForm((s) => s.set);
  const setNominal = useForm((s) => s.setNominal);
  const [text, setText] = useState(formatNumberText(shown));
  // The draft changed from elsewhere (a link, a suggestion, the method): show its value.
  useEffect(() => {
    setText((t) => (sameValue(parseNumberText(t), shown, emptyMeansNull !== undefined) ? t : formatNumberText(shown)));
  }, [shown, emptyMeansNull]);
  const onChange = (t: string) => {
    setText(t);
    const value = emptyMeansNull !== undefined && t.trim() === '' ? null : parseNumberText(t);
    if (nominal) setNominal(nominal, value);
    else set(path.split('.'), value);
  };
  return (
    <div className={`${styles.field} ${wide ? styles.wide : ''}`}>
      <label className={styles.label} htmlFor={id}>
        {label}
      </label>
      <input
        id={id}
        className={styles.input}
        type="text"
        inputMode="decimal"
        autoComplete="off"
        spellCheck={false}
        value={text}
        placeholder={emptyMeansNull}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={issues.length > 0}
        aria-describedby={issues.length > 0 || hint !== undefined ? noteId : undefined}
        data-testid={`field-${path}`}
      />
      <FieldNote id={noteId} issues={issues} hint={hint} />
    </div>
  );
}

function sameValue(typed: number | string, value: unknown, emptyIsNull: boolean): boolean {
  if (emptyIsNull && typed === '' && value === null) return true;
  return typed === value;
}

interface TextFieldProps {
  path: string;
  label: string;
  hint?: ReactNode;
  placeholder?: string;
  /** Suggestions (a datalist). */
  suggestions?: readonly string[];
  /** An empty field removes the field from the draft (its default, or absent). */
  emptyRemoves?: boolean;
  wide?: boolean;
}

export function TextField({ path, label, hint, placeholder, suggestions, emptyRemoves, wide }: TextFieldProps) {
  const id = useId();
  const noteId = `${id}-note`;
  const listId = `${id}-list`;
  const issues = useFieldIssues(path);
  const value = useDraftValue(path);
  const set = useForm((s) => s.set);
  return (
    <div className={`${styles.field} ${wide ? styles.wide : ''}`}>
      <label className={styles.label} htmlFor={id}>
        {label}
      </label>
      <input
        id={id}
        className={styles.input}
        type="text"
        autoComplete="off"
        spellCheck={false}
        value={typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value)}
        placeholder={placeholder}
        list={suggestions && suggestions.length > 0 ? listId : undefined}
        onChange={(e) => set(path.split('.'), emptyRemoves && e.target.value === '' ? undefined : e.target.value)}
        aria-invalid={issues.length > 0}
        aria-describedby={issues.length > 0 || hint !== undefined ? noteId : undefined}
        data-testid={`field-${path}`}
      />
      {suggestions && suggestions.length > 0 && (
        <datalist id={listId}>
          {suggestions.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
      )}
      <FieldNote id={noteId} issues={issues} hint={hint} />
    </div>
  );
}

interface SelectFieldProps {
  path: string;
  label: string;
  options: readonly { value: string; label: string }[];
  /** Offered first: leaves the field out of the draft (the spec's default or none), labelled so. */
  unset?: string;
  hint?: ReactNode;
  wide?: boolean;
}

export function SelectField({ path, label, options, unset, hint, wide }: SelectFieldProps) {
  const id = useId();
  const noteId = `${id}-note`;
  const issues = useFieldIssues(path);
  const value = useDraftValue(path);
  const set = useForm((s) => s.set);
  const current = typeof value === 'string' ? value : '';
  return (
    <div className={`${styles.field} ${wide ? styles.wide : ''}`}>
      <label className={styles.label} htmlFor={id}>
        {label}
      </label>
      <select
        id={id}
        className={styles.select}
        value={current}
        onChange={(e) => set(path.split('.'), unset !== undefined && e.target.value === '' ? undefined : e.target.value)}
        aria-invalid={issues.length > 0}
        aria-describedby={issues.length > 0 || hint !== undefined ? noteId : undefined}
        data-testid={`field-${path}`}
      >
        {unset !== undefined && <option value="">{unset}</option>}
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldNote id={noteId} issues={issues} hint={hint} />
    </div>
  );
}

export function CheckboxField({ path, label, hint, wide }: { path: string; label: string; hint?: ReactNode; wide?: boolean }) {
  const id = useId();
  const noteId = `${id}-note`;
  const issues = useFieldIssues(path);
  const value = useDraftValue(path);
  const set = useForm((s) => s.set);
  return (
    <div className={`${styles.field} ${styles.checkCell} ${wide ? styles.wide : ''}`}>
      <label className={styles.check} htmlFor={id}>
        <input
          id={id}
          type="checkbox"
          checked={value === true}
          onChange={(e) => set(path.split('.'), e.target.checked)}
          aria-describedby={issues.length > 0 || hint !== undefined ? noteId : undefined}
          data-testid={`field-${path}`}
        />
        {label}
      </label>
      <FieldNote id={noteId} issues={issues} hint={hint} />
    </div>
  );
}

/** One choice among a few, drawn as segments: native radio buttons (arrow keys move between them). */
export function Segments<T extends string>({ legend, name, value, options, onChange, testId }: {
  legend: string;
  name: string;
  value: T;
  options: readonly { value: T; label: string }[];
  onChange: (v: T) => void;
  testId: string;
}) {
  return (
    <fieldset className={styles.choices} data-testid={testId}>
      <legend>{legend}</legend>
      <div className={styles.segments}>
        {options.map((o) => (
          <label key={o.value} className={styles.segment}>
            <input type="radio" name={name} value={o.value} checked={value === o.value} onChange={() => onChange(o.value)} data-testid={`${testId}-${o.value}`} />
            <span>{o.label}</span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}
