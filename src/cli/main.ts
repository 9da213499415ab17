// The d2lora command line: `d2lora <command> [flags]`, each command with --help.

import { formatHelp, parseFlags, UsageError, type FlagSpec, type FlagValues } from './args';
import { benchCommand, benchFlags } from './bench';
import { compareCommand, compareFlags } from './compare';
import { evalCommand, evalFlags } from './eval';
import { exportOnnxCommand, exportOnnxFlags } from './export-onnx';
import { generateCommand, generateFlags } from './generate';
import { linkCommand, linkFlags } from './link';
import { flagOf } from './spec-flags';
import { trainCommand, trainFlags } from './train';
import { RunDivergedError } from '../run/run';
import { describeDivergence, formatSetting } from '../train/trainer';

interface Command {
  summary: string;
  flags: Record<string, FlagSpec>;
  /** A leading argument that is not a flag, as the value `name` (`d2lora export-onnx <folder>`). */
  positional?: { name: string; usage: string };
  run(flags: FlagValues): Promise<number>;
}

const commands: Record<string, Command> = {
  train: { summary: 'fine-tune a model on a task, evaluate before/after, write the merged checkpoint', flags: trainFlags, run: trainCommand },
  compare: { summary: 'LoRA r, LoRA 2r, DoRA r and D2-LoRA r over seeds on one task, as a table', flags: compareFlags, run: compareCommand },
  link: { summary: 'print the share link of a run (the same flags as train): opening it fills the page with that run', flags: linkFlags, run: linkCommand },
  eval: { summary: 'accuracy of a checkpoint (optionally with an adapter) on a task', flags: evalFlags, run: evalCommand },
  generate: { summary: 'generate text from a model (greedy or sampled)', flags: generateFlags, run: generateCommand },
  'export-onnx': {
    summary: 'add the model of a folder (an output folder of train) as ONNX, onnx/model.onnx, for onnxruntime and transformers.js',
    flags: exportOnnxFlags,
    positional: { name: 'folder', usage: '<folder>' },
    run: exportOnnxCommand,
  },
  bench: { summary: 'benchmark kernels, adapter layers and training (GFLOP/s, ms, tokens/s)', flags: benchFlags, run: benchCommand },
};

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `usage: d2lora <command> [flags]\n\nCommands:\n${rows.join('\n')}\n\nRun "d2lora <command> --help" for a command's flags.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`d2lora: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(formatHelp(command.positional ? `${name} ${command.positional.usage}` : name, command.summary, command.flags));
    return 0;
  }
  try {
    const positional = command.positional && rest[0] !== undefined && !rest[0].startsWith('--') ? rest[0] : undefined;
    const flags = parseFlags(positional === undefined ? rest : rest.slice(1), command.flags, name);
    if (command.positional && positional !== undefined) flags[command.positional.name] = positional;
    return await command.run(flags);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`d2lora ${name}: ${messageOf(err)}\n`);
    if (!(err instanceof UsageError) && process.env.D2LORA_DEBUG) process.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

/** The error as the command line says it: a divergence suggests flags, not spec fields. */
function messageOf(err: Error): string {
  if (err instanceof RunDivergedError) return describeDivergence(err.divergence, (s) => `${flagOf(s.path)} ${formatSetting(s.value)}`);
  return err.message;
}
