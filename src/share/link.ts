// The share link: a RunSpec in a URL fragment, `#run=1.<payload>`, where the payload is the spec's
// JSON, compressed with raw DEFLATE (fflate) and written in base64url without padding. The `1.`
// is the link format's version. A fragment never reaches a server. A link may also carry the
// sender's result, `&result=1.<payload>` in the same encoding (see result.ts); a result that is
// malformed is dropped with a problem listed, and the spec still opens.
//
// Decoding is strict about the envelope and lenient about the spec: a link that is too long, of
// another version, not base64url, not DEFLATE, too large once inflated, or not JSON is refused
// with a message that says which; a spec with unknown fields or invalid values is repaired, each
// repair listed (src/run/spec.ts parseRunSpecLeniently). Nothing in a link is executed or inserted
// as HTML: it is parsed as JSON and validated field by field, and the messages quote values as
// JSON text. A link holds no weights and no user data: files appear by name and sha256 only.

import { deflateSync, inflateSync } from 'fflate';
import { DEFAULT_RUN_SPEC, formatPath, parseRunSpecLeniently, type RunSpec } from '../run/spec';
import { RESULT_VERSION, ResultSummarySchema, type ResultSummary } from './result';

export const LINK_VERSION = 1;
export const LINK_PARAM = 'run';
export const RESULT_PARAM = 'result';
/**
 * The longest fragment accepted (after the '#'), in characters: the default run's spec needs
 * 474, one pinning 16 files about 2,000; a result adds at most MAX_RESULT_CHARS.
 */
export const MAX_LINK_CHARS = 6144;
/** The most bytes a payload may inflate to (a spec's JSON is about 1 KB). */
export const MAX_SPEC_JSON_BYTES = 16 * 1024;
/** The longest result part (after `result=`): 64 loss points and the accuracies take about 400. */
export const MAX_RESULT_CHARS = 1536;
/** The most bytes a result's payload may inflate to. */
const MAX_RESULT_JSON_BYTES = 4096;
/** The deepest nesting of arrays and objects accepted in the JSON (a spec has 4). */
const MAX_JSON_DEPTH = 16;

export type LinkDecoding =
  /** The spec, and what had to be repaired in it (empty: it was valid as it stood); the sender's result, if the link carries a valid one. */
  | { ok: true; spec: RunSpec; problems: string[]; result: ResultSummary | null }
  /** Why the link could not be read at all; nothing of it is used. */
  | { ok: false; error: string };

/**
 * `#run=1.<payload>` for the spec, and `&result=1.<payload>` with a result. Throws RangeError for
 * a spec the decoder would refuse as too large (one naming hundreds of files): a link that cannot
 * be opened is never handed out.
 */
export function encodeRunLink(spec: RunSpec, result?: ResultSummary): string {
  const json = new TextEncoder().encode(JSON.stringify(spec));
  if (json.length > MAX_SPEC_JSON_BYTES) throw new RangeError(`the run spec is ${json.length} bytes of JSON; a run link holds at most ${MAX_SPEC_JSON_BYTES}`);
  let link = `#${LINK_PARAM}=${LINK_VERSION}.${packPayload(json)}`;
  if (result !== undefined) {
    const part = `${RESULT_VERSION}.${packPayload(new TextEncoder().encode(JSON.stringify(ResultSummarySchema.parse(result))))}`;
    if (part.length > MAX_RESULT_CHARS) throw new RangeError(`the run's result would take ${part.length} characters of the link; it may take at most ${MAX_RESULT_CHARS}`);
    link += `&${RESULT_PARAM}=${part}`;
  }
  if (link.length - 1 > MAX_LINK_CHARS) throw new RangeError(`the run's link would be ${link.length - 1} characters long; a run link has at most ${MAX_LINK_CHARS}`);
  return link;
}

/** The whole share URL: the page's origin (and path) with the spec's fragment (and the result's). */
export function runLinkUrl(spec: RunSpec, pageUrl: string, result?: ResultSummary): string {
  const url = new URL(pageUrl);
  url.hash = encodeRunLink(spec, result).slice(1);
  return url.href;
}

/**
 * Reads a link: a whole URL, a fragment (`#run=…`), or the fragment without its '#'. Never
 * throws: every failure is a message.
 */
export function decodeRunLink(link: string): LinkDecoding {
  if (typeof link !== 'string') return { ok: false, error: 'the link is not text' };
  const hashAt = link.indexOf('#');
  const fragment = hashAt >= 0 ? link.slice(hashAt + 1) : link;
  if (fragment.length > MAX_LINK_CHARS) {
    return { ok: false, error: `the link's fragment is ${fragment.length} characters long; a run link has at most ${MAX_LINK_CHARS}` };
  }
  const value = fragmentParam(fragment, LINK_PARAM);
  if (value === null) return { ok: false, error: `the link has no "${LINK_PARAM}=" part (expected #${LINK_PARAM}=${LINK_VERSION}.<data>)` };
  const spec = unpackPayload(value, { param: LINK_PARAM, version: LINK_VERSION, maxJsonBytes: MAX_SPEC_JSON_BYTES, what: 'a run spec', subject: "the link's" });
  if (!spec.ok) return spec;
  const problems: string[] = [];
  const json = withoutPrototypeKeys(spec.json, [], problems);
  const repaired = parseRunSpecLeniently(json);
  const resultProblems: string[] = [];
  const result = decodeResult(fragmentParam(fragment, RESULT_PARAM), resultProblems);
  return { ok: true, spec: repaired.spec, problems: [...problems, ...repaired.problems, ...resultProblems], result };
}

/** The link's result part read and validated; null (with the reason in `problems`) when absent or malformed. */
function decodeResult(value: string | null, problems: string[]): ResultSummary | null {
  if (value === null) return null;
  const ignored = (why: string) => {
    problems.push(`the sender's result was ignored: ${why}`);
    return null;
  };
  if (value.length > MAX_RESULT_CHARS) return ignored(`it is ${value.length} characters long; a result has at most ${MAX_RESULT_CHARS}`);
  const payload = unpackPayload(value, { param: RESULT_PARAM, version: RESULT_VERSION, maxJsonBytes: MAX_RESULT_JSON_BYTES, what: 'a result', subject: 'its' });
  if (!payload.ok) return ignored(payload.error);
  const parsed = ResultSummarySchema.safeParse(withoutPrototypeKeys(payload.json, [], []));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return ignored(`${issue.path.length > 0 ? `${formatPath(issue.path as (string | number)[])}: ` : ''}${issue.message}`);
  }
  return parsed.data;
}

/** `<version>.<payload>` → the JSON it holds, or why not (each message begins with `subject`, e.g. "the link's"). */
function unpackPayload(
  value: string,
  o: { param: string; version: number; maxJsonBytes: number; what: string; subject: string },
): { ok: true; json: unknown } | { ok: false; error: string } {
  const fail = (error: string) => ({ ok: false as const, error });
  const dot = value.indexOf('.');
  if (dot < 0) return fail(`${o.subject} data has no version (expected ${o.param}=${o.version}.<data>)`);
  const version = value.slice(0, dot);
  if (!/^\d{1,6}$/.test(version)) return fail(`${o.subject} version ${JSON.stringify(version.slice(0, 20))} is not a number (expected ${o.version})`);
  if (Number(version) !== o.version) {
    const newer = Number(version) > o.version;
    const whose = o.subject === "the link's" ? 'the link is' : 'it is';
    return fail(`${whose} of version ${Number(version)}; this playground reads version ${o.version}${newer ? ' (the link comes from a newer playground: update this one)' : ''}`);
  }
  const payload = value.slice(dot + 1);
  if (payload.length === 0) return fail(o.subject === "the link's" ? 'the link carries no data after its version' : 'it carries no data after its version');
  if (!/^[A-Za-z0-9_-]*$/.test(payload)) return fail(`${o.subject} data is not base64url (letters, digits, "-" and "_"): it may have been cut or changed`);
  // Unpadded base64 ends in a group of 2, 3 or 4 characters; 1 left over holds no whole byte.
  if (payload.length % 4 === 1) {
    return fail(`${o.subject} data is ${payload.length} character${payload.length === 1 ? '' : 's'} long, a length base64url never has: it may have been cut`);
  }
  const bytes = fromBase64Url(payload);
  let inflated: Uint8Array;
  try {
    // One byte more than allowed tells a payload that inflates too far, without inflating it all.
    inflated = inflateSync(bytes, { out: new Uint8Array(o.maxJsonBytes + 1) });
  } catch (e) {
    return fail(`${o.subject} data is not DEFLATE-compressed (${(e as Error).message}): it may have been cut or changed`);
  }
  if (inflated.length > o.maxJsonBytes) return fail(`${o.subject} data inflates to more than ${o.maxJsonBytes} bytes; ${o.what} is far smaller`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(inflated);
  } catch {
    return fail(`${o.subject} data is not UTF-8 text`);
  }
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) return fail(`${o.subject} JSON nests ${depth} levels deep; ${o.what} has at most ${MAX_JSON_DEPTH}`);
  try {
    return { ok: true, json: JSON.parse(text) };
  } catch (e) {
    return fail(`${o.subject} data is not JSON (${(e as Error).message})`);
  }
}

/** Whether the spec equals the defaults (a link for it carries nothing new). */
export function isDefaultSpec(spec: RunSpec): boolean {
  return JSON.stringify(spec) === JSON.stringify(DEFAULT_RUN_SPEC);
}

// ---------------------------------------------------------------------------------------------

/** The value of `name=` among `&`-separated fragment parameters, else null. */
function fragmentParam(fragment: string, name: string): string | null {
  for (const part of fragment.split('&')) {
    const eq = part.indexOf('=');
    if (eq >= 0 && part.slice(0, eq) === name) return part.slice(eq + 1);
  }
  return null;
}

/** Bytes as a link's payload: raw DEFLATE at the highest level, in unpadded base64url. */
function packPayload(bytes: Uint8Array): string {
  return toBase64Url(deflateSync(bytes, { level: 9 }));
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let k = 0; k < chars; k++) out += BASE64URL[(n >> (18 - 6 * k)) & 63];
  }
  return out;
}

/** The bytes of unpadded base64url (the caller has checked its characters and length). */
function fromBase64Url(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (const ch of text) {
    value = (value << 6) | BASE64URL.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

/** The deepest nesting of [ and { outside strings. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

/** Keys that could reach an object's prototype when assigned; JSON.parse keeps them as own keys. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** A copy of parsed JSON without prototype keys, each one dropped listed in `problems`. */
function withoutPrototypeKeys(v: unknown, path: (string | number)[], problems: string[]): unknown {
  if (Array.isArray(v)) return v.map((x, i) => withoutPrototypeKeys(x, [...path, i], problems));
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (PROTOTYPE_KEYS.has(k)) {
      problems.push(`${formatPath([...path, k])}: a field name that is not allowed, ignored`);
      continue;
    }
    out[k] = withoutPrototypeKeys(x, [...path, k], problems);
  }
  return out;
}
