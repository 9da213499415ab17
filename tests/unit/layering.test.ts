// The layering of src/, checked from the import statements of every source file: the runtime is
// the bottom, the kernels sit on it, the CPU references are the tests' (and the self-test's)
// oracle only, and the page's components see no GPU code. A lower layer never imports a higher
// one; each rule below says which imports that forbids and why.
//
// The imports are read with a small scanner, not the compiler: static `import`/`export … from`
// statements (also over several lines), side-effect imports, dynamic `import('…')` and
// `new URL('…', import.meta.url)` (how a worker is loaded). A statement whose every name is a
// type (`import type`, `export type`, or `{ type A, type B }`) is a type-only import.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');

/** Every top-level entry of src/, by its layer name (a folder, or a root file without extension). */
const LAYERS = [
  'adapters', 'bench', 'cli', 'export', 'gpu', 'io', 'main', 'model', 'onnx', 'ops', 'ref', 'run', 'selftest',
  'share', 'state', 'store', 'tasks', 'tokenizer', 'train', 'ui', 'util', 'worker',
] as const;
type Layer = (typeof LAYERS)[number];

interface Rule {
  /** The layers whose files the rule constrains. */
  from: readonly Layer[];
  /** What they may not import ('tests' is the tests/ folder). */
  forbidden: readonly (Layer | 'tests')[];
  /** Type-only imports are allowed: they are erased by the compiler and ship no code. */
  typesAllowed: boolean;
  why: string;
}

const RULES: readonly Rule[] = [
  {
    from: ['gpu'],
    forbidden: [
      'adapters', 'bench', 'cli', 'export', 'io', 'main', 'model', 'onnx', 'ops', 'ref', 'run', 'selftest', 'share', 'state',
      'store', 'tasks', 'tokenizer', 'train', 'ui', 'worker',
    ],
    typesAllowed: false,
    why: 'src/gpu/ is the runtime every layer stands on: it imports nothing from src/ but util/',
  },
  {
    from: ['ops'],
    forbidden: [
      'adapters', 'bench', 'cli', 'export', 'io', 'main', 'model', 'onnx', 'ref', 'run', 'selftest', 'share', 'state', 'store',
      'tasks', 'tokenizer', 'train', 'ui', 'worker',
    ],
    typesAllowed: false,
    why: 'a launcher stands on the runtime alone; the contracts it shares with a reference are defined in ops/ (ref/ may import them)',
  },
  {
    from: [
      'adapters', 'bench', 'cli', 'export', 'gpu', 'io', 'main', 'model', 'onnx', 'ops', 'run', 'share', 'state', 'store',
      'tasks', 'tokenizer', 'train', 'ui', 'util', 'worker',
    ],
    forbidden: ['ref'],
    typesAllowed: false,
    why: 'src/ref/ is the oracle: imported by the tests and the self-test only',
  },
  {
    from: ['util', 'gpu', 'ops', 'adapters', 'io', 'tokenizer', 'model', 'onnx', 'tasks', 'train', 'export'],
    forbidden: ['run', 'store', 'worker', 'state', 'ui', 'cli', 'bench', 'main'],
    typesAllowed: false,
    why: 'data flows one way, io → model → train → run → worker → state → ui: the engine knows no front door',
  },
  {
    from: ['io'],
    forbidden: ['export'],
    typesAllowed: false,
    why: 'io/ reads and validates what comes from outside; export/ writes, built on io/ (their shared formats live in io/)',
  },
  {
    from: ['util', 'gpu', 'ops', 'adapters', 'io', 'tokenizer', 'model', 'tasks', 'train'],
    forbidden: ['onnx'],
    typesAllowed: false,
    why: 'onnx/ builds the ONNX decoder from a model and runs it in onnxruntime-web: it stands on model/ and io/, which know nothing of it',
  },
  {
    from: ['onnx'],
    forbidden: ['export'],
    typesAllowed: false,
    why: 'export/ writes the ONNX folder with onnx/ (the graph, the file, the runtime), never the other way round',
  },
  {
    from: ['run', 'share'],
    forbidden: ['store', 'worker', 'state', 'ui', 'cli'],
    typesAllowed: false,
    why: 'the run core is the only thing the front doors call; it knows neither of them, nor where they keep its results (store/ stands on run/)',
  },
  {
    from: ['store'],
    forbidden: ['worker', 'state', 'ui', 'cli', 'bench', 'main'],
    typesAllowed: false,
    why: "persistence sits under the front doors: the worker and the page's state both call it, so it knows neither (it stands on run/, io/ and util/)",
  },
  {
    from: ['worker'],
    forbidden: ['state', 'ui', 'cli'],
    typesAllowed: false,
    why: 'the worker runs the core behind messages; the page state above it talks to it through the client',
  },
  {
    from: ['state'],
    forbidden: ['ui', 'cli'],
    typesAllowed: false,
    why: 'stores hold data and actions; components render them',
  },
  {
    from: LAYERS,
    forbidden: ['tests'],
    typesAllowed: false,
    why: 'the application never depends on its tests',
  },
  {
    from: ['ui'],
    forbidden: ['gpu', 'ops', 'model', 'onnx'],
    typesAllowed: true,
    why: 'components read plain data from state/ and call its actions: no GPU code (nor onnxruntime) in ui/ (naming a type of a lower layer is fine)',
  },
];

/**
 * Imports that break a rule today, in files other agents own, each with how to fix it. The test
 * fails when one disappears (so the list shrinks) as well as when a new one appears.
 */
const KNOWN_EXCEPTIONS: readonly { file: string; imports: string; fix: string }[] = [
];

interface Import {
  /** Repository-relative path the specifier resolves to (no query such as ?raw). */
  target: string;
  typeOnly: boolean;
  line: number;
}

/** Blanks out comments (keeping line breaks, so line numbers hold); strings are left as they are. */
function stripComments(code: string): string {
  let out = '';
  let i = 0;
  while (i < code.length) {
    const c = code[i]!;
    const next = code[i + 1];
    if (c === '/' && next === '/') {
      while (i < code.length && code[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = code.indexOf('*/', i + 2);
      const stop = end < 0 ? code.length : end + 2;
      out += code.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      // Skip the string whole, so that '//' or '/*' inside it is not taken for a comment.
      let j = i + 1;
      while (j < code.length && code[j] !== c) j += code[j] === '\\' ? 2 : 1;
      out += code.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** A clause such as `type { A }`, `{ type A, type B }`, `X, { type A }`: true if it names types only. */
function clauseIsTypeOnly(clause: string): boolean {
  const c = clause.trim();
  if (/^type\b/.test(c)) return true;
  const braces = /^\{([\s\S]*)\}$/.exec(c);
  if (!braces) return false; // a default or namespace import is a value
  const names = braces[1]!.split(',').map((n) => n.trim()).filter((n) => n.length > 0);
  return names.length > 0 && names.every((n) => /^type\s/.test(n));
}

function importsOf(code: string, file: string): Import[] {
  const source = stripComments(code);
  const found: Import[] = [];
  const add = (specifier: string, typeOnly: boolean, index: number) => {
    if (!specifier.startsWith('.')) return; // a package
    const target = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), specifier.replace(/\?.*$/, '')));
    found.push({ target: target.split(path.sep).join('/'), typeOnly, line: source.slice(0, index).split('\n').length });
  };
  // import … from '…' / export … from '…', where … may span lines but holds no ';' or quote.
  for (const m of source.matchAll(/(?<![\w$.])(import|export)\s+([^;'"`]*?)\s*\bfrom\s*(['"])([^'"]+)\3/g)) {
    add(m[4]!, clauseIsTypeOnly(m[2]!), m.index);
  }
  for (const m of source.matchAll(/(?<![\w$.])import\s*(['"])([^'"]+)\1/g)) add(m[2]!, false, m.index);
  for (const m of source.matchAll(/(?<![\w$.])import\s*\(\s*(['"])([^'"]+)\1\s*\)/g)) add(m[2]!, false, m.index);
  for (const m of source.matchAll(/new\s+URL\s*\(\s*(['"])([^'"]+)\1\s*,\s*import\.meta\.url\s*\)/g)) add(m[2]!, false, m.index);
  return found;
}

/** The layer of a repository-relative path: src/<layer>/…, src/<layer>.ts, or 'tests'. */
function layerOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'tests') return 'tests';
  if (parts[0] !== 'src') return parts[0]!;
  return parts.length === 2 ? parts[1]!.replace(/\.[^.]+$/, '') : parts[1]!;
}

/** The file an extensionless specifier names, as the bundler resolves it. */
function resolveFile(target: string): string {
  const candidates = [target, `${target}.ts`, `${target}.tsx`, `${target}/index.ts`];
  return candidates.find((c) => existsSync(path.join(ROOT, c)) && /\.\w+$/.test(c)) ?? target;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

describe('layering of src/', () => {
  const files = sourceFiles(SRC);

  it('knows every layer of src/', () => {
    const layers = new Set(files.map(layerOf));
    expect([...layers].filter((l) => !(LAYERS as readonly string[]).includes(l)), 'a new layer needs a place in LAYERS and RULES').toEqual([]);
  });

  it('reads imports over several lines, type-only or not, and ignores comments', () => {
    const code = [
      "// import { a } from '../ref/x';",
      "/* import '../ref/y'; */",
      "import {",
      "  type A,",
      "  type B,",
      "} from '../gpu/context';",
      "import { type C, d } from '../gpu/tensor';",
      "import type E from '../ops/matmul';",
      "export { f } from '../ops/norms';",
      "import wgsl from '../../shaders/norms.wgsl?raw';",
      "const url = 'http://x/*';",
      "import './styles.css';",
      "const w = new Worker(new URL('./w.ts', import.meta.url));",
      "const lazy = () => import('../ref/model');",
      "import pkg from 'react';",
    ].join('\n');
    expect(importsOf(code, 'src/ui/demo.ts')).toEqual([
      { target: 'src/gpu/context', typeOnly: true, line: 3 },
      { target: 'src/gpu/tensor', typeOnly: false, line: 7 },
      { target: 'src/ops/matmul', typeOnly: true, line: 8 },
      { target: 'src/ops/norms', typeOnly: false, line: 9 },
      { target: 'shaders/norms.wgsl', typeOnly: false, line: 10 },
      { target: 'src/ui/styles.css', typeOnly: false, line: 12 },
      { target: 'src/ref/model', typeOnly: false, line: 14 },
      { target: 'src/ui/w.ts', typeOnly: false, line: 13 },
    ]);
  });

  it('has no import that a rule forbids, beyond the known exceptions', () => {
    const violations: string[] = [];
    const exceptions = new Set<string>();
    for (const file of files) {
      const from = layerOf(file) as Layer;
      for (const imp of importsOf(readFileSync(path.join(ROOT, file), 'utf8'), file)) {
        const to = layerOf(imp.target);
        for (const rule of RULES) {
          if (!rule.from.includes(from) || !(rule.forbidden as readonly string[]).includes(to)) continue;
          if (imp.typeOnly && rule.typesAllowed) continue;
          const target = resolveFile(imp.target);
          if (KNOWN_EXCEPTIONS.some((e) => e.file === file && e.imports === target)) exceptions.add(`${file} → ${target}`);
          else violations.push(`${file}:${imp.line} imports ${target}${imp.typeOnly ? ' (types)' : ''}: ${rule.why}`);
        }
      }
    }
    expect(violations).toEqual([]);
    // An exception that no longer occurs is struck from the list.
    expect([...exceptions].sort()).toEqual(KNOWN_EXCEPTIONS.map((e) => `${e.file} → ${e.imports}`).sort());
  });
});
