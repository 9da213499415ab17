// The output folder on disk, whole or not at all (src/cli/output.ts): a wrong --out is found
// before anything is loaded; a full disk midway (a 640 KiB tmpfs, too small for the 1 MB model
// file) leaves an earlier run's folder exactly as it was and no partial folder, with a message
// naming the file and what to do; a run that succeeds replaces the earlier folder as a whole, so
// no file of the old run survives beside the new ones.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runInMountNamespace, runNode } from './cli';

const SHORT = ['--max-train', '16', '--max-eval', '8', '--epochs', '1', '--batch', '8', '--story-train', '32', '--story-test', '8'];

describe('the output folder', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'd2lora-out-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('refuses an --out that is a file, or under a file, before loading anything', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a folder');
    const r = await runNode(['scripts/d2lora.mjs', 'train', ...SHORT, '--out', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`d2lora train: --out ${file} is a file, not a folder: choose another --out`);
    const under = await runNode(['scripts/d2lora.mjs', 'train', ...SHORT, '--out', join(file, 'run')]);
    expect(under.code).toBe(1);
    expect(under.stderr.trim()).toBe(`d2lora train: ${join(file, 'run')}: cannot be the output folder (ENOTDIR): a part of the path is a file, not a folder: choose another --out`);
    // Nothing was loaded: no stage was entered, no GPU asked for.
    for (const res of [r, under]) expect(res.stderr).not.toMatch(/\[load-model\]|GPU:/);
    expect(readFileSync(file, 'utf8')).toBe('not a folder');
  });

  it('keeps an earlier run whole when the disk fills midway, with a message naming the file', async () => {
    // In its own mount namespace: a 640 KiB file system holding an earlier run's small folder.
    const script = `
      disk=${JSON.stringify(join(scratch, 'disk'))}; mkdir -p "$disk"
      mount -t tmpfs -o size=640k d2lora-test "$disk"
      mkdir "$disk/run"; echo '{"peft_type": "LORA"}' > "$disk/run/adapter_config.json"; echo 'old weights' > "$disk/run/model.safetensors"
      before=$(cd "$disk" && find . -type f | sort | xargs sha256sum)
      set +e; node scripts/d2lora.mjs train ${SHORT.join(' ')} --out "$disk/run" 2> "$disk/../stderr.txt"; code=$?; set -e
      after=$(cd "$disk" && find . -type f | sort | xargs sha256sum)
      echo "code=$code"; [ "$before" = "$after" ] && echo 'folder unchanged' || { echo "folder changed:"; echo "$after"; }
      ls -A "$disk"`;
    const r = await runInMountNamespace(script);
    expect(r.code, r.stderr).toBe(0);
    const stderr = readFileSync(join(scratch, 'stderr.txt'), 'utf8');
    expect(r.stdout.trim().split('\n'), stderr).toEqual(['code=1', 'folder unchanged', 'run']);
    expect(stderr).toMatch(
      new RegExp(`\\nd2lora train: ${join(scratch, 'disk', 'run', 'model.safetensors')}: cannot write \\(ENOSPC\\): the disk is full: free some space or choose another --out\\n$`),
    );
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 300_000);

  it('replaces an earlier run whole when a run succeeds', async () => {
    const out = join(scratch, 'run');
    // An earlier folder, as an older version laid it out: the adapter beside the model.
    mkdirSync(out);
    writeFileSync(join(out, 'adapter_config.json'), '{"peft_type": "LORA"}');
    writeFileSync(join(out, 'notes.txt'), 'replaced with the folder');
    const ok = await runNode(['scripts/d2lora.mjs', 'train', ...SHORT, '--out', out]);
    expect(ok.code, ok.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toContain('run.json');
    expect(files).toContain('adapter');
    for (const stale of ['adapter_config.json', 'notes.txt']) expect(files, stale).not.toContain(stale);
    expect(readFileSync(join(out, 'model.safetensors')).length).toBeGreaterThan(1_000_000);
    expect(readdirSync(scratch).filter((n) => n.startsWith('run.'))).toEqual([]); // no partial or replaced folder left beside it
  }, 300_000);
});
