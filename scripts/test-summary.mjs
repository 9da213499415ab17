// Sums the JSON reports of the test tiers into one line per tier and a closing
// "N passed, N failed" line. A tier whose report is missing counts as failed: it did not run.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const tiers = [
  ['unit', 'unit.json', 'vitest'],
  ['kernels', 'kernels.json', 'vitest'],
  ['e2e', 'e2e.json', 'playwright'],
];
let passed = 0;
let failed = 0;
let skipped = 0;
let missing = false;
console.log('\n== summary');
for (const [name, file, kind] of tiers) {
  const path = join(dir, file);
  if (!existsSync(path)) {
    console.log(`${name.padEnd(8)} did not run (no report at ${path})`);
    missing = true;
    continue;
  }
  const r = JSON.parse(readFileSync(path, 'utf8'));
  const [p, f, s] =
    kind === 'vitest'
      ? [r.numPassedTests, r.numFailedTests, r.numPendingTests + r.numTodoTests]
      : [r.stats.expected, r.stats.unexpected + r.stats.flaky, r.stats.skipped];
  console.log(`${name.padEnd(8)} ${p} passed, ${f} failed${s ? `, ${s} skipped` : ''}`);
  if (p === 0) missing = true;
  passed += p;
  failed += f;
  skipped += s;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || missing ? 1 : 0);
