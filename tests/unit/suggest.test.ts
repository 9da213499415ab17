// "Did you mean": the nearest known name in the errors that refuse a preset, a task, a run spec's
// enum value, or a model folder that does not exist but is spelt like a preset.

import { describe, expect, it } from 'vitest';
import { loadModelInNode } from '../../src/io/node-source';
import { getPreset } from '../../src/model/registry';
import { parseRunSpec } from '../../src/run/spec';
import { getCatalogEntry } from '../../src/tasks/catalog';
import { didYouMean, nearestName } from '../../src/util/suggest';
import { formatErrorOf } from './hf-fixtures';

const PRESETS = ['stories260K', 'stories15M', 'stories42M', 'stories110M', 'SmolLM2-135M', 'SmolLM2-135M-Instruct'];

describe('nearestName', () => {
  it('prefers a match ignoring case, then a small edit distance (a swap of neighbours is one edit)', () => {
    expect(nearestName('Stories260k', PRESETS)).toBe('stories260K');
    expect(nearestName('stories260', PRESETS)).toBe('stories260K');
    expect(nearestName('smollm2-135m', PRESETS)).toBe('SmolLM2-135M');
    expect(nearestName('SmolLM2-135M-Instrcut', PRESETS)).toBe('SmolLM2-135M-Instruct');
    expect(nearestName('q_porj', ['q_proj', 'k_proj', 'v_proj', 'o_proj'])).toBe('q_proj');
    expect(nearestName('boolg', ['boolq', 'piqa'])).toBe('boolq');
  });

  it('suggests nothing when nothing is near, or two names are equally near', () => {
    expect(nearestName('gpt-4', PRESETS)).toBeUndefined();
    expect(nearestName('squad', ['boolq', 'piqa', 'story'])).toBeUndefined();
    // stories15M and stories42M are both two edits from storiesXXM.
    expect(nearestName('storiesXXM', PRESETS)).toBeUndefined();
    // Short names allow few edits: none up to 3 characters, one up to 5.
    expect(nearestName('why', ['who', 'what'])).toBeUndefined();
    expect(nearestName('WHO', ['who', 'what'])).toBe('who');
    expect(nearestName('pqa', ['piqa'])).toBeUndefined();
    expect(nearestName('piqaa', ['piqa'])).toBe('piqa');
    expect(didYouMean('gpt-4', PRESETS)).toBe('');
    expect(didYouMean('Stories260k', PRESETS)).toBe(' (did you mean "stories260K"?)');
  });
});

describe('did you mean, in the errors', () => {
  it('getPreset and getCatalogEntry', () => {
    expect(() => getPreset('Stories260k')).toThrow(
      /^unknown model preset "Stories260k" \(did you mean "stories260K"\?\); expected one of stories260K, stories15M, /,
    );
    expect(() => getCatalogEntry('boolg')).toThrow(/^unknown task "boolg" \(did you mean "boolq"\?\); the catalog has boolq, piqa, /);
    expect(() => getCatalogEntry('arc-challange')).toThrow(/\(did you mean "ARC-Challenge"\?\)/);
  });

  it("the run spec's enum values: a preset, a task, a module, a method", () => {
    const problems = (spec: unknown) => {
      try {
        parseRunSpec(spec);
      } catch (e) {
        return (e as { problems: string[] }).problems;
      }
      throw new Error('expected a RunSpecError');
    };
    expect(problems({ model: { kind: 'preset', name: 'Stories260k' } })[0]).toMatch(
      /^model\.name: found "Stories260k" \(did you mean "stories260K"\?\); expected one of "stories260K", "stories15M", /,
    );
    expect(problems({ task: { kind: 'catalog', name: 'Boolq' } })[0]).toMatch(/^task\.name: found "Boolq" \(did you mean "boolq"\?\); expected one of /);
    expect(problems({ targets: ['q_porj'] })[0]).toMatch(/^targets\[0\]: found "q_porj" \(did you mean "q_proj"\?\); expected one of /);
    expect(problems({ adapter: { method: 'd2-lora' } })[0]).toMatch(/^adapter\.method: found "d2-lora" \(did you mean "d2lora"\?\); expected one of /);
    expect(problems({ adapter: { method: 'qlora-xxl' } })[0]).toMatch(/^adapter\.method: found "qlora-xxl"; expected one of /);
  });

  it('a model folder that does not exist but is spelt like a preset', async () => {
    const e = await formatErrorOf(loadModelInNode({ kind: 'folder', path: 'Stories260k' }));
    expect(e.message).toBe('Stories260k/config.json: no such file; expected the model configuration (config.json) (did you mean the preset "stories260K"?)');
    // Its last segment counts (the command line resolves it to an absolute path); one unlike any preset gets no hint.
    expect((await formatErrorOf(loadModelInNode({ kind: 'folder', path: '/nowhere/smollm2-135m' }))).message).toContain('(did you mean the preset "SmolLM2-135M"?)');
    expect((await formatErrorOf(loadModelInNode({ kind: 'folder', path: 'models/my-model' }))).message).not.toContain('did you mean');
  });
});
