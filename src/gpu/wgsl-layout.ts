// Reads the binding contract of one entry point of a WGSL module from its source: the
// `@group(0) @binding(i) var<…> name: type;` declarations that the entry point's function, or
// a function it calls, names — and the fields of its uniform struct. Several kernels can then
// share a file while each gets an explicit layout of only the buffers it touches. The runtime
// binds tensors by these names and packs the uniform parameters by field name, so a missing or
// misspelled name is caught before anything reaches the GPU.

export type BindingKind = 'uniform' | 'read-only-storage' | 'storage';

export interface BindingDecl {
  binding: number;
  name: string;
  kind: BindingKind;
  /** For the uniform binding: its struct's scalar fields in declaration order. */
  fields?: UniformField[];
}

export interface UniformField {
  name: string;
  type: 'u32' | 'i32' | 'f32';
}

const bindingPattern =
  /@group\(\s*0\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*(uniform|storage)\s*(?:,\s*(read|read_write)\s*)?>\s*(\w+)\s*:\s*([\w<>, ]+?)\s*;/g;

/**
 * Parses the group-0 bindings that `entryPoint` of `code` uses; `kernel` names the module in
 * error messages.
 */
export function parseBindings(code: string, kernel: string, entryPoint: string): BindingDecl[] {
  const source = stripComments(code);
  const used = identifiersReachedFrom(source, entryPoint, kernel);
  const decls: BindingDecl[] = [];
  for (const m of source.matchAll(bindingPattern)) {
    const [, index, space, access, name, type] = m;
    if (!used.has(name!)) continue;
    const kind: BindingKind =
      space === 'uniform' ? 'uniform' : access === 'read_write' ? 'storage' : 'read-only-storage';
    const decl: BindingDecl = { binding: Number(index), name: name!, kind };
    if (kind === 'uniform') decl.fields = parseStructFields(source, type!.trim(), kernel);
    decls.push(decl);
  }
  if (/@group\(\s*[1-9]/.test(source)) {
    throw new Error(`WGSL module "${kernel}": only @group(0) is supported by the runtime`);
  }
  const seen = new Set<number>();
  for (const d of decls) {
    if (seen.has(d.binding)) throw new Error(`WGSL module "${kernel}": @binding(${d.binding}) declared twice`);
    seen.add(d.binding);
  }
  return decls.sort((a, b) => a.binding - b.binding);
}

function parseStructFields(source: string, structName: string, kernel: string): UniformField[] {
  const body = new RegExp(`struct\\s+${structName}\\s*\\{([^}]*)\\}`).exec(source)?.[1];
  if (body === undefined) throw new Error(`WGSL module "${kernel}": uniform struct ${structName} not found`);
  return body
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f.length > 0)
    .map((f) => {
      const m = /^(\w+)\s*:\s*(\w+)$/.exec(f);
      if (!m || !['u32', 'i32', 'f32'].includes(m[2]!)) {
        throw new Error(
          `WGSL module "${kernel}": uniform field "${f}" of ${structName}: only u32, i32 and f32 scalars are supported`,
        );
      }
      return { name: m[1]!, type: m[2] as UniformField['type'] };
    });
}

/**
 * The value of the module-scope `const NAME = <integer>u;` of `code`, for the few sizes WGSL
 * allows only as constants (a function-scope array's length) that a launcher also needs.
 * `kernel` names the module in error messages.
 */
export function parseConstU32(code: string, name: string, kernel: string): number {
  const m = new RegExp(`^const\\s+${name}\\s*(?::\\s*u32\\s*)?=\\s*(\\d+)u?\\s*;`, 'm').exec(stripComments(code));
  if (!m) throw new Error(`WGSL module "${kernel}": no module-scope "const ${name} = <integer>u;" found`);
  return Number(m[1]);
}

/**
 * `code` with its module-scope `const name = <n>u;` set to `value`: a compile-time parameter of a
 * module whose const sizes an array (an override cannot), such as a register block.
 */
export function withConstU32(code: string, name: string, value: number, kernel: string): string {
  if (!Number.isInteger(value) || value < 0) throw new Error(`WGSL module "${kernel}": const ${name} must be a u32, got ${value}`);
  parseConstU32(code, name, kernel); // throws, naming the module, when there is no such const
  return code.replace(new RegExp(`^(const\\s+${name}\\s*(?::\\s*u32\\s*)?=\\s*)\\d+u?(\\s*;)`, 'm'), `$1${value}u$2`);
}

/** Every identifier in the body of `entry` and of the functions it calls, transitively. */
function identifiersReachedFrom(source: string, entry: string, kernel: string): Set<string> {
  const bodies = new Map<string, string>();
  for (const m of source.matchAll(/\bfn\s+(\w+)\s*\(/g)) {
    const open = source.indexOf('{', m.index);
    let depth = 0;
    let end = open;
    for (; end < source.length; end++) {
      if (source[end] === '{') depth++;
      else if (source[end] === '}' && --depth === 0) break;
    }
    bodies.set(m[1]!, source.slice(m.index, end + 1));
  }
  if (!bodies.has(entry)) throw new Error(`WGSL module "${kernel}": entry point fn ${entry} not found`);
  const seen = new Set<string>();
  const idents = new Set<string>();
  const visit = (fn: string) => {
    if (seen.has(fn)) return;
    seen.add(fn);
    const body = bodies.get(fn)!;
    // Names the function declares itself (parameters, let/var/const) shadow module variables.
    const params = /\(([^)]*)\)/.exec(body)?.[1] ?? '';
    const locals = new Set([
      ...[...params.matchAll(/(?:^|,)\s*(?:@\w+(?:\([^)]*\))?\s*)*(\w+)\s*:/g)].map((m) => m[1]!),
      ...[...body.matchAll(/\b(?:let|var|const)\s+(\w+)/g)].map((m) => m[1]!),
    ]);
    // An identifier after '.' is a member or swizzle (gid.x), not a use of a variable.
    for (const [, id] of body.matchAll(/(?<![.\w])\s*([A-Za-z_]\w*)\b/g)) {
      if (locals.has(id!)) continue;
      idents.add(id!);
      if (bodies.has(id!)) visit(id!);
    }
  };
  visit(entry);
  return idents;
}

function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}
