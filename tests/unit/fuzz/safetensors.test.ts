// The safetensors reader under mutation: parseSafetensors and then every tensor read back with
// getF32; and the sharded checkpoint's index, model.safetensors.index.json. Mutations: the generic byte ones, boundary values of the u64 header length, and edits of
// the JSON header (data offsets, shapes, dtypes, duplicate keys) framed again with its new length, so
// the tiling and size checks are reached and not only the length check.

import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../../src/io/errors';
import { parseHfConfig } from '../../../src/io/hf-config';
import { parseSafetensors, parseSafetensorsIndex, type SafetensorsFile } from '../../../src/io/safetensors';
import { shapeSize } from '../../../src/util/shape';
import { allSamples, safetensorsFrame, safetensorsSamples } from './corpus';
import { byteTarget, formatErrorOutcome, FUZZ_TEST_TIMEOUT_MS, InvalidResult, runFuzz, tokens, type Sample } from './harness';
import { editableJson, jsonMutators, wholeFile, type FindJson } from './json';
import { jsonBytes, QWEN2_CONFIG, randomWeights, shardedFiles, tensorsOf } from '../hf-fixtures';

const FILE = 'models/fuzzed/model.safetensors';
const INDEX = 'models/fuzzed/model.safetensors.index.json';
const READABLE = new Set(['F32', 'F16', 'BF16']);

/** The JSON header inside the file's framing; an edited header is framed again with its own length. */
const header: FindJson = (_, bytes) => {
  if (bytes.length < 8) return null;
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (length > BigInt(bytes.length - 8)) return null;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + Number(length)));
  } catch {
    return null;
  }
  if (!editableJson(text)) return null;
  const data = bytes.slice(8 + Number(length));
  return { text, rebuild: (t) => safetensorsFrame(t, data), where: 'the header' };
};

/** Every tensor read back: the readable dtypes as product(shape) floats, the others refused by name. */
function readAll(file: SafetensorsFile): number {
  let bytes = 0;
  for (const [name, info] of file.tensors) {
    if (READABLE.has(info.dtype)) {
      const values = file.getF32(name);
      if (values.length !== shapeSize(info.shape)) throw new InvalidResult(`tensor "${name}": ${values.length} values for shape [${info.shape}]`);
      bytes += values.byteLength;
    } else {
      expect(() => file.getF32(name)).toThrow(FormatError);
    }
  }
  return bytes;
}

describe('fuzz: safetensors', () => {
  let donors: Sample[];
  beforeAll(async () => {
    donors = await allSamples();
  });

  it('10,000 mutations of safetensors files: each accepted and read, or refused with a FormatError naming the file', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    const samples = safetensorsSamples().map((s, i) => ({ ...s, weight: i < 2 ? 3 : 1 }));
    const report = runFuzz(
      byteTarget({
        name: 'safetensors',
        seed: 0x5afe,
        mutations: 10_000,
        samples,
        context: {
          donors,
          dictionary: tokens('"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"F32"', '"F16"', '"BF16"', '"I64"', '"F8_E4M3"', '{', '}', '[', ']', ',', ':', '"', '0', '-1', ' '),
          numberFields: (bytes) => [{ at: 0, type: 'u64', name: 'header length', special: [bytes.length - 8, bytes.length - 7, 100_000_000, 100_000_001] }],
        },
        extraMutators: jsonMutators(header),
        run: (bytes) => formatErrorOutcome(FILE, () => readAll(parseSafetensors(bytes, FILE)), (n) => n),
      }),
    );
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    // Both outcomes, and refusals from many checks: the mutations reach past the framing.
    expect(report.accepted).toBeGreaterThan(100);
    expect(report.rejected).toBeGreaterThan(5000);
    expect(report.distinctRefusals).toBeGreaterThan(10);
  });

  it('10,000 mutations of model.safetensors.index.json: each a weight map of plain shard names, or refused with a FormatError naming the file', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    const qwen2 = parseHfConfig(jsonBytes(QWEN2_CONFIG), 'config.json');
    const index = shardedFiles(tensorsOf(randomWeights(qwen2, 3), 'F32'), 3)['model.safetensors.index.json']!;
    const report = runFuzz(
      byteTarget({
        name: 'model.safetensors.index.json',
        seed: 0x1d3,
        mutations: 10_000,
        samples: [{ name: 'qwen2-fixture index of 3 shards', bytes: index }],
        context: { donors, dictionary: tokens('"weight_map"', '"metadata"', '"total_size"', '".safetensors"', '"../x.safetensors"', '"a/b.safetensors"', '{', '}', '"', ':', ',', '/', '\\') },
        extraMutators: jsonMutators(wholeFile, ['"../model.safetensors"', '"/etc/model.safetensors"', '"a\\\\b.safetensors"', '"model.safetensors"']),
        run: (bytes) =>
          formatErrorOutcome(INDEX, () => {
            const parsed = parseSafetensorsIndex(new TextDecoder().decode(bytes), INDEX);
            const outside = parsed.shardFiles.find((f) => /[/\\]/.test(f) || !f.endsWith('.safetensors'));
            if (outside !== undefined) throw new InvalidResult(`shard ${JSON.stringify(outside)} is not a plain file name`);
            return parsed;
          }),
      }),
    );
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    expect(report.accepted).toBeGreaterThan(1000);
    expect(report.rejected).toBeGreaterThan(3000);
  });
});
