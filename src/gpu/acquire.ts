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
  const adapter =
    (await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' })) ??
    // Chromium's OpenGL ES backend (and some Android devices) only offers compatibility mode.
    (await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions));
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

function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  const isFallback = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isCpu: isFallback || /llvmpipe|lavapipe|swiftshader|software|warp/.test(text),
  };
}
