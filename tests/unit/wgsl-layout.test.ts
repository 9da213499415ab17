// The binding contract the runtime reads from WGSL source (src/gpu/wgsl-layout.ts).

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBindings, parseConstU32, withConstU32 } from '../../src/gpu/wgsl-layout';

const code = `
struct P { n: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> other: array<f32>;

fn helper(i: u32) -> f32 { return x[i] * p.scale; }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  // gid.x is a swizzle, and the local 'stats' shadows the binding of that name
  let stats = 2.0;
  if (gid.x < p.n) { y[gid.x] = helper(gid.x) * stats; }
}

@compute @workgroup_size(64)
fn second(@builtin(global_invocation_id) gid: vec3<u32>) { other[gid.x] = stats[gid.x]; }
`;

describe('parseBindings', () => {
  it('lists only the bindings an entry point reaches, through the functions it calls', () => {
    const b = parseBindings(code, 'demo', 'main');
    expect(b.map((d) => [d.binding, d.name, d.kind])).toEqual([
      [0, 'p', 'uniform'],
      [1, 'x', 'read-only-storage'],
      [2, 'y', 'storage'],
    ]);
    expect(b[0]!.fields).toEqual([
      { name: 'n', type: 'u32' },
      { name: 'scale', type: 'f32' },
    ]);
    expect(parseBindings(code, 'demo', 'second').map((d) => d.name)).toEqual(['stats', 'other']);
  });

  it('names the module and the problem for what it cannot lay out', () => {
    expect(() => parseBindings(code, 'demo', 'missing')).toThrow('WGSL module "demo": entry point fn missing not found');
    const vec = code.replace('scale: f32', 'scale: vec2<f32>');
    expect(() => parseBindings(vec, 'demo', 'main')).toThrow(/uniform field "scale: vec2<f32>" of P: only u32, i32 and f32 scalars/);
  });
});

describe('parseConstU32', () => {
  it('reads a module-scope u32 const, typed or not, and nothing in a comment', () => {
    const module = '// const REG = 8u;\nconst REG = 4u;\nconst LANES: u32 = 16u;\nfn f() { let REGS = 2u; }';
    expect(parseConstU32(module, 'REG', 'demo')).toBe(4);
    expect(parseConstU32(module, 'LANES', 'demo')).toBe(16);
  });

  it('names the module and the constant it did not find', () => {
    expect(() => parseConstU32('override REG: u32;', 'REG', 'demo')).toThrow(
      'WGSL module "demo": no module-scope "const REG = <integer>u;" found',
    );
  });
});

describe('withConstU32', () => {
  it('sets the declaration and nothing else (not a comment, not a longer name)', () => {
    const module = '// const REG = 4u;\nconst REG = 4u;          // register block\nconst REGS: u32 = 4u;\nfn f() { let x = REG; }';
    const set = withConstU32(module, 'REG', 8, 'demo');
    expect(parseConstU32(set, 'REG', 'demo')).toBe(8);
    expect(parseConstU32(set, 'REGS', 'demo')).toBe(4);
    expect(set).toBe('// const REG = 4u;\nconst REG = 8u;          // register block\nconst REGS: u32 = 4u;\nfn f() { let x = REG; }');
    expect(parseConstU32(withConstU32(module, 'REGS', 2, 'demo'), 'REGS', 'demo')).toBe(2);
  });

  it('names the module when the const is missing or the value is not a u32', () => {
    expect(() => withConstU32('override REG: u32;', 'REG', 8, 'demo')).toThrow('WGSL module "demo": no module-scope "const REG = <integer>u;" found');
    expect(() => withConstU32('const REG = 4u;', 'REG', -1, 'demo')).toThrow('WGSL module "demo": const REG must be a u32, got -1');
  });
});

describe('the project\'s kernels', () => {
  const dir = new URL('../../shaders/', import.meta.url);
  const modules = readdirSync(dir).filter((f) => f.endsWith('.wgsl'));

  it.each(modules)("%s: every entry point binds at most 8 storage buffers (WebGPU's default maxStorageBuffersPerShaderStage)", (file) => {
    const code = readFileSync(new URL(file, dir), 'utf8');
    const entryPoints = [...code.matchAll(/@compute[^;{]*?fn\s+(\w+)/g)].map((m) => m[1]!);
    expect(entryPoints.length).toBeGreaterThan(0);
    for (const entryPoint of entryPoints) {
      const storage = parseBindings(code, file, entryPoint).filter((b) => b.kind !== 'uniform');
      expect(storage.length, `${file}: ${entryPoint} binds ${storage.map((b) => b.name).join(', ')}`).toBeLessThanOrEqual(8);
    }
  });
});
