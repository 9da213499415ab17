// safetensors: reader, writer and the sharded-checkpoint index.
//
// File layout (https://github.com/huggingface/safetensors, little-endian throughout):
//   [0, 8)          u64 N, the header's length in bytes
//   [8, 8 + N)      UTF-8 JSON: { name: { dtype, shape, data_offsets: [begin, end] }, ...,
//                                 "__metadata__"?: { key: string value } }
//   [8 + N, end)    the data buffer; every tensor's data_offsets are relative to its start, and
//                   together they tile it exactly: no overlaps, no holes.
// The parser checks all of that before it returns; nothing half-valid leaves this module.
// Pure TypeScript (no fs): the browser worker and Node pass the file's bytes and its name.
//
// Typed-array views of the data assume a little-endian host, which every WebGPU platform is.

import { shapeSize } from '../util/shape';
import { FormatError, failIn, type Fail } from './errors';
import { checkDeclaredSize, MAX_FILE_BYTES, type DeclaredSize, type ReadLimit } from './read-limits';

/** Bytes per element of every dtype the safetensors format defines. */
const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_BYTES;
/** The dtypes this project reads as f32 and writes. */
export type SafetensorsFloatDtype = 'F32' | 'F16' | 'BF16';

/** The reference implementation refuses headers longer than this (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

export interface SafetensorsTensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Offset of the tensor's first byte from the start of the file (not of the data buffer). */
  byteOffset: number;
  byteLength: number;
}

export class SafetensorsFile {
  constructor(
    readonly fileName: string,
    private readonly bytes: Uint8Array,
    /** In header order. */
    readonly tensors: Map<string, SafetensorsTensorInfo>,
    readonly metadata: Map<string, string>,
  ) {}

  /** The tensor's values as a new f32 array (row-major, product(shape) values). */
  getF32(name: string): Float32Array {
    const info = this.tensors.get(name);
    if (info === undefined) {
      throw new FormatError({
        file: this.fileName,
        field: `tensor "${name}"`,
        found: 'no such tensor in the header',
        expected: `one of its ${this.tensors.size} tensors`,
      });
    }
    const start = this.bytes.byteOffset + info.byteOffset;
    const raw = this.bytes.buffer.slice(start, start + info.byteLength);
    switch (info.dtype) {
      case 'F32':
        return new Float32Array(raw);
      case 'F16':
        return widen16(new Uint16Array(raw), f16BitsToF32Bits);
      case 'BF16':
        return widen16(new Uint16Array(raw), bf16BitsToF32Bits);
      default:
        throw new FormatError({
          file: this.fileName,
          field: `tensor "${name}"`,
          found: `dtype ${info.dtype}`,
          expected: 'F32, F16 or BF16 to read it as f32',
        });
    }
  }
}

/** out[i] = bits-exact f32 of in[i]; NaN payloads survive because only bit patterns move. */
function widen16(halves: Uint16Array, toF32Bits: (h: number) => number): Float32Array {
  const out = new Float32Array(halves.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < halves.length; i++) outBits[i] = toF32Bits(halves[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Exact conversions between f32 and the 16-bit floats, on bit patterns (u32 ⇄ u16).

/** IEEE binary16 → binary32. Every f16 value (subnormals, ±inf, NaN) is exactly representable. */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // 112 = 127 − 15
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal: mant · 2^−24 = 2^(p−24) · (mant / 2^p) with p the top set bit of mant, so the f32
  // is normal with biased exponent p − 24 + 127 and the bits below p as its fraction.
  const p = 31 - Math.clz32(mant);
  return (sign | ((p + 103) << 23) | ((mant ^ (1 << p)) << (23 - p))) >>> 0;
}

/** bfloat16 is the top half of a binary32. */
export function bf16BitsToF32Bits(h: number): number {
  return (h << 16) >>> 0;
}

/** binary32 → binary16, rounding to nearest, ties to even; overflow gives ±inf. */
export function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : 0x200 | (mant >>> 13)); // inf, quiet NaN
  const e = exp - 112; // the exponent re-biased for f16 (127 − 15)
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): value = m · 2^(e−38) with m the 24-bit significand, i.e.
    // m / 2^(14−e) units of 2^−24. Below e = −10 that is under half a unit: rounds to zero.
    if (e < -10) return sign;
    return sign | roundShiftRightEven(mant | 0x800000, 14 - e);
  }
  // Normal: keep 10 of the 23 fraction bits; a carry out of the fraction bumps the exponent,
  // up to 0x7c00 (= inf) for values that round past 65504.
  return sign | roundShiftRightEven((e << 23) | mant, 13);
}

/** binary32 → bfloat16, rounding to nearest, ties to even; NaN stays NaN (quiet, sign kept). */
export function f32BitsToBf16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return roundShiftRightEven(bits >>> 0, 16);
}

/** x / 2^shift rounded to nearest, ties to even (x < 2^32, 1 ≤ shift ≤ 24). */
function roundShiftRightEven(x: number, shift: number): number {
  const kept = Math.floor(x / 2 ** shift);
  const rest = x - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

// ---------------------------------------------------------------------------------------------
// Reader

/**
 * Reading limits of a safetensors file: the 4 GiB cap, and the exact size its header declares
 * (8 + header length + the end of the last tensor's data), checked before the data is read.
 */
export const SAFETENSORS_READ_LIMIT: ReadLimit = { maxBytes: MAX_FILE_BYTES, kind: 'a safetensors file', declaredSize: safetensorsDeclaredSize };

/** The file's size as its first bytes declare it, once they hold the header (see DeclaredSize). */
export function safetensorsDeclaredSize(prefix: Uint8Array, fileName: string): DeclaredSize {
  if (prefix.length < 8) return { need: 8 };
  const headerLength = readHeaderLength(prefix, failIn(fileName));
  if (prefix.length < 8 + headerLength) return { need: 8 + headerLength };
  return declaredSize(parseHeader(prefix, headerLength, fileName));
}

export function parseSafetensors(bytes: Uint8Array, fileName: string): SafetensorsFile {
  const fail: Fail = failIn(fileName);
  if (bytes.length < 8) {
    fail(undefined, `${bytes.length} bytes`, 'at least 8 bytes (the u64 header length)');
  }
  const headerLength = readHeaderLength(bytes, fail);
  if (8 + headerLength > bytes.length) {
    fail(
      'header length',
      `${headerLength} bytes, but the file has only ${bytes.length - 8} bytes after the length field`,
      'a header that fits in the file',
    );
  }
  const header = parseHeader(bytes, headerLength, fileName);
  checkDeclaredSize(fileName, bytes.length, declaredSize(header));
  return new SafetensorsFile(fileName, bytes, header.tensors, header.metadata);
}

interface SafetensorsHeader {
  headerLength: number;
  /** Every tensor, byteOffset counted from the start of the file. */
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Map<string, string>;
  /** The data buffer's length the tensors declare: where the last of them ends. */
  dataLength: number;
  /** The tensor whose data ends the buffer (null when there are none). */
  lastTensor: string | null;
}

/** u64 N at [0, 8), at most MAX_HEADER_BYTES (bytes has at least 8). */
function readHeaderLength(bytes: Uint8Array, fail: Fail): number {
  const headerLengthBig = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLengthBig > BigInt(MAX_HEADER_BYTES)) {
    fail('header length', `${headerLengthBig} bytes`, `at most ${MAX_HEADER_BYTES} bytes`);
  }
  return Number(headerLengthBig);
}

function declaredSize(header: SafetensorsHeader): { bytes: number; parts: string } {
  const last = header.lastTensor === null ? '' : `, up to the end of tensor ${JSON.stringify(header.lastTensor)}`;
  return {
    bytes: 8 + header.headerLength + header.dataLength,
    parts: `8 (the header length) + ${header.headerLength} (the header) + ${header.dataLength} (the tensors' data${last})`,
  };
}

/**
 * The header at [8, 8 + headerLength) of `bytes`, every entry checked, and the data buffer's
 * length it declares: the tensors' data_offsets must tile [0, that length) without overlaps or
 * holes. Whether the file has that many bytes is the caller's check.
 */
function parseHeader(bytes: Uint8Array, headerLength: number, fileName: string): SafetensorsHeader {
  const fail: Fail = failIn(fileName);
  const dataStart = 8 + headerLength;
  let headerText = '';
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    fail('header', 'bytes that are not valid UTF-8', 'a UTF-8 JSON header');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    fail('header', `text that is not JSON (${(e as Error).message})`, 'a JSON object');
  }
  if (!isPlainObject(header)) {
    fail('header', `JSON ${describeJson(header)}`, 'a JSON object of tensors');
  }
  // JSON.parse keeps the last of two equal keys: the other entry would vanish without a word.
  const duplicate = duplicateKey(headerText);
  if (duplicate !== null) {
    const [outer] = duplicate.within;
    const entry = (name: string) => (name === METADATA_KEY ? `field "${METADATA_KEY}"` : `tensor ${JSON.stringify(name)}`);
    if (outer === undefined) {
      fail(entry(duplicate.key), 'two entries of that name in the header (JSON keeps only the last)', 'each name once');
    }
    fail(entry(outer), `the key ${JSON.stringify(duplicate.key)} twice (JSON keeps only the last)`, 'each key once');
  }

  const tensors = new Map<string, SafetensorsTensorInfo>();
  const metadata = new Map<string, string>();
  // (begin, end) of every tensor relative to the data buffer, for the tiling check below.
  const ranges: { name: string; begin: number; end: number }[] = [];

  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(entry)) {
        fail(`field "${METADATA_KEY}"`, `JSON ${describeJson(entry)}`, 'an object of strings');
      }
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'string') {
          fail(`metadata "${key}"`, `JSON ${describeJson(value)}`, 'a string value');
        }
        metadata.set(key, value);
      }
      continue;
    }
    const field = `tensor "${name}"`;
    if (!isPlainObject(entry)) {
      fail(field, `JSON ${describeJson(entry)}`, 'an object { dtype, shape, data_offsets }');
    }
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
      fail(field, `dtype ${quoteJson(dtype)}`, `one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      fail(field, `shape ${quoteJson(shape)}`, 'a list of non-negative integers');
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(field, `data_offsets ${quoteJson(offsets)}`, 'two non-negative integers [begin, end]');
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) {
      fail(field, `data offsets [${begin}, ${end})`, 'begin ≤ end');
    }
    const elementBytes = DTYPE_BYTES[dtype as SafetensorsDtype];
    const elements = shapeSize(shape as number[]);
    if (!Number.isSafeInteger(elements * elementBytes) || end - begin !== elements * elementBytes) {
      fail(
        field,
        `${end - begin} bytes of data (offsets [${begin}, ${end}))`,
        `${elements} × ${elementBytes} = ${elements * elementBytes} bytes for ${dtype} ` +
          `of shape [${(shape as number[]).join(', ')}]`,
      );
    }
    tensors.set(name, {
      dtype: dtype as SafetensorsDtype,
      shape: [...(shape as number[])],
      byteOffset: dataStart + begin,
      byteLength: end - begin,
    });
    ranges.push({ name, begin, end });
  }

  // The ranges must tile [0, dataLength): sorted by begin, each starts where the last ended.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: (typeof ranges)[number] | undefined;
  for (const range of ranges) {
    if (previous !== undefined && range.begin < covered) {
      fail(
        `tensor "${range.name}"`,
        `data offsets [${range.begin}, ${range.end}) overlap tensor "${previous.name}" ` +
          `([${previous.begin}, ${previous.end}))`,
        'non-overlapping ranges',
      );
    }
    if (range.begin > covered) {
      fail(
        `tensor "${range.name}"`,
        `data offsets [${range.begin}, ${range.end}) leave bytes [${covered}, ${range.begin}) ` +
          'of the data buffer unused',
        'ranges that cover the data buffer without holes',
      );
    }
    covered = range.end;
    previous = range;
  }
  return { headerLength, tensors, metadata, dataLength: covered, lastTensor: previous?.name ?? null };
}

/**
 * The first key that one object of a valid JSON text holds twice, with the keys of the objects
 * it sits in (outermost first); null when every object's keys are distinct. A scan of the text,
 * because JSON.parse has already dropped all but the last.
 */
function duplicateKey(text: string): { key: string; within: string[] } | null {
  // One frame per open object or array; an object's keys so far, and the key whose value is open.
  const frames: { keys: Set<string> | null; current: string }[] = [];
  let previous = ''; // the last structural character outside strings
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = frames[frames.length - 1];
      if (top?.keys && (previous === '{' || previous === ',')) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          const within = frames.slice(0, -1).flatMap((f) => (f.keys === null ? [] : [f.current]));
          return { key, within };
        }
        top.keys.add(key);
        top.current = key;
      }
      previous = '"';
      i = j;
    } else if (c === '{' || c === '[') {
      frames.push({ keys: c === '{' ? new Set() : null, current: '' });
      previous = c;
    } else if (c === '}' || c === ']') {
      frames.pop();
      previous = c;
    } else if (c === ',' || c === ':') {
      previous = c;
    }
  }
  return null;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function describeJson(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  return typeof x;
}

/**
 * A header value as a message quotes it: JSON text for a scalar or a short flat list, else its
 * kind. JSON.stringify alone would recurse through a value nested 5,000 levels deep (a stack
 * overflow, not a FormatError) and copy a list of a million items into the message.
 */
function quoteJson(x: unknown): string {
  const MAX_ITEMS = 16;
  const scalar = (v: unknown) => typeof v !== 'object' || v === null;
  if (scalar(x)) return JSON.stringify(x) ?? 'nothing';
  if (Array.isArray(x) && x.length <= MAX_ITEMS && x.every(scalar)) return JSON.stringify(x);
  return `JSON ${describeJson(x)}${Array.isArray(x) ? ` of ${x.length} item${x.length === 1 ? '' : 's'}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface SafetensorsTensorInput {
  name: string;
  /** How to store it; the values always come in as f32 and are rounded to nearest-even. */
  dtype: SafetensorsFloatDtype;
  shape: number[];
  /** Row-major, product(shape) values. */
  data: Float32Array;
}

/**
 * A complete .safetensors file. As in the reference implementation, tensors are laid out by
 * element size (largest first) then name, so each starts aligned to its element size, and the
 * JSON header is padded with spaces to a multiple of 8 bytes so the data buffer is 8-aligned.
 */
export function writeSafetensors(
  tensors: readonly SafetensorsTensorInput[],
  metadata?: Record<string, string>,
): Uint8Array {
  const names = new Set<string>();
  for (const t of tensors) {
    const where = `writeSafetensors: tensor "${t.name}"`;
    if (t.name === METADATA_KEY) throw new RangeError(`${where}: the name is reserved for metadata`);
    if (names.has(t.name)) throw new RangeError(`${where}: the name appears twice`);
    names.add(t.name);
    if (!t.shape.every((d) => isCount(d))) {
      throw new RangeError(`${where}: shape [${t.shape.join(', ')}] is not a list of counts`);
    }
    const elements = shapeSize(t.shape);
    if (t.data.length !== elements) {
      throw new RangeError(
        `${where}: ${t.data.length} values; expected ${elements} for shape [${t.shape.join(', ')}]`,
      );
    }
  }

  const ordered = [...tensors].sort(
    (a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  // Built entry by entry: a JS object would move integer-like names ("0") to the front.
  const entries: string[] = [];
  if (metadata !== undefined) entries.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  let dataLength = 0;
  for (const t of ordered) {
    const byteLength = t.data.length * DTYPE_BYTES[t.dtype];
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [dataLength, dataLength + byteLength] };
    entries.push(`${JSON.stringify(t.name)}:${JSON.stringify(info)}`);
    dataLength += byteLength;
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // spaces
  let offset = 8 + headerLength;
  for (const t of ordered) {
    if (t.dtype === 'F32') {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    } else {
      // offset is even: only whole 4- and 2-byte tensors come before this one.
      const halves = new Uint16Array(out.buffer, offset, t.data.length);
      const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
      const narrow = t.dtype === 'F16' ? f32BitsToF16Bits : f32BitsToBf16Bits;
      for (let i = 0; i < bits.length; i++) halves[i] = narrow(bits[i]);
    }
    offset += t.data.length * DTYPE_BYTES[t.dtype];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints: model.safetensors.index.json
//   { "metadata"?: { "total_size"?: bytes, ... }, "weight_map": { tensor name: shard file name } }

export interface SafetensorsIndex {
  /** Tensor name → shard file name (relative to the index file's folder). */
  weightMap: Map<string, string>;
  /** The distinct shard files, in order of first appearance in weight_map. */
  shardFiles: string[];
  /** metadata.total_size when present: the tensors' data bytes summed over all shards. */
  totalSize: number | null;
}

export function parseSafetensorsIndex(text: string, fileName: string): SafetensorsIndex {
  const fail: Fail = failIn(fileName);
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch (e) {
    fail(undefined, `text that is not JSON (${(e as Error).message})`, 'a JSON object');
  }
  if (!isPlainObject(index)) fail(undefined, `JSON ${describeJson(index)}`, 'a JSON object');

  let totalSize: number | null = null;
  if (index.metadata !== undefined) {
    if (!isPlainObject(index.metadata)) {
      fail('field "metadata"', `JSON ${describeJson(index.metadata)}`, 'an object');
    }
    const size = index.metadata.total_size;
    if (size !== undefined) {
      if (!isCount(size)) fail('field "metadata.total_size"', quoteJson(size), 'a byte count');
      totalSize = size;
    }
  }

  const weightMap = new Map<string, string>();
  if (!isPlainObject(index.weight_map)) {
    const found = `JSON ${describeJson(index.weight_map)}`;
    fail('field "weight_map"', found, 'an object of tensor name → shard file');
  }
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (typeof shard !== 'string' || !isShardFileName(shard)) {
      fail(
        `weight_map entry "${name}"`,
        quoteJson(shard),
        'a file name ending in .safetensors, without folders',
      );
    }
    weightMap.set(name, shard);
  }
  if (weightMap.size === 0) fail('field "weight_map"', 'no tensors', 'at least one tensor');
  return { weightMap, shardFiles: [...new Set(weightMap.values())], totalSize };
}

/** A plain name in the index's own folder: nothing that could reach outside it. */
function isShardFileName(name: string): boolean {
  return /^[^/\\]+\.safetensors$/.test(name);
}
