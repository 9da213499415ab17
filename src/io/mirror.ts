// A mirror replaces the network: one folder laid out like the public origins' files,
//   models/<preset name>/<file name>     e.g. models/stories260K/tok512.bin
//   data/qa/<task>/<file name>           e.g. data/qa/boolq/train.json
// named by $D2LORA_MIRROR in Node (tests and CI point it at ../shared) and, in the browser, by the
// base URL the dev server or preview serves that folder at (VITE_D2LORA_MIRROR). With a mirror set,
// nothing is downloaded: a file missing there is an error, not a reason to go online.

export const MIRROR_ENV = 'D2LORA_MIRROR';
/** The Vite setting that tells the browser build where the mirror is served. */
export const BROWSER_MIRROR_ENV = 'VITE_D2LORA_MIRROR';

/** A preset's file, relative to the mirror. */
export function mirrorModelFile(preset: string, file: string): string {
  return `models/${preset}/${file}`;
}

/** A QA task's file, relative to the mirror. */
export function mirrorDataFile(task: string, file: string): string {
  return `data/qa/${task}/${file}`;
}

/** Whether a mirror (or any source string) is an http(s) URL rather than a folder path. */
export function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** `relative` under a mirror URL base, whether or not the base ends with '/'. */
export function joinUrl(base: string, relative: string): string {
  return `${base.endsWith('/') ? base : `${base}/`}${relative}`;
}

/** The mirror base URL the browser build was given, or null. */
export function browserMirrorBase(): string | null {
  const value: unknown = import.meta.env?.[BROWSER_MIRROR_ENV];
  return typeof value === 'string' && value !== '' ? value : null;
}
