// GpuContext against a stand-in GPUDevice whose loss arrives in either order: a pending GPU call
// rejected before `device.lost` resolves (Chromium, after device.destroy() under a read-back) is
// still raised as the DeviceLostError it is, as it is when `lost` resolves first (Dawn in Node);
// a call that fails on a device that is not lost keeps its own error.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GpuContext, type AdapterSummary } from '../../src/gpu/context';
import { DeviceLostError } from '../../src/gpu/errors';

/** A device with nothing but what GpuContext's constructor and sync() touch; `lose` resolves `lost`. */
function fakeDevice(workDone: () => Promise<undefined>) {
  let lose: (info: { reason: string; message: string }) => void = () => {};
  const lost = new Promise<{ reason: string; message: string }>((resolve) => (lose = resolve));
  const device = {
    features: new Set<string>(),
    limits: {},
    lost,
    createBuffer: () => ({ destroy() {} }),
    queue: { onSubmittedWorkDone: workDone },
    destroy() {},
  };
  return { device: device as unknown as GPUDevice, lose };
}

const ADAPTER: AdapterSummary = { vendor: 'test', architecture: '', device: '', description: 'stand-in', isCpu: true };

describe('GpuContext: a device lost under a pending call', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.stubGlobal('GPUBufferUsage', { STORAGE: 0x80, COPY_DST: 0x8, COPY_SRC: 0x4, MAP_READ: 0x1, UNIFORM: 0x40 });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('raises DeviceLostError when the call is rejected before device.lost resolves', async () => {
    const { device, lose } = fakeDevice(() => Promise.reject(new DOMException('Device is lost', 'AbortError')));
    const ctx = new GpuContext(device, ADAPTER);
    const synced = ctx.sync().catch((e: unknown) => e);
    // The loss is reported 700 ms after the rejection (as Chromium on lavapipe does), inside the wait.
    await vi.advanceTimersByTimeAsync(700);
    lose({ reason: 'destroyed', message: 'Device was destroyed.' });
    const error = await synced;
    expect(error).toBeInstanceOf(DeviceLostError);
    expect((error as DeviceLostError).message).toMatch(/^the GPU device was lost \(destroyed: Device was destroyed\.\)/);
  });

  it('raises DeviceLostError when device.lost resolves before the call is rejected', async () => {
    let reject: (e: Error) => void = () => {};
    const { device, lose } = fakeDevice(() => new Promise((_, r) => (reject = r)));
    const ctx = new GpuContext(device, ADAPTER);
    const synced = ctx.sync().catch((e: unknown) => e);
    lose({ reason: 'unknown', message: 'driver reset' });
    await vi.advanceTimersByTimeAsync(0);
    reject(new DOMException('Device is lost', 'AbortError'));
    expect(await synced).toBeInstanceOf(DeviceLostError);
  });

  it('keeps the call\'s own error when the device is not lost within the wait', async () => {
    const own = new DOMException('mapping aborted', 'AbortError');
    const { device } = fakeDevice(() => Promise.reject(own));
    const ctx = new GpuContext(device, ADAPTER);
    const synced = ctx.sync().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(9_999);
    let settled = false;
    void synced.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled, 'still waiting for a loss inside the 10 s wait').toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await synced).toBe(own);
  });
});
