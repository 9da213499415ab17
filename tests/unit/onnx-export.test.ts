// The ONNX folder's layout and the model file's contract, read back with onnx-proto: the files an
// onnx-community repository has, IR version 8 and the standard opset 17 alone, Optimum's input and
// output names with their types and (symbolic) shapes, the weights as fp32 or fp16 initializers
// inside the file or in external data, config.json as the checkpoint writes it (plus
// transformers.js's external-data switch when needed), and the stop ids of generation_config.json.

import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportMergedCheckpoint } from '../../src/export/checkpoint';
import { exportOnnx, generationConfigJson, onnxFileName } from '../../src/export/onnx';
import type { LoadedModel } from '../../src/io/load';
import { loadModelInNode } from '../../src/io/node-source';
import { Graph } from '../../src/onnx/graph';
import { IR_VERSION, OPSET, serializeGraph } from '../../src/onnx/model-file';

const { onnx } = onnxProto;
const PRODUCER = { name: 'd2lora-playground tests', version: '0' };
const json = (bytes: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;

/** Every operator the decoder may use: the standard domain's, all in opset 17 and run by onnxruntime-web's WASM and WebGPU providers. */
const STANDARD_OPS = new Set([
  'Add', 'And', 'Cast', 'Concat', 'Gather', 'Gemm', 'Identity', 'LayerNormalization', 'LessOrEqual', 'MatMul', 'Mul', 'Neg', 'Range',
  'Reciprocal', 'ReduceMean', 'Reshape', 'Shape', 'Sigmoid', 'Slice', 'Softmax', 'Sqrt', 'Squeeze', 'Sub', 'Transpose', 'Unsqueeze', 'Where',
]);

function shapeOf(v: onnxProto.onnx.IValueInfoProto): (number | string)[] {
  return v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
}

describe('exportOnnx: stories260K', () => {
  let model: LoadedModel;
  let files: Map<string, Uint8Array>;
  let proto: onnxProto.onnx.ModelProto;
  beforeAll(async () => {
    model = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
    files = exportOnnx(model, model.weights, { weightTypes: ['fp32', 'fp16'], producer: PRODUCER });
    proto = onnx.ModelProto.decode(files.get(onnxFileName('fp32'))!);
  });

  it('lays the folder out as an onnx-community repository: onnx/ beside config.json, generation_config.json and the tokenizer', () => {
    expect([...files.keys()].sort()).toEqual(['config.json', 'generation_config.json', 'onnx/model.onnx', 'onnx/model_fp16.onnx', 'tok512.bin', 'tokenizer.json', 'tokenizer_config.json']);
    const checkpoint = exportMergedCheckpoint(model, model.weights);
    for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'tok512.bin']) expect(files.get(name), name).toEqual(checkpoint.get(name));
    // llama2.c's run.c stops at BOS as well as EOS, and so does our engine's generation.
    expect(json(files.get('generation_config.json'))).toEqual({ bos_token_id: 1, eos_token_id: [2, 1], do_sample: false });
  });

  it('is IR version 8 with the standard opset 17 and standard operators only', () => {
    expect(Number(proto.irVersion)).toBe(IR_VERSION);
    expect(proto.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', OPSET]]);
    expect(proto.producerName).toBe(PRODUCER.name);
    const ops = new Set(proto.graph!.node!.map((n) => n.opType!));
    expect([...ops].filter((op) => !STANDARD_OPS.has(op))).toEqual([]);
    expect(proto.graph!.node!.every((n) => !n.domain)).toBe(true);
  });

  it("has Optimum's inputs and outputs, with their types and shapes", () => {
    const { numLayers: L, numKvHeads: KV, headDim: D, vocabSize: V } = model.config;
    const io = (list: onnxProto.onnx.IValueInfoProto[]) => list.map((v) => [v.name, v.type!.tensorType!.elemType, shapeOf(v)]);
    const kv = (prefix: string, length: string) =>
      Array.from({ length: L }, (_, i) => [`${prefix}.${i}.key`, `${prefix}.${i}.value`])
        .flat()
        .map((name) => [name, onnx.TensorProto.DataType.FLOAT, ['batch_size', KV, length, D]]);
    const INT64 = onnx.TensorProto.DataType.INT64;
    expect(io(proto.graph!.input!)).toEqual([
      ['input_ids', INT64, ['batch_size', 'sequence_length']],
      ['attention_mask', INT64, ['batch_size', 'total_sequence_length']],
      ['position_ids', INT64, ['batch_size', 'sequence_length']],
      ...kv('past_key_values', 'past_sequence_length'),
    ]);
    expect(io(proto.graph!.output!)).toEqual([...kv('present', 'total_sequence_length'), ['logits', onnx.TensorProto.DataType.FLOAT, ['batch_size', 'sequence_length', V]]]);
  });

  it('keeps every weight as an fp32 initializer inside the file, and as fp16 in model_fp16.onnx', () => {
    const floats = (p: onnxProto.onnx.ModelProto) => p.graph!.initializer!.filter((t) => t.dataType !== onnx.TensorProto.DataType.INT64);
    const values = (p: onnxProto.onnx.ModelProto, type: number) => floats(p).filter((t) => t.dataType === type).reduce((a, t) => a + t.dims!.reduce((x, y) => x * Number(y), 1), 0);
    const parameters = [...model.weights.values()].reduce((a, w) => a + w.data.length, 0);
    const ropeTables = 2 * model.config.maxPositions * model.config.headDim;
    expect(floats(proto).every((t) => t.rawData!.byteLength > 0 && t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL)).toBe(true);
    expect(values(proto, onnx.TensorProto.DataType.FLOAT)).toBe(parameters + ropeTables + 3); // and three scalars: ε, 1/√D, the masked score
    const fp16 = onnx.ModelProto.decode(files.get(onnxFileName('fp16'))!);
    expect(values(fp16, onnx.TensorProto.DataType.FLOAT16)).toBe(parameters);
    expect(values(fp16, onnx.TensorProto.DataType.FLOAT)).toBe(ropeTables + 3); // RoPE's tables stay float32
    expect(files.get(onnxFileName('fp16'))!.byteLength).toBeLessThan(0.6 * files.get(onnxFileName('fp32'))!.byteLength);
  });

  it('with external data: the weights in onnx/model.onnx_data, each initializer naming its place, and config.json saying so for transformers.js', () => {
    const external = exportOnnx(model, model.weights, { externalData: true, producer: PRODUCER });
    const data = external.get('onnx/model.onnx_data')!;
    const p = onnx.ModelProto.decode(external.get('onnx/model.onnx')!);
    const outside = p.graph!.initializer!.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
    let end = 0;
    for (const t of outside) {
      const entry = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
      expect(entry.location).toBe('model.onnx_data');
      expect(Number(entry.offset)).toBe(end);
      end += Number(entry.length);
    }
    expect(end).toBe(data.byteLength);
    // Only shapes and scalars stay inside.
    expect(p.graph!.initializer!.filter((t) => t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL).every((t) => t.rawData!.byteLength < 1024)).toBe(true);
    expect(json(external.get('config.json'))['transformers.js_config']).toEqual({ use_external_data_format: { 'model.onnx': 1 } });
  });
});

describe('generationConfigJson', () => {
  const base = { family: 'llama', bosTokenId: 1, eosTokenId: 2 } as const;
  it('stops at EOS and at BOS, once each; a model without them has no stop', () => {
    const of = (c: Partial<typeof base> | { bosTokenId: number | null; eosTokenId: number | null }) => JSON.parse(generationConfigJson({ ...base, ...c } as never)) as Record<string, unknown>;
    expect(of({ bosTokenId: 0, eosTokenId: 0 })).toEqual({ bos_token_id: 0, eos_token_id: 0, do_sample: false });
    expect(of({ bosTokenId: null, eosTokenId: 151643 })).toEqual({ eos_token_id: 151643, do_sample: false });
    expect(of({ bosTokenId: null, eosTokenId: null })).toEqual({ do_sample: false });
  });
});

describe('the ONNX graph builder', () => {
  it('refuses a value name given twice and an initializer whose bytes do not fit its shape, naming them', () => {
    const g = new Graph('test');
    g.input('x', 'float32', [2]);
    expect(() => g.input('x', 'float32', [2])).toThrow('ONNX graph "test": the value name "x" is used twice');
    expect(() => g.initializer('w', 'float32', [2, 3], new Uint8Array(20))).toThrow('ONNX initializer "w": 20 bytes for float32 [2, 3] (24 expected)');
  });

  it('shares one initializer per distinct constant', () => {
    const g = new Graph('test');
    expect(g.ints([0, 1])).toBe(g.ints([0, 1]));
    expect(g.ints([1], [])).not.toBe(g.ints([1])); // a scalar and a one-element list
    expect(g.float(1e-5)).toBe(g.float(1e-5));
    expect(g.float(1e-5)).not.toBe(g.float(1e-6));
    expect(g.initializers).toHaveLength(5);
  });

  it('writes an int attribute as INT and refuses a float that is not boxed', () => {
    const g = new Graph('test');
    const x = g.input('x', 'float32', [2]);
    g.output('y', g.op('Softmax', [x], { axis: 0.5 }), 'float32', [2]);
    expect(() => serializeGraph(g, { dataFile: 'd', producer: PRODUCER })).toThrow('ONNX attribute axis: 0.5 is not an integer (box a float as { float: x })');
  });
});
