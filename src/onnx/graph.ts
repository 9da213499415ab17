// A small builder of ONNX graphs: inputs and outputs with their (partly symbolic) shapes, weight
// initializers as raw little-endian bytes, and nodes of the standard operator set, each value
// named once. It knows nothing of models (src/onnx/decoder.ts builds the decoder with it) nor of
// the file (src/onnx/model-file.ts serializes it with onnx-proto).

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** The element types the decoder uses, as ONNX's TensorProto.DataType numbers them. */
export const ELEM_TYPE = { float32: onnx.TensorProto.DataType.FLOAT, float16: onnx.TensorProto.DataType.FLOAT16, int64: onnx.TensorProto.DataType.INT64, bool: onnx.TensorProto.DataType.BOOL } as const;
export type ElemType = keyof typeof ELEM_TYPE;

/** A dimension: a size, or a symbolic name ("batch_size") that the runtime binds. */
export type Dim = number | string;

/** A node attribute: an integer, a list of integers, a float (boxed: 1 would read as an int), or a string. */
export type Attribute = number | readonly number[] | { float: number } | string;

export interface Initializer {
  name: string;
  type: ElemType;
  dims: readonly number[];
  /** Little-endian raw bytes, as TensorProto.raw_data holds them. */
  bytes: Uint8Array;
}

/** A graph input or output and its declared type. */
export interface ValueInfo {
  name: string;
  type: ElemType;
  dims: readonly Dim[];
}

export interface GraphNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: Readonly<Record<string, Attribute>>;
}

export class Graph {
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly initializers: Initializer[] = [];
  readonly nodes: GraphNode[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** Declares a graph input; returns its name. */
  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.claim(name);
    this.inputs.push({ name, type, dims });
    return name;
  }

  /** Makes `value` (a node's output) the graph output `name`, with its declared type. */
  output(name: string, value: string, type: ElemType, dims: readonly Dim[]): void {
    this.op('Identity', [value], {}, name);
    this.outputs.push({ name, type, dims });
  }

  /** A weight: `bytes` hold the values of `dims` in row-major order. Returns its name. */
  initializer(name: string, type: ElemType, dims: readonly number[], bytes: Uint8Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const width = type === 'float16' ? 2 : type === 'float32' ? 4 : type === 'int64' ? 8 : 1;
    if (bytes.byteLength !== count * width) {
      throw new RangeError(`ONNX initializer "${name}": ${bytes.byteLength} bytes for ${type} [${dims.join(', ')}] (${count * width} expected)`);
    }
    this.claim(name);
    this.initializers.push({ name, type, dims, bytes });
    return name;
  }

  /** An int64 constant (a shape, axes, an index; dims [] for a scalar), one initializer per distinct value. */
  ints(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `${values.join(',')}/${dims.join(',')}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.initializer(this.fresh(`const_i64_${values.join('_').replace(/-/g, 'm')}`), 'int64', dims, bytesOf(BigInt64Array.from(values, BigInt)));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A float32 scalar constant, one initializer per distinct value. */
  float(value: number): string {
    const key = `f32:${Math.fround(value)}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.initializer(this.fresh('const_f32'), 'float32', [], bytesOf(Float32Array.of(value)));
      this.constants.set(key, name);
    }
    return name;
  }

  /** Appends a node of one output; returns the output's name (`output`, else a fresh name after the operator). */
  op(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, Attribute>> = {}, output?: string): string {
    const name = output ?? this.fresh(opType);
    this.claim(name);
    this.nodes.push({ opType, inputs, outputs: [name], attributes });
    return name;
  }

  /** A name not used yet (claimed by whoever uses it). */
  private fresh(base: string): string {
    let name: string;
    do name = `${base}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new RangeError(`ONNX graph "${this.name}": the value name "${name}" is used twice`);
    this.names.add(name);
  }
}

/** The bytes of a typed array (little-endian on every platform the page and Node run on). */
export function bytesOf(a: Float32Array | Uint16Array | BigInt64Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
