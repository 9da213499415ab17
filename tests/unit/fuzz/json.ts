// Mutations of JSON inside a file (the whole file, one JSON Lines line, a safetensors header):
// boundary numbers written in place of the file's numbers, and edits of the parsed tree that keep
// the rest valid so the parser's field checks are reached, not only JSON.parse.

import type { Rng } from '../../../src/util/rng';
import { below, pick, type Mutator } from './harness';

/** A JSON text found in the bytes, and how to put an edited text back. */
export interface JsonRegion {
  text: string;
  rebuild(text: string): Uint8Array;
  /** Where the text is, for the recipe ("line 3", "the header"). */
  where: string;
}

export type FindJson = (rng: Rng, bytes: Uint8Array) => JsonRegion | null;

const utf8 = new TextEncoder();

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** Whether the text is JSON this module can edit: its tree walks recurse, so at most MAX_EDIT_DEPTH deep. */
export function editableJson(text: string): boolean {
  try {
    JSON.parse(text);
  } catch {
    return false;
  }
  return depthOf(text) <= MAX_EDIT_DEPTH;
}

const MAX_EDIT_DEPTH = 1000;

/** The deepest nesting of [ and { outside strings. */
function depthOf(text: string): number {
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

/** The whole file, when it is UTF-8 JSON. */
export const wholeFile: FindJson = (_, bytes) => {
  const text = decodeUtf8(bytes);
  if (text === null || !editableJson(text)) return null;
  return { text, rebuild: (t) => utf8.encode(t), where: 'the file' };
};

/** One line of a JSON Lines file that holds JSON. */
export const oneLine: FindJson = (rng, bytes) => {
  const text = decodeUtf8(bytes);
  if (text === null) return null;
  const lines = text.split('\n');
  const candidates = lines.flatMap((line, i) => (line.trim() !== '' && editableJson(line) ? [i] : []));
  if (candidates.length === 0) return null;
  const i = pick(rng, candidates);
  return {
    text: lines[i],
    rebuild: (t) => utf8.encode([...lines.slice(0, i), t, ...lines.slice(i + 1)].join('\n')),
    where: `line ${i + 1}`,
  };
};

/**
 * Numbers a parser may mistake: zero and signs, the edges of int32, uint32 and safe integers, 2^64,
 * the largest and smallest doubles, fractions, and texts that JSON does not allow (NaN, 0x10, 00).
 */
export const NUMBER_TEXTS = [
  '0', '-0', '-1', '1', '2', '3', '0.5', '1.5', '-0.5', '1e2', '1E-7',
  '255', '256', '65536', '2147483647', '2147483648', '-2147483648', '-2147483649', '4294967295', '4294967296',
  '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993', '18446744073709551615', '18446744073709551616',
  '1e308', '1.7976931348623157e308', '1e309', '-1e308', '5e-324', '1e-400', '1e999', '-1e999',
  'NaN', 'Infinity', '-Infinity', '00', '0x10', '+1', '.5', '1.', '--1', '1e', '"1"', '"0x10"', 'null', 'true', '[]', '{}',
];

/** Values of other kinds: strings empty, long, odd; null; booleans; containers empty and not. */
const VALUE_TEXTS = [
  '""', '"x"', '" "', `"${'x'.repeat(1000)}"`, '"\\u0000"', '"\\ud800"', '"é😀"', '"__proto__"', '"<script>"',
  'null', 'true', 'false', '[]', '{}', '[0]', '[-1]', '[[]]', '{"a":1}', '[null]', '["x"]',
];

const KEY_TEXTS = ['', ' ', '__proto__', 'constructor', 'prototype', 'toString', '__metadata__', 'a.b', '0', '\u0000'];

/** The parsed JSON as a tree whose leaves are raw text, so edits may write any text, valid JSON or not. */
type Node = { kind: 'raw'; text: string } | { kind: 'array'; items: Node[] } | { kind: 'object'; entries: [string, Node][] };

function toNode(v: unknown): Node {
  if (Array.isArray(v)) return { kind: 'array', items: v.map(toNode) };
  if (typeof v === 'object' && v !== null) return { kind: 'object', entries: Object.entries(v).map(([k, x]) => [k, toNode(x)]) };
  return { kind: 'raw', text: JSON.stringify(v) };
}

function toText(n: Node): string {
  if (n.kind === 'raw') return n.text;
  if (n.kind === 'array') return `[${n.items.map(toText).join(',')}]`;
  return `{${n.entries.map(([k, x]) => `${JSON.stringify(k)}:${toText(x)}`).join(',')}}`;
}

/** A deep copy, through the text: every leaf of a tree being edited is still valid JSON. */
function copyOf(n: Node): Node {
  return toNode(JSON.parse(toText(n)));
}

/** A node and where it sits: its container and its index there (none for the root). */
interface Place {
  node: Node;
  path: string;
  parent: Extract<Node, { kind: 'array' | 'object' }> | null;
  index: number;
}

function places(root: Node): Place[] {
  const out: Place[] = [];
  const stack: Place[] = [{ node: root, path: '$', parent: null, index: -1 }];
  while (stack.length > 0 && out.length < 20_000) {
    const p = stack.pop()!;
    out.push(p);
    const n = p.node;
    if (n.kind === 'array') n.items.forEach((node, index) => stack.push({ node, path: `${p.path}[${index}]`, parent: n, index }));
    if (n.kind === 'object') n.entries.forEach(([k, node], index) => stack.push({ node, path: `${p.path}.${k}`, parent: n, index }));
  }
  return out;
}

/** Puts `node` where `place` is; returns the root, which is `node` when the place is the root. */
function replace(root: Node, place: Place, node: Node): Node {
  const parent = place.parent;
  if (parent === null) return node;
  if (parent.kind === 'array') parent.items[place.index] = node;
  else parent.entries[place.index][1] = node;
  return root;
}

/** One edit of the tree: the edited text and what was done. */
function editTree(rng: Rng, text: string, values: readonly string[]): { text: string; what: string } {
  let root = toNode(JSON.parse(text));
  const all = places(root);
  // Any node, or half the time a number: formats keep their sizes, offsets and ids in numbers.
  const numbers = all.filter((p) => p.node.kind === 'raw' && /^-?\d/.test(p.node.text));
  const place = numbers.length > 0 && below(rng, 2) === 0 ? pick(rng, numbers) : pick(rng, all);
  const raw = (t: string): Node => ({ kind: 'raw', text: t });
  const r = below(rng, 10);
  let what: string;
  if (r < 4) {
    const t = pick(rng, NUMBER_TEXTS);
    root = replace(root, place, raw(t));
    what = `${place.path} := ${t}`;
  } else if (r < 6) {
    const t = pick(rng, values);
    root = replace(root, place, raw(t));
    what = `${place.path} := ${t.slice(0, 20)}`;
  } else if (r === 6 && place.parent !== null) {
    if (place.parent.kind === 'array') place.parent.items.splice(place.index, 1);
    else place.parent.entries.splice(place.index, 1);
    what = `delete ${place.path}`;
  } else if (r === 7 && place.parent?.kind === 'object') {
    // A key twice: JSON.parse keeps the last, a strict parser refuses it.
    const [key] = place.parent.entries[place.index];
    // A copy: the other node may be an ancestor, which by reference would make a cycle.
    const value = copyOf(below(rng, 2) === 0 ? place.node : pick(rng, all).node);
    place.parent.entries.push([key, value]);
    what = `duplicate key ${place.path}`;
  } else if (r === 8 && place.parent?.kind === 'object') {
    const keys = [...KEY_TEXTS, ...all.flatMap((p) => (p.parent?.kind === 'object' ? [p.parent.entries[p.index][0]] : []))];
    const key = pick(rng, keys);
    place.parent.entries[place.index][0] = key;
    what = `rename ${place.path} to ${JSON.stringify(key)}`;
  } else if (place.node.kind === 'array' && below(rng, 2) === 0) {
    const items = place.node.items;
    const times = 2 + below(rng, 1000);
    place.node.items = Array.from({ length: times }, () => items).flat();
    what = `repeat the items of ${place.path} ${times}×`;
  } else {
    const other = pick(rng, all);
    root = replace(root, place, copyOf(other.node));
    what = `${place.path} := a copy of ${other.path}`;
  }
  return { text: toText(root), what };
}

/**
 * Mutators for JSON found by `find` in the bytes: boundary numbers, tree edits, deep nesting.
 * `formatValues`: JSON texts that mean something to the format (a path, a kind), written like the others.
 */
export function jsonMutators(find: FindJson, formatValues: readonly string[] = []): Mutator[] {
  const values = [...VALUE_TEXTS, ...formatValues];
  return [
    {
      name: 'json number',
      weight: 4,
      apply(rng, bytes) {
        const region = find(rng, bytes);
        if (region === null) return null;
        const numbers = [...region.text.matchAll(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g)];
        if (numbers.length === 0) return null;
        const m = pick(rng, numbers);
        const t = pick(rng, NUMBER_TEXTS);
        const text = region.text.slice(0, m.index) + t + region.text.slice(m.index + m[0].length);
        return { bytes: region.rebuild(text), what: `${region.where}: number ${m[0]} at ${m.index} := ${t}` };
      },
    },
    {
      name: 'json edit',
      weight: 6,
      apply(rng, bytes) {
        const region = find(rng, bytes);
        if (region === null) return null;
        const { text, what } = editTree(rng, region.text, values);
        return { bytes: region.rebuild(text), what: `${region.where}: ${what}` };
      },
    },
    {
      name: 'json nesting',
      weight: 1,
      apply(rng, bytes) {
        const region = find(rng, bytes);
        if (region === null) return null;
        // Deep enough to overflow a recursive walk or JSON.stringify (5,000 levels do in Node), or merely unusual.
        const depth = pick(rng, [2, 64, 1000, 20_000]);
        const [open, close] = below(rng, 2) === 0 ? ['[', ']'] : ['{"a":', '}'];
        const tree = toNode(JSON.parse(region.text));
        const place = pick(rng, places(tree));
        const root = replace(tree, place, { kind: 'raw', text: open.repeat(depth) + toText(place.node) + close.repeat(depth) });
        return { bytes: region.rebuild(toText(root)), what: `${region.where}: ${place.path} nested ${depth} levels in ${open}` };
      },
    },
  ];
}
