// The ONNX folder's fixed names (src/export/onnx.ts writes the files). It imports nothing, so the
// page can name them without loading the exporter.

import type { OnnxWeightType } from '../onnx/decoder';

export type { OnnxWeightType };
export const ONNX_WEIGHT_TYPES = ['fp32', 'fp16'] as const satisfies readonly OnnxWeightType[];
export const ONNX_FOLDER = 'onnx';
export const GENERATION_CONFIG_FILE = 'generation_config.json';
/** config.json's section for transformers.js (which model files keep their weights outside). */
export const TRANSFORMERS_JS_CONFIG = 'transformers.js_config';

/** onnx/model.onnx for float32 weights, onnx/model_fp16.onnx for float16 (transformers.js's dtype 'fp16' loads it). */
export function onnxFileName(weightType: OnnxWeightType): string {
  return `${ONNX_FOLDER}/model${weightType === 'fp16' ? '_fp16' : ''}.onnx`;
}
