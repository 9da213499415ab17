// A small, strict flag parser for the d2lora commands: `--name value`, `--name=value`, and
// boolean `--flag`. Unknown flags and missing values are errors that say what is accepted.

export interface FlagSpec {
  type: 'string' | 'number' | 'boolean';
  help: string;
  default?: string | number | boolean;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseFlags(argv: readonly string[], specs: Record<string, FlagSpec>, command: string): FlagValues {
  const values: FlagValues = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`${command}: unexpected argument "${arg}"; see "d2lora ${command} --help"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) {
      throw new UsageError(`${command}: unknown flag --${name}; accepted: ${Object.keys(specs).map((f) => `--${f}`).join(', ')}`);
    }
    if (spec.type === 'boolean') {
      values[name] = eq < 0 ? true : !['false', '0', 'no'].includes(arg.slice(eq + 1));
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new UsageError(`${command}: --${name} needs a value (${spec.help})`);
    if (spec.type === 'number') {
      const v = Number(raw);
      if (!Number.isFinite(v)) throw new UsageError(`${command}: --${name} must be a number, got "${raw}"`);
      values[name] = v;
    } else {
      values[name] = raw;
    }
  }
  return values;
}

export function formatHelp(command: string, summary: string, specs: Record<string, FlagSpec>): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const flag = s.type === 'boolean' ? `--${name}` : `--${name} <${s.type}>`;
    const def = s.default !== undefined && s.default !== false ? ` (default: ${s.default})` : '';
    return `  ${flag.padEnd(26)} ${s.help}${def}`;
  });
  return `d2lora ${command} — ${summary}\n\nFlags:\n${rows.join('\n')}\n  --help                     this text\n`;
}
