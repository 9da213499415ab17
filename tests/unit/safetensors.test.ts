import { describe, it, expect } from 'vitest';
import { FormatError } from '../../src/io/errors';
import {
  bf16BitsToF32Bits,
  f16BitsToF32Bits,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  parseSafetensors,
  parseSafetensorsIndex,
  writeSafetensors,
} from '../../src/io/safetensors';

const FILE = 'model.safetensors';

/** A .safetensors file from a header (object or raw text) and data bytes, unpadded. */
function rawFile(header: object | string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function u16Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Uint16Array.from(values).buffer);
}

function f32Bits(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

function bitsOfF32(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0];
}

function f32OfBits(bits: number): number {
  return new Float32Array(Uint32Array.of(bits).buffer)[0];
}

/** The FormatError `parse` throws (failing the test if it throws none or another kind). */
function formatErrorOf(parse: () => unknown): FormatError {
  try {
    parse();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError, but parsing succeeded');
}

describe('safetensors writer and reader', () => {
  it('round-trips F32 tensors bit for bit, with metadata, shapes and the reference padding', () => {
    const special = Float32Array.of(0, -0, 1.5, -3.25e-39, Infinity, -Infinity, NaN, 3.4028234663852886e38);
    const matrix = Float32Array.from({ length: 6 }, (_, i) => Math.fround(Math.sin(i + 1)));
    const bytes = writeSafetensors(
      [
        { name: 'b.special', dtype: 'F32', shape: [8], data: special },
        { name: 'a.matrix', dtype: 'F32', shape: [2, 3], data: matrix },
        { name: 'scalar', dtype: 'F32', shape: [], data: Float32Array.of(7) },
        { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      ],
      { format: 'pt', note: 'é ☃' },
    );

    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    expect(headerText.startsWith('{"__metadata__":{"format":"pt","note":"é ☃"}')).toBe(true);
    expect(headerText.trimEnd().endsWith('}')).toBe(true);
    expect(headerText.length - headerText.trimEnd().length).toBeLessThan(8);

    const file = parseSafetensors(bytes, FILE);
    expect(Object.fromEntries(file.metadata)).toEqual({ format: 'pt', note: 'é ☃' });
    // Same element size: ordered by name.
    expect([...file.tensors.keys()]).toEqual(['a.matrix', 'b.special', 'empty', 'scalar']);
    expect(file.tensors.get('a.matrix')).toEqual({ dtype: 'F32', shape: [2, 3], byteOffset: 8 + headerLength, byteLength: 24 });
    expect(f32Bits(file.getF32('b.special'))).toEqual(f32Bits(special));
    expect(f32Bits(file.getF32('a.matrix'))).toEqual(f32Bits(matrix));
    expect(Array.from(file.getF32('scalar'))).toEqual([7]);
    expect(file.getF32('empty').length).toBe(0);
  });

  it('reads a file that sits at an odd offset inside a larger buffer', () => {
    const bytes = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], data: Float32Array.of(1, 2, 3) }]);
    const host = new Uint8Array(bytes.length + 3);
    host.set(bytes, 3);
    const file = parseSafetensors(host.subarray(3), FILE);
    expect(Array.from(file.getF32('w'))).toEqual([1, 2, 3]);
  });

  it('lays out larger elements first so every tensor is aligned, and reads mixed dtypes back', () => {
    const odd = Float32Array.of(1, 2, 3); // 6 bytes as F16: would misalign an F32 placed after it
    const bytes = writeSafetensors([
      { name: 'a.half', dtype: 'F16', shape: [3], data: odd },
      { name: 'b.brain', dtype: 'BF16', shape: [1, 3], data: odd },
      { name: 'z.full', dtype: 'F32', shape: [3], data: odd },
    ]);
    const file = parseSafetensors(bytes, FILE);
    expect([...file.tensors.keys()]).toEqual(['z.full', 'a.half', 'b.brain']);
    const full = file.tensors.get('z.full');
    expect(full?.byteOffset).toBe(Number(new DataView(bytes.buffer).getBigUint64(0, true)) + 8);
    for (const name of ['a.half', 'b.brain', 'z.full']) {
      expect(Array.from(file.getF32(name))).toEqual([1, 2, 3]);
    }
  });

  it('checks the writer input', () => {
    const data = Float32Array.of(1, 2);
    expect(() => writeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], data }])).toThrow(
      'writeSafetensors: tensor "w": 2 values; expected 3 for shape [3]',
    );
    expect(() =>
      writeSafetensors([
        { name: 'w', dtype: 'F32', shape: [2], data },
        { name: 'w', dtype: 'F16', shape: [2], data },
      ]),
    ).toThrow('tensor "w": the name appears twice');
    expect(() => writeSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [2], data }])).toThrow('reserved');
  });
});

describe('f16 and bf16 conversions', () => {
  it('reads F16 bit patterns exactly: normals, subnormals, ±0, ±inf, NaN payloads', () => {
    // [f16 bits, f32 bits]
    const cases: [number, number][] = [
      [0x3c00, 0x3f800000], // 1
      [0xc100, 0xc0200000], // -2.5
      [0x7bff, 0x477fe000], // 65504, the largest f16
      [0x0001, 0x33800000], // 2^-24, the smallest subnormal
      [0x03ff, 0x387fc000], // 1023 · 2^-24, the largest subnormal
      [0x0400, 0x38800000], // 2^-14, the smallest normal
      [0x8000, 0x80000000], // -0
      [0x7c00, 0x7f800000], // inf
      [0xfc00, 0xff800000], // -inf
      [0x7e00, 0x7fc00000], // quiet NaN
      [0x7d01, 0x7fa02000], // signalling NaN, payload kept
    ];
    const file = parseSafetensors(
      rawFile({ h: { dtype: 'F16', shape: [cases.length], data_offsets: [0, 2 * cases.length] } }, u16Bytes(cases.map((c) => c[0]))),
      FILE,
    );
    expect(f32Bits(file.getF32('h')).map((b) => b.toString(16))).toEqual(cases.map((c) => c[1].toString(16)));
  });

  it('reads BF16 bit patterns exactly', () => {
    const cases: [number, number][] = [
      [0x3f80, 0x3f800000], // 1
      [0xc020, 0xc0200000], // -2.5
      [0x0001, 0x00010000], // the smallest bf16 subnormal, 2^-133
      [0x8000, 0x80000000], // -0
      [0x7f80, 0x7f800000], // inf
      [0xff80, 0xff800000], // -inf
      [0x7fc0, 0x7fc00000], // NaN
    ];
    const file = parseSafetensors(
      rawFile({ h: { dtype: 'BF16', shape: [cases.length], data_offsets: [0, 2 * cases.length] } }, u16Bytes(cases.map((c) => c[0]))),
      FILE,
    );
    expect(f32Bits(file.getF32('h')).map((b) => b.toString(16))).toEqual(cases.map((c) => c[1].toString(16)));
  });

  it('decodes every f16 bit pattern to the value its fields define', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      const value =
        exp === 0 ? sign * mant * 2 ** -24 : exp === 31 ? (mant === 0 ? sign * Infinity : NaN) : sign * 2 ** (exp - 15) * (1 + mant / 1024);
      const got = f32OfBits(f16BitsToF32Bits(h));
      if (!(Object.is(got, value) || (Number.isNaN(got) && Number.isNaN(value)))) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('narrows every f16 and bf16 value back to its own bits (NaNs to quiet NaNs)', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const f16 = f32BitsToF16Bits(f16BitsToF32Bits(h));
      if (f16 !== (isNaN16 ? h | 0x200 : h)) wrong.push(`f16 ${h.toString(16)} → ${f16.toString(16)}`);
      const isNaNBf = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      const bf16 = f32BitsToBf16Bits(bf16BitsToF32Bits(h));
      if (bf16 !== (isNaNBf ? h | 0x40 : h)) wrong.push(`bf16 ${h.toString(16)} → ${bf16.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('writes F16 rounding to nearest, ties to even', () => {
    // [f32 value, f16 bits]
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2.5, 0xc100],
      [65504, 0x7bff],
      [65519.99609375, 0x7bff], // just under the midpoint to 65536
      [65520, 0x7c00], // the midpoint: ties to even, which is inf
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // half the smallest subnormal: tie, to even 0
      [2 ** -25 * (1 + 2 ** -20), 0x0001], // just above that half
      [3 * 2 ** -25, 0x0002], // tie between subnormals 1 and 2: to 2
      [2 ** -14 - 2 ** -25, 0x0400], // tie between the largest subnormal and the smallest normal
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1 + 2^-10: to even
      [1 + 3 * 2 ** -11, 0x3c02], // tie: to even upward
      [1 + 2 ** -11 + 2 ** -20, 0x3c01],
      [1e-10, 0x0000],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [NaN, 0x7e00],
    ];
    const bytes = writeSafetensors([{ name: 'h', dtype: 'F16', shape: [cases.length], data: Float32Array.from(cases, (c) => c[0]) }]);
    const info = parseSafetensors(bytes, FILE).tensors.get('h');
    expect(info).toBeDefined();
    const stored = new Uint16Array(bytes.slice(info?.byteOffset, (info?.byteOffset ?? 0) + (info?.byteLength ?? 0)).buffer);
    expect(Array.from(stored, (b) => b.toString(16))).toEqual(cases.map((c) => c[1].toString(16)));
  });

  it('writes BF16 rounding to nearest, ties to even', () => {
    // [f32 bits, bf16 bits]
    const cases: [number, number][] = [
      [bitsOfF32(1), 0x3f80],
      [bitsOfF32(-2.5), 0xc020],
      [bitsOfF32(1 + 2 ** -8), 0x3f80], // tie: to even
      [bitsOfF32(1 + 3 * 2 ** -8), 0x3f82], // tie: to even upward
      [bitsOfF32(1 + 2 ** -8 + 2 ** -20), 0x3f81],
      [0x7f7fffff, 0x7f80], // the largest f32 rounds to inf
      [0x00000001, 0x0000], // the smallest f32 subnormal
      [0x00008000, 0x0000], // tie at zero: to even
      [0x00018000, 0x0002], // tie: to even upward
      [0x80000000, 0x8000],
      [0x7f800000, 0x7f80],
      [0x7fc00000, 0x7fc0],
      [0xffc00001, 0xffc0], // NaN keeps its sign and stays quiet
    ];
    const data = new Float32Array(Uint32Array.from(cases, (c) => c[0]).buffer);
    const bytes = writeSafetensors([{ name: 'h', dtype: 'BF16', shape: [cases.length], data }]);
    const info = parseSafetensors(bytes, FILE).tensors.get('h');
    const stored = new Uint16Array(bytes.slice(info?.byteOffset, (info?.byteOffset ?? 0) + (info?.byteLength ?? 0)).buffer);
    expect(Array.from(stored, (b) => b.toString(16))).toEqual(cases.map((c) => c[1].toString(16)));
  });

  it('rounds random f32 values to the nearest f16 (ties to even), checked against both neighbours', () => {
    let seed = 12345;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const value = (bits: number) => f32OfBits(f16BitsToF32Bits(bits));
    const wrong: number[] = [];
    for (let n = 0; n < 20000; n++) {
      // Exponents from deep subnormal to past the f16 range.
      const x = Math.fround((random() < 0.5 ? -1 : 1) * (1 + random()) * 2 ** Math.floor(-27 + random() * 45));
      const h = f32BitsToF16Bits(bitsOfF32(x));
      if ((h & 0x7fff) === 0x7c00) {
        if (Math.abs(x) < 65520) wrong.push(x);
        continue;
      }
      const error = Math.abs(value(h) - x);
      for (const neighbour of [h - 1, h + 1]) {
        if ((neighbour & 0x7fff) >= 0x7c00 || (neighbour & 0x8000) !== (h & 0x8000)) continue;
        const other = Math.abs(value(neighbour) - x);
        if (error > other || (error === other && (h & 1) === 1)) wrong.push(x);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('safetensors validation', () => {
  const eight = new Uint8Array(8);
  const good = (extra: object = {}) => ({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, ...extra });

  it('rejects a file shorter than the header length', () => {
    const e = formatErrorOf(() => parseSafetensors(new Uint8Array(5), FILE));
    expect(e.message).toBe('model.safetensors: 5 bytes; expected at least 8 bytes (the u64 header length)');
    expect(e.file).toBe(FILE);
  });

  it('rejects a header length larger than the file, and an absurd one', () => {
    const bytes = rawFile(good(), eight);
    new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
    expect(formatErrorOf(() => parseSafetensors(bytes, FILE)).message).toBe(
      `model.safetensors: header length: 1000 bytes, but the file has only ${bytes.length - 8} bytes ` +
        'after the length field; expected a header that fits in the file',
    );
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
    const e = formatErrorOf(() => parseSafetensors(bytes, FILE));
    expect(e.field).toBe('header length');
    expect(e.message).toContain('expected at most 100000000 bytes');
  });

  it('rejects a header that is not JSON, not UTF-8 or not an object', () => {
    expect(formatErrorOf(() => parseSafetensors(rawFile('{"a": {', eight), FILE)).message).toMatch(
      /^model\.safetensors: header: text that is not JSON \(.*\); expected a JSON object$/,
    );
    const bad = rawFile('{"\u00e9":1}');
    bad[10] = 0xff; // inside the two-byte é
    expect(formatErrorOf(() => parseSafetensors(bad, FILE)).message).toBe(
      'model.safetensors: header: bytes that are not valid UTF-8; expected a UTF-8 JSON header',
    );
    expect(formatErrorOf(() => parseSafetensors(rawFile('[1, 2]'), FILE)).message).toBe(
      'model.safetensors: header: JSON array; expected a JSON object of tensors',
    );
  });

  it('rejects an unknown dtype, naming the tensor', () => {
    const header = { 'model.embed_tokens.weight': { dtype: 'Q4_K', shape: [2], data_offsets: [0, 8] } };
    const e = formatErrorOf(() => parseSafetensors(rawFile(header, eight), FILE));
    expect(e.field).toBe('tensor "model.embed_tokens.weight"');
    expect(e.message).toMatch(/^model\.safetensors: tensor "model\.embed_tokens\.weight": dtype "Q4_K"; expected one of BOOL, .*F32.*$/);
  });

  it('rejects a byte length that is not shape × dtype size', () => {
    const header = { 'lm_head.weight': { dtype: 'F16', shape: [2, 3], data_offsets: [0, 8] } };
    expect(formatErrorOf(() => parseSafetensors(rawFile(header, eight), FILE)).message).toBe(
      'model.safetensors: tensor "lm_head.weight": 8 bytes of data (offsets [0, 8)); ' +
        'expected 6 × 2 = 12 bytes for F16 of shape [2, 3]',
    );
  });

  it('rejects malformed shapes and offsets, and offsets past the data buffer', () => {
    const shape = { w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } };
    expect(formatErrorOf(() => parseSafetensors(rawFile(shape, eight), FILE)).message).toBe(
      'model.safetensors: tensor "w": shape [2,-1]; expected a list of non-negative integers',
    );
    const offsets = { w: { dtype: 'F32', shape: [2], data_offsets: [0] } };
    expect(formatErrorOf(() => parseSafetensors(rawFile(offsets, eight), FILE)).message).toBe(
      'model.safetensors: tensor "w": data_offsets [0]; expected two non-negative integers [begin, end]',
    );
    const backwards = { w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } };
    expect(formatErrorOf(() => parseSafetensors(rawFile(backwards, eight), FILE)).message).toBe(
      'model.safetensors: tensor "w": data offsets [8, 0); expected begin ≤ end',
    );
    const past = rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, eight);
    const header = past.length - 16;
    expect(formatErrorOf(() => parseSafetensors(past, FILE)).message).toBe(
      `model.safetensors: ${past.length} bytes, 8 fewer than its header declares; expected ${past.length + 8} bytes = ` +
        `8 (the header length) + ${header} (the header) + 16 (the tensors' data, up to the end of tensor "w")`,
    );
  });

  it('rejects a truncated file: the last tensor runs past the end', () => {
    const bytes = writeSafetensors([
      { name: 'a', dtype: 'F32', shape: [4], data: new Float32Array(4) },
      { name: 'b', dtype: 'F32', shape: [4], data: new Float32Array(4) },
    ]);
    const e = formatErrorOf(() => parseSafetensors(bytes.subarray(0, bytes.length - 3), FILE));
    expect(e.message).toBe(
      `model.safetensors: ${bytes.length - 3} bytes, 3 fewer than its header declares; expected ${bytes.length} bytes = ` +
        `8 (the header length) + ${bytes.length - 40} (the header) + 32 (the tensors' data, up to the end of tensor "b")`,
    );
  });

  it('rejects overlapping offsets, naming both tensors', () => {
    const header = {
      'model.layers.0.self_attn.q_proj.weight': { dtype: 'F32', shape: [256], data_offsets: [0, 1024] },
      'model.layers.0.self_attn.k_proj.weight': { dtype: 'F32', shape: [384], data_offsets: [512, 2048] },
    };
    const e = formatErrorOf(() => parseSafetensors(rawFile(header, new Uint8Array(2048)), FILE));
    expect(e.message).toBe(
      'model.safetensors: tensor "model.layers.0.self_attn.k_proj.weight": data offsets [512, 2048) overlap ' +
        'tensor "model.layers.0.self_attn.q_proj.weight" ([0, 1024)); expected non-overlapping ranges',
    );
  });

  it('rejects holes in the data buffer, between tensors and after the last', () => {
    const between = {
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    };
    expect(formatErrorOf(() => parseSafetensors(rawFile(between, new Uint8Array(12)), FILE)).message).toBe(
      'model.safetensors: tensor "b": data offsets [8, 12) leave bytes [4, 8) of the data buffer unused; ' +
        'expected ranges that cover the data buffer without holes',
    );
    const longer = rawFile(good(), new Uint8Array(12));
    expect(formatErrorOf(() => parseSafetensors(longer, FILE)).message).toBe(
      `model.safetensors: ${longer.length} bytes, 4 more than its header declares; expected ${longer.length - 4} bytes = ` +
        `8 (the header length) + ${longer.length - 20} (the header) + 8 (the tensors' data, up to the end of tensor "a")`,
    );
  });

  it('rejects a name twice in the header, which JSON.parse would silently keep only the last of', () => {
    // The surviving copy (shape [2]) fits the data exactly: without the check the file would read.
    const twice = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const e = formatErrorOf(() => parseSafetensors(rawFile(twice, eight), FILE));
    expect(e.message).toBe('model.safetensors: tensor "a": two entries of that name in the header (JSON keeps only the last); expected each name once');
    // The same name spelt with an escape is the same key.
    const escaped = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"\\u0061":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(formatErrorOf(() => parseSafetensors(rawFile(escaped, eight), FILE)).field).toBe('tensor "a"');
    const inner = '{"w":{"dtype":"F16","dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(formatErrorOf(() => parseSafetensors(rawFile(inner, eight), FILE)).message).toBe(
      'model.safetensors: tensor "w": the key "dtype" twice (JSON keeps only the last); expected each key once',
    );
    const metadata = '{"__metadata__":{"format":"pt","format":"np"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(formatErrorOf(() => parseSafetensors(rawFile(metadata, eight), FILE)).message).toBe(
      'model.safetensors: field "__metadata__": the key "format" twice (JSON keeps only the last); expected each key once',
    );
    // Equal keys in different objects, and names that only look alike, are fine.
    const distinct = '{"__metadata__":{"dtype":"x"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a ":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expect([...parseSafetensors(rawFile(distinct, eight), FILE).tensors.keys()]).toEqual(['a', 'a ']);
  });

  it('rejects metadata that is not strings', () => {
    const header = good({ __metadata__: { format: 'pt', step: 3 } });
    expect(formatErrorOf(() => parseSafetensors(rawFile(header, eight), FILE)).message).toBe(
      'model.safetensors: metadata "step": JSON number; expected a string value',
    );
  });

  it('names the tensor getF32 cannot give', () => {
    const file = parseSafetensors(rawFile({ ids: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, eight), FILE);
    expect(formatErrorOf(() => file.getF32('ids')).message).toBe(
      'model.safetensors: tensor "ids": dtype I32; expected F32, F16 or BF16 to read it as f32',
    );
    expect(formatErrorOf(() => file.getF32('missing')).message).toBe(
      'model.safetensors: tensor "missing": no such tensor in the header; expected one of its 1 tensors',
    );
  });
});

describe('safetensors index (sharded checkpoints)', () => {
  const INDEX = 'model.safetensors.index.json';

  it('reads the weight map, the shard list and total_size', () => {
    const index = parseSafetensorsIndex(
      JSON.stringify({
        metadata: { total_size: 1234 },
        weight_map: {
          'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
          'model.norm.weight': 'model-00002-of-00002.safetensors',
          'lm_head.weight': 'model-00001-of-00002.safetensors',
        },
      }),
      INDEX,
    );
    expect(index.totalSize).toBe(1234);
    expect(index.shardFiles).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(index.weightMap.get('model.norm.weight')).toBe('model-00002-of-00002.safetensors');
    expect(index.weightMap.size).toBe(3);
  });

  it('rejects bad index files, naming the field', () => {
    const message = (text: string) => formatErrorOf(() => parseSafetensorsIndex(text, INDEX)).message;
    expect(message('{')).toMatch(/^model\.safetensors\.index\.json: text that is not JSON/);
    expect(message('{"metadata": {}}')).toBe(
      'model.safetensors.index.json: field "weight_map": JSON undefined; expected an object of tensor name → shard file',
    );
    expect(message('{"weight_map": {}}')).toBe(
      'model.safetensors.index.json: field "weight_map": no tensors; expected at least one tensor',
    );
    expect(message('{"weight_map": {"w": "../secret.safetensors"}}')).toBe(
      'model.safetensors.index.json: weight_map entry "w": "../secret.safetensors"; ' +
        'expected a file name ending in .safetensors, without folders',
    );
    expect(message('{"weight_map": {"w": 3}}')).toContain('weight_map entry "w": 3;');
    expect(message('{"metadata": {"total_size": -1}, "weight_map": {"w": "a.safetensors"}}')).toBe(
      'model.safetensors.index.json: field "metadata.total_size": -1; expected a byte count',
    );
  });
});
