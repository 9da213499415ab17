// A small, strict flag parser for the d2lora commands: `--name value`, `--name=value`, and
// boolean `--flag`. Unknown flags and missing values are errors that say what is accepted.

export interface FlagSpec {
  type: 'string' | 'number' | 'boolean';
  help: string;
  /** The value when the flag is not given (flags that describe a run have none: the RunSpec has them). */
  default?: string | number | boolean;
  /** What --help shows as the default when the flag itself has none. */
  shows?: string | undefined;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** A decimal number as the flags take it: 16, -1, 0.5, .5, 5e-3. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

export function parseFlags(argv: readonly string[], specs: Record<string, FlagSpec>, command: string): FlagValues {
  const values: FlagValues = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"; see "d2lora ${command} --help"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) {
      throw new UsageError(`unknown flag --${name}; accepted: ${Object.keys(specs).map((f) => `--${f}`).join(', ')}`);
    }
    if (spec.type === 'boolean') {
      const raw = eq < 0 ? 'true' : arg.slice(eq + 1).toLowerCase();
      if (!['true', 'false', '1', '0', 'yes', 'no'].includes(raw)) {
        throw new UsageError(`--${name} is on or off: --${name}, --${name}=true or --${name}=false, got "${arg.slice(eq + 1)}"`);
      }
      values[name] = ['true', '1', 'yes'].includes(raw);
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined || raw.trim() === '') throw new UsageError(`--${name} needs a value (${spec.help})`);
    if (spec.type === 'number') {
      // Decimal only: Number() would also read "0x10" as 16, "0b1" as 1 and "  5 " as 5.
      const v = DECIMAL.test(raw) ? Number(raw) : NaN;
      if (!Number.isFinite(v)) throw new UsageError(`--${name} must be a decimal number, got "${raw}"`);
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
    const shown = s.default !== undefined && s.default !== false ? String(s.default) : s.shows;
    const def = shown !== undefined && shown !== '' ? ` (default: ${shown})` : '';
    return `  ${flag.padEnd(26)} ${s.help}${def}`;
  });
  return `d2lora ${command} — ${summary}\n\nFlags:\n${rows.join('\n')}\n  --help                     this text\n`;
}
