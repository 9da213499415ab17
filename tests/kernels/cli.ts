// The d2lora command in a child process, as a person runs it: its exit code, what it printed and
// how long it took. A child process is the honest way to see what a person sees (an unhandled
// rejection, a stack trace, the exit code).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `d2lora <args>` (scripts/d2lora.mjs) from the project's root. */
export function d2lora(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return runNode(['scripts/d2lora.mjs', ...args], env);
}

/**
 * `d2lora <args>`, sent Ctrl-C (SIGINT) as a person stops it: once its stderr matches `when`, or
 * once `when()` holds (asked every 20 ms: for a state on disk, which no timing of the progress
 * lines can hide).
 */
export function d2loraInterrupted(args: string[], when: RegExp | (() => boolean), env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  if (when instanceof RegExp) {
    return runProcess(process.execPath, ['scripts/d2lora.mjs', ...args], env, (stderr, child) => {
      if (when.test(stderr)) child.kill('SIGINT');
    });
  }
  let poll: ReturnType<typeof setInterval> | undefined;
  const result = runProcess(process.execPath, ['scripts/d2lora.mjs', ...args], env, undefined, (child) => {
    poll = setInterval(() => {
      if (!when()) return;
      child.kill('SIGINT');
      clearInterval(poll);
    }, 20);
  });
  return result.finally(() => clearInterval(poll));
}

/** Exit `code`, the message as the last line of stderr, no stack trace or unhandled rejection, nothing on stdout. */
export function expectCleanFailure(r: CliResult, lastLine: string | RegExp, code = 1): void {
  const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  expect(r.code, context).toBe(code);
  const last = r.stderr.trimEnd().split('\n').at(-1)!;
  if (typeof lastLine === 'string') expect(last, context).toBe(lastLine);
  else expect(last, context).toMatch(lastLine);
  expect(r.stderr, context).not.toMatch(/^\s+at /m);
  expect(r.stderr, context).not.toMatch(/Unhandled|Node\.js v|GPU context was destroyed/);
  expect(r.stdout, context).toBe('');
}

/** An output folder that was never written: neither it nor a temporary folder beside it. */
export function expectNothingWritten(out: string): void {
  expect(existsSync(out)).toBe(false);
  const name = out.split('/').at(-1)!;
  expect(readdirSync(join(out, '..')).filter((f) => f.startsWith(name))).toEqual([]);
}

/** `node <args>` from the project's root. */
export function runNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return runProcess(process.execPath, args, env);
}

/**
 * A shell script in a mount namespace of its own (unshare), where it may mount a small tmpfs to
 * fill up: a real full disk for the command it runs, gone with the namespace. Root mounts
 * directly; another user maps itself to root in a user namespace (where the kernel allows it).
 */
export function runInMountNamespace(script: string, env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  const asRoot = process.getuid?.() === 0;
  return runProcess('unshare', [...(asRoot ? [] : ['--map-root-user']), '--mount', 'bash', '-euo', 'pipefail', '-c', script], env);
}

function runProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  watchStderr?: (stderr: string, child: ChildProcess) => void,
  started?: (child: ChildProcess) => void,
): Promise<CliResult> {
  const t0 = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    started?.(child);
    let stdout = '';
    let stderr = '';
    let watching = watchStderr;
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (watching) {
        const before = child.killed;
        watching(stderr, child);
        if (child.killed !== before) watching = undefined;
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}
