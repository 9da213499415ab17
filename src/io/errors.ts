// The one error every parser in src/io (and src/tokenizer) throws for bad input: it names the
// file, the place in it, what was found and what was expected, so that a user who dropped the
// wrong file into the playground can tell what is wrong without a debugger.

export interface FormatErrorDetails {
  /** The file's name as the user knows it (a path in Node, a file or URL name in the browser). */
  file: string;
  /**
   * Where in the file the problem is, written into the message as given, e.g.
   * `tensor "lm_head.weight"`, `header field "dim"`, `token 37`. Absent when the problem is the
   * file as a whole (too short, not JSON).
   */
  field?: string;
  /** What the parser needed, e.g. `non-overlapping ranges`. */
  expected: string;
  /** What the file holds instead, e.g. `data offsets [0, 1024) overlap tensor "b" ([512, 2048))`. */
  found: string;
}

export class FormatError extends Error {
  override name = 'FormatError';
  readonly file: string;
  readonly field: string | undefined;
  readonly expected: string;
  readonly found: string;

  constructor({ file, field, expected, found }: FormatErrorDetails) {
    // model.safetensors: tensor "a": data offsets [0, 8) overlap tensor "b" ([4, 12));
    //   expected non-overlapping ranges
    super(`${file}: ${field === undefined ? '' : `${field}: `}${found}; expected ${expected}`);
    this.file = file;
    this.field = field;
    this.expected = expected;
    this.found = found;
  }
}

/**
 * Throws the FormatError for one spot in `file`: fail(field, found, expected). Declare the
 * variable with this type (`const fail: Fail = failIn(name)`) so TypeScript narrows after a call.
 */
export type Fail = (field: string | undefined, found: string, expected: string) => never;

export function failIn(file: string): Fail {
  return (field, found, expected) => {
    throw new FormatError({ file, field, found, expected });
  };
}
