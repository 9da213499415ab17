// The ONNX file of a Graph: a ModelProto of IR version 8 importing the standard operator set 17
// (ONNX 1.12's pair; onnxruntime-web's WASM and WebGPU providers run both), encoded by onnx-proto.
// Weights are initializers: inside the file as raw_data, or — when they would pass the 2 GiB a
// protobuf message can hold — in one external data file beside it, each initializer naming its
// offset and length there (ONNX's external data format; onnxruntime and transformers.js read it).

import onnxProto from 'onnx-proto';
import { ELEM_TYPE, type Attribute, type Graph, type Initializer, type ValueInfo } from './graph';

const { onnx } = onnxProto;

export const OPSET = 17;
export const IR_VERSION = 8;
/** The largest protobuf message: a model file and all it holds must stay under it. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Room kept under the limit for the graph itself (nodes, names, shapes) when the weights are inside. */
const GRAPH_ROOM = 64 * 1024 * 1024;

export interface OnnxFile {
  model: Uint8Array;
  /** The external data file's bytes, when the weights live outside the model file. */
  data: Uint8Array | null;
}

export interface SerializeOptions {
  /** The external data file's name, relative to the model file ("model.onnx_data"). */
  dataFile: string;
  /** Weights outside the model file: always, never, or (default) when inside they would pass the protobuf limit. */
  externalData?: boolean | 'auto';
  producer: { name: string; version: string };
}

/**
 * Initializers this small stay inside the model file even with external data (onnx's own
 * threshold): shapes and axes, which the runtime's shape inference reads before any data.
 */
const EXTERNAL_MIN_BYTES = 1024;

/** The bytes of the model file (and of its external data file, if any). */
export function serializeGraph(graph: Graph, opts: SerializeOptions): OnnxFile {
  const weightBytes = graph.initializers.reduce((a, t) => a + t.bytes.byteLength, 0);
  const external = opts.externalData === 'auto' || opts.externalData === undefined ? weightBytes > PROTOBUF_LIMIT - GRAPH_ROOM : opts.externalData;
  const outside = (t: Initializer) => external && t.bytes.byteLength >= EXTERNAL_MIN_BYTES;
  let data: Uint8Array | null = null;
  if (external) {
    data = new Uint8Array(graph.initializers.reduce((a, t) => a + (outside(t) ? t.bytes.byteLength : 0), 0));
  }
  let offset = 0;
  const initializer = graph.initializers.map((t): onnxProto.onnx.ITensorProto => {
    if (!outside(t)) return { name: t.name, dataType: ELEM_TYPE[t.type], dims: [...t.dims], rawData: t.bytes };
    data!.set(t.bytes, offset);
    const proto = externalTensor(t, opts.dataFile, offset);
    offset += t.bytes.byteLength;
    return proto;
  });
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: opts.producer.name,
    producerVersion: opts.producer.version,
    graph: {
      name: graph.name,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer,
      node: graph.nodes.map((n, i) => ({
        name: `${n.opType}_${i}`,
        opType: n.opType,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attributes).map(([name, value]) => attribute(name, value)),
      })),
    },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  if (bytes.byteLength > PROTOBUF_LIMIT) {
    throw new RangeError(`the ONNX model file would be ${bytes.byteLength} bytes, over the protobuf limit of ${PROTOBUF_LIMIT}: write its weights as external data`);
  }
  return { model: bytes, data };
}

function externalTensor(t: Initializer, location: string, offset: number): onnxProto.onnx.ITensorProto {
  return {
    name: t.name,
    dataType: ELEM_TYPE[t.type],
    dims: [...t.dims],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(t.bytes.byteLength) },
    ],
  };
}

function valueInfo(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: { tensorType: { elemType: ELEM_TYPE[v.type], shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function attribute(name: string, value: Attribute): onnxProto.onnx.IAttributeProto {
  const type = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new RangeError(`ONNX attribute ${name}: ${value} is not an integer (box a float as { float: x })`);
    return { name, type: type.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: type.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: type.INTS, ints: [...value] };
  return { name, type: type.FLOAT, f: (value as { float: number }).float };
}
