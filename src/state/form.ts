// The run the page is set up to start: a draft of the RunSpec that the form edits field by field,
// checked by the spec's own schema on every change, with each problem kept under its field's path
// so the form can explain it beside the field. The share link in the address fills the draft; a
// link's repairs are listed. Picked files (a model folder, a task file) stay here as bytes until a
// run takes them to the worker.

import { create } from 'zustand';
import { DEFAULT_RUN_SPEC, formatPath, parseRunSpec, RunSpecError, type RunSpec } from '../run/spec';
import { decodeRunLink } from '../share/link';
import type { WireFile } from '../worker/protocol';

/** A problem of the draft: the field path ("training.lr") and what is wrong there. */
export interface FieldIssue {
  path: string;
  message: string;
}

export interface FormState {
  /** The spec as the form holds it: any JSON, edited field by field. */
  draft: Record<string, unknown>;
  /** The draft parsed: every default filled in; null while the draft has a problem. */
  spec: RunSpec | null;
  /** The draft's problems, by field path. */
  issues: FieldIssue[];
  /** What the share link in the address had to have repaired, or why it could not be read. */
  link: { problems: string[]; error: string | null; fromLink: boolean };
  /** Files the user picked, as the worker takes them (a model folder's, a task file). */
  files: WireFile[];
  /** Sets one field of the draft (a path of keys) and checks the draft again. */
  set(path: readonly string[], value: unknown): void;
  /** Replaces the whole draft (a spec from elsewhere). */
  replace(draft: Record<string, unknown>): void;
  /** Reads the spec from a URL's fragment (`#run=…`); without one, the defaults. */
  loadLink(url: string): void;
  setFiles(files: WireFile[]): void;
}

export const useForm = create<FormState>()((set, get) => ({
  ...checked(structuredClone(DEFAULT_RUN_SPEC) as unknown as Record<string, unknown>),
  link: { problems: [], error: null, fromLink: false },
  files: [],

  set(path, value) {
    const draft = structuredClone(get().draft);
    let at: Record<string, unknown> = draft;
    for (const key of path.slice(0, -1)) {
      if (typeof at[key] !== 'object' || at[key] === null) at[key] = {};
      at = at[key] as Record<string, unknown>;
    }
    const last = path[path.length - 1]!;
    if (value === undefined) delete at[last];
    else at[last] = value;
    set(checked(draft));
  },

  replace(draft) {
    set(checked(structuredClone(draft)));
  },

  loadLink(url) {
    if (!/[#&]run=/.test(url)) {
      set({ ...checked(structuredClone(DEFAULT_RUN_SPEC) as unknown as Record<string, unknown>), link: { problems: [], error: null, fromLink: false } });
      return;
    }
    const decoded = decodeRunLink(url);
    if (decoded.ok) {
      set({ ...checked(structuredClone(decoded.spec) as unknown as Record<string, unknown>), link: { problems: decoded.problems, error: null, fromLink: true } });
    } else {
      set({ ...checked(structuredClone(DEFAULT_RUN_SPEC) as unknown as Record<string, unknown>), link: { problems: [], error: decoded.error, fromLink: true } });
    }
  },

  setFiles(files) {
    set({ files });
  },
}));

/** The draft with its parse: the spec, or the problems by field (worded as the spec words them). */
function checked(draft: Record<string, unknown>): Pick<FormState, 'draft' | 'spec' | 'issues'> {
  try {
    return { draft, spec: parseRunSpec(draft), issues: [] };
  } catch (e) {
    if (!(e instanceof RunSpecError)) throw e;
    return { draft, spec: null, issues: e.issues.map((i) => ({ path: formatPath(i.path), message: i.text })) };
  }
}
