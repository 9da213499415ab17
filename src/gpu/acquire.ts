// Adapter → device → GpuContext, shared by the browser and Node front doors. Asks for the
// adapter's larger limits (big models need big storage bindings) and its optional features
// when present; requires none of them.

import { GpuContext, type AdapterSummary } from './context';
import { WebGpuUnavailableError } from './errors';

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Submit and check after each dispatch (slower; errors name exactly one kernel). */
  strict?: boolean;
  /** Where the adapter came from, for the error message when there is none. */
  hint?: string;
}

const OPTIONAL_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export async function requestContext(gpu: GPU, options: AcquireOptions = {}): Promise<GpuContext> {
  const adapter = await chooseAdapter(gpu, options.powerPreference ?? 'high-performance');
  if (!adapter) {
    throw new WebGpuUnavailableError(
      `WebGPU is present but no GPU adapter was found${options.hint ? ` (${options.hint})` : ''}.`,
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'd2lora' });
  return new GpuContext(device, summarizeAdapter(adapter), options.strict ?? false);
}

/**
 * The core adapter, unless it is a fallback (a software rasterizer such as SwiftShader) and a
 * compatibility-mode adapter that is not exists: Chromium's OpenGL ES backend (and some Android
 * devices) offers only that, and it runs the same WGSL compute kernels, often much faster than
 * the fallback (Chromium with ANGLE on Vulkan reaches a real driver this way).
 */
async function chooseAdapter(gpu: GPU, powerPreference: GPUPowerPreference): Promise<GPUAdapter | null> {
  const core = await gpu.requestAdapter({ powerPreference });
  if (core !== null && !isFallback(core)) return core;
  const compatibility = await gpu.requestAdapter({ powerPreference, featureLevel: 'compatibility' } as GPURequestAdapterOptions);
  if (compatibility !== null && !isFallback(compatibility)) return compatibility;
  return core ?? compatibility;
}

function isFallback(adapter: GPUAdapter): boolean {
  return (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true || adapter.info.isFallbackAdapter === true;
}

function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isCpu: isFallback(adapter) || /llvmpipe|lavapipe|swiftshader|software|warp/.test(text),
  };
}
