// JSON files (config.json, tokenizer.json, model.safetensors.index.json, …): parsing and the
// wording of what was found, for FormatErrors that name the file.

import type { z } from 'zod';
import { failIn, FormatError, type Fail } from './errors';

/** The file's top-level object; anything else (bad UTF-8, not JSON, an array) is a FormatError. */
export function parseJsonObject(bytes: Uint8Array, fileName: string): Record<string, unknown> {
  const fail: Fail = failIn(fileName);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    fail(undefined, `bytes that are not UTF-8 JSON (${(e as Error).message})`, 'a JSON object');
  }
  if (!isPlainObject(value)) fail(undefined, `JSON ${describeJson(value)}`, 'a JSON object');
  return value;
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A JSON value as a message quotes it: `nothing` (absent), `null`, `an array`, `string "x"`. */
export function describeJson(x: unknown): string {
  if (x === undefined) return 'nothing';
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `${typeof x} ${JSON.stringify(x)}`;
}

/** A JSON file the app wrote, parsed and checked against `schema`; the first problem named with its field. */
export function parseJsonFile<S extends z.ZodType>(text: string, file: string, schema: S, expected = 'a file written by this app'): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new FormatError({ file, expected: 'JSON', found: (e as Error).message });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FormatError({ file, field: issue.path.length > 0 ? `field "${issue.path.join('.')}"` : undefined, expected, found: issue.message });
  }
  return parsed.data;
}
