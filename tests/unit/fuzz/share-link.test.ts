// The share-link decoder under mutation (src/share/link.ts decodeRunLink). It never throws: a link
// it cannot read is refused with a message, one it can is repaired field by field with each repair
// listed, so here an input is accepted (a spec, perhaps repaired) or refused (a message), and a
// throw is a crash. Mutations: the generic byte ones on the link's text, the link's own
// punctuation, and edits of the JSON inside the payload (inflated, edited, deflated and encoded
// again), which reach the lenient repair rather than stopping at the envelope.

import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_SPEC, parseRunSpec } from '../../../src/run/spec';
import { decodeRunLink, encodeRunLink } from '../../../src/share/link';
import { SHA_A, VARIED_SPECS } from '../run-specs';
import { blankRefusal, byteTarget, FUZZ_TEST_TIMEOUT_MS, runFuzz, tokens, type Outcome } from './harness';
import { editableJson, jsonMutators, type FindJson } from './json';

const PREFIX = '#run=1.';

/** The spec's JSON inside a `#run=1.` link; an edited text is deflated and encoded into a new link. */
const payloadJson: FindJson = (_, bytes) => {
  const link = new TextDecoder().decode(bytes);
  if (!link.startsWith(PREFIX) || !/^[A-Za-z0-9_-]+$/.test(link.slice(PREFIX.length))) return null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(inflateRawSync(Buffer.from(link.slice(PREFIX.length), 'base64url')));
  } catch {
    return null;
  }
  if (!editableJson(text)) return null;
  return { text, rebuild: (t) => new TextEncoder().encode(`${PREFIX}${deflateRawSync(Buffer.from(t, 'utf8')).toString('base64url')}`), where: "the link's JSON" };
};

/** Values a spec's fields must refuse or repair: paths out of a folder, markup, kinds, long text. */
const HOSTILE_VALUES = ['"../../etc/passwd"', '"<script>alert(1)</script>"', `"${'x'.repeat(300)}"`, '{"kind":"files"}', '{"kind":"story"}', '"preset"', '"q_proj"', `"${SHA_A}"`, '{"__proto__":{"polluted":"yes"}}', '1e9', '-1e-300'];

describe('fuzz: share links', () => {
  it('10,000 mutated links: never a throw; each refused with a message, or a spec strict parsing accepts whose own link reads back unrepaired', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    const specs = [DEFAULT_RUN_SPEC, ...Object.values(VARIED_SPECS).map((s) => parseRunSpec(s))];
    const links = specs.map((spec, i) => ({ name: `link ${i}`, bytes: new TextEncoder().encode(encodeRunLink(spec)) }));
    // A link may come as a whole URL, with other fragment parameters around it.
    links.push({ name: 'a URL with parameters', bytes: new TextEncoder().encode(`https://example.org/d2lora/?lang=en#tab=train&${encodeRunLink(specs[1]!).slice(1)}&theme=dark`) });
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    let repaired = 0;
    const run = (bytes: Uint8Array): Outcome => {
      const link = new TextDecoder().decode(bytes);
      const d = decodeRunLink(link);
      if (!d.ok) {
        if (typeof d.error !== 'string' || d.error.length === 0) throw new Error('a refusal without a message');
        return { accepted: false, refusal: blankRefusal(d.error) };
      }
      if (!d.problems.every((p) => typeof p === 'string' && p.length > 0)) throw new Error('a repair that is not a message');
      if (d.problems.length > 0) repaired++;
      // The repaired spec is valid as it stands, and its own link reads back with nothing to repair.
      // Compared as JSON: a -0 in the link (warmup: -0 is valid) comes back as the 0 JSON writes.
      expect(JSON.stringify(parseRunSpec(d.spec))).toBe(JSON.stringify(d.spec));
      const again = decodeRunLink(encodeRunLink(d.spec));
      expect(again.ok && again.problems).toEqual([]);
      expect(again.ok && JSON.stringify(again.spec)).toBe(JSON.stringify(d.spec));
      return { accepted: true };
    };
    for (const link of links) run(link.bytes); // warm up, so that the worst time is the decoder's
    const report = runFuzz(
      byteTarget({
        name: 'share link',
        seed: 20260214,
        mutations: 10_000,
        samples: links,
        context: { donors: links, dictionary: tokens('#', '&', '=', '.', '?', 'run=', 'run=1.', 'run=2.', 'run=0.', '%20', '+', '/', '=', 'é', '😀', '\u0000', 'A', '-', '_') },
        extraMutators: jsonMutators(payloadJson, HOSTILE_VALUES),
        run,
      }),
    );
    console.log(`fuzz share link: ${repaired} of the ${report.accepted} accepted links were repaired`);
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Both outcomes are exercised: the mutations reach the lenient repair, not only the envelope.
    expect(repaired).toBeGreaterThan(1000);
    expect(report.rejected).toBeGreaterThan(1000);
    expect(report.distinctRefusals).toBeGreaterThan(8);
  });
});
