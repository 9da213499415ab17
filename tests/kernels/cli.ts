// The d2lora command in a child process, as a person runs it: its exit code, what it printed and
// how long it took. A child process is the honest way to see what a person sees (an unhandled
// rejection, a stack trace, the exit code).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
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

function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const t0 = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}
