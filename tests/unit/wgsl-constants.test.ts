// The sizes WGSL and TypeScript must agree on (workgroup sizes, tile edges, rows per block) are
// written once, in the launchers of src/ops/, and reach the WGSL as override constants through
// the kernel spec's `constants`. The risk is a size written a second time in WGSL — a literal in
// @workgroup_size, in a workgroup array's length, or as an override's default — which the
// launcher's dispatch arithmetic then silently disagrees with when one of the two changes.
//
// So, in every shader but attention.wgsl:
//   - an override has no default unless it is derived from other constants (no number or
//     boolean in its initializer). Without a default WebGPU refuses a pipeline that is not given the constant
//     ("uninitialized pipeline overridable constants"), so a launcher that forgets one fails in
//     the kernel tier, which creates every kernel's pipeline, instead of running on a default;
//   - @workgroup_size and the lengths of var<workgroup> arrays name constants, never numbers;
//   - no launcher declares a number under the name of a WGSL const (the few sizes WGSL allows
//     only as consts, such as matmul's register block, are read from the WGSL by the launcher).

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

// attention.wgsl is owned by the attention work and still writes its tile sizes twice
// (src/ops/attention.ts: "the WGSL constants F_ROWS, ROWS, KEYS must agree").
const NOT_YET_CONVERTED = ['attention.wgsl'];

/** A number or boolean literal. */
const LITERAL = /(?<![\w.])(?:\d|true\b|false\b)/;

function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}

const shaders = readdirSync(path.join(ROOT, 'shaders'))
  .filter((f) => f.endsWith('.wgsl') && !NOT_YET_CONVERTED.includes(f))
  .sort()
  .map((f) => ({ file: f, code: stripComments(readFileSync(path.join(ROOT, 'shaders', f), 'utf8')) }));

/** The problems of one module's constants, each naming the file and the declaration. */
function constantProblems(file: string, code: string): string[] {
  const problems: string[] = [];
  for (const m of code.matchAll(/\boverride\s+(\w+)\s*(?::\s*\w+\s*)?(?:=\s*([^;]+))?;/g)) {
    if (m[2] !== undefined && LITERAL.test(m[2])) {
      problems.push(`${file}: override ${m[1]} has the default ${m[2].trim()}; give it from the launcher's constants`);
    }
  }
  for (const m of code.matchAll(/@workgroup_size\(([^)]*)\)/g)) {
    if (LITERAL.test(m[1]!)) problems.push(`${file}: @workgroup_size(${m[1]}) writes a number; use override constants`);
  }
  for (const m of code.matchAll(/var<workgroup>\s+(\w+)\s*:\s*array<\s*[\w<>]+\s*,\s*([^;]+)>\s*;/g)) {
    if (LITERAL.test(m[2]!)) problems.push(`${file}: var<workgroup> ${m[1]} has the length ${m[2]!.trim()}; use override constants`);
  }
  return problems;
}

describe('sizes shared by WGSL and TypeScript', () => {
  it('are override constants given by the launchers, never numbers in the WGSL', () => {
    expect(shaders.length).toBeGreaterThan(5);
    expect(shaders.flatMap((s) => constantProblems(s.file, s.code))).toEqual([]);
  });

  it('catches a default, a literal workgroup size and a literal workgroup array', () => {
    const bad = [
      'override GROUP: u32 = 256u;',
      'override TRANS_A: bool = false;',
      'override TILE: u32 = THREADS * REG;',
      'var<workgroup> lanes: array<f32, 256>;',
      'var<workgroup> tile: array<vec2<f32>, GROUP * 2u>;',
      'var<workgroup> ok: array<f32, GROUP>;',
      '@compute @workgroup_size(64, ROWS) fn f() {}',
      '@compute @workgroup_size(GROUP) fn g() {}',
    ].join('\n');
    expect(constantProblems('demo.wgsl', bad)).toEqual([
      'demo.wgsl: override GROUP has the default 256u; give it from the launcher\'s constants',
      'demo.wgsl: override TRANS_A has the default false; give it from the launcher\'s constants',
      'demo.wgsl: @workgroup_size(64, ROWS) writes a number; use override constants',
      'demo.wgsl: var<workgroup> lanes has the length 256; use override constants',
      'demo.wgsl: var<workgroup> tile has the length GROUP * 2u; use override constants',
    ]);
  });

  it('leave no WGSL const that a launcher also writes as a number', () => {
    const wgslConsts = new Set(shaders.flatMap((s) => [...s.code.matchAll(/^const\s+(\w+)/gm)].map((m) => m[1]!)));
    const opsDir = path.join(ROOT, 'src', 'ops');
    const twice: string[] = [];
    for (const file of readdirSync(opsDir).filter((f) => f.endsWith('.ts'))) {
      const code = stripComments(readFileSync(path.join(opsDir, file), 'utf8'));
      for (const m of code.matchAll(/^(?:export\s+)?const\s+(\w+)\s*(?::[^=]+)?=\s*([^;]+);/gm)) {
        if (wgslConsts.has(m[1]!) && /^\d/.test(m[2]!.trim())) twice.push(`src/ops/${file}: const ${m[1]} = ${m[2]!.trim()}`);
      }
    }
    expect(twice).toEqual([]);
  });
});
