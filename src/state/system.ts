// What the page knows about the user's GPU: whether WebGPU is there, the adapter, its features
// and the limits training depends on, and the kernel self-test. The GpuContext lives in this
// module, outside the reactive state: components read plain data and call the actions, and
// never see a device or a buffer.

import { create } from 'zustand';
import { acquireBrowserContext } from '../gpu/browser';
import type { AdapterSummary, GpuContext } from '../gpu/context';
import { WebGpuUnavailableError } from '../gpu/errors';
import { runMatmulSelfTest, SELF_TEST_CASE_COUNT, type SelfTestCase, type SelfTestReport } from '../selftest/matmul';

/** What the page says when the browser has no WebGPU (components take it from here, not from gpu/). */
export { NO_WEBGPU_HELP } from '../gpu/browser';

export type WebGpuStatus = 'checking' | 'unavailable' | 'ready' | 'error';
export type SelfTestStatus = 'idle' | 'running' | 'passed' | 'failed';

/** The device limits that bound what can be trained: tensor sizes, tiles, dispatch grids. */
export const TRAINING_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
] as const;
export type TrainingLimit = (typeof TRAINING_LIMITS)[number];

export interface SelfTestState {
  status: SelfTestStatus;
  /** Cases finished so far, in order. */
  cases: SelfTestCase[];
  total: number;
  report: SelfTestReport | null;
  /** An error that stopped the run (compile error, lost device), as the runtime worded it. */
  error: string | null;
}

export interface SystemState {
  webgpu: WebGpuStatus;
  /** Why WebGPU is unavailable, or what went wrong with it. */
  problem: string | null;
  adapter: AdapterSummary | null;
  /** Features enabled on the device, sorted. */
  features: string[];
  limits: Record<TrainingLimit, number> | null;
  selfTest: SelfTestState;
  /** Acquires the GPU, then runs the self-test; later calls return the first call's promise. */
  start(): Promise<void>;
  /** Runs the self-test again (no-op while one runs or without a GPU). */
  runSelfTest(): Promise<void>;
}

let context: GpuContext | null = null;
let starting: Promise<void> | null = null;

const idleSelfTest: SelfTestState = { status: 'idle', cases: [], total: SELF_TEST_CASE_COUNT, report: null, error: null };

export const useSystem = create<SystemState>()((set, get) => ({
  webgpu: 'checking',
  problem: null,
  adapter: null,
  features: [],
  limits: null,
  selfTest: idleSelfTest,

  start() {
    starting ??= (async () => {
      try {
        context = await acquireBrowserContext();
      } catch (e) {
        const unavailable = e instanceof WebGpuUnavailableError;
        set({ webgpu: unavailable ? 'unavailable' : 'error', problem: messageOf(e) });
        return;
      }
      const ctx = context;
      ctx.onDeviceLost((e) => {
        context = null;
        set({ webgpu: 'error', problem: e.message });
      });
      const limits = Object.fromEntries(TRAINING_LIMITS.map((name) => [name, ctx.limits[name]])) as Record<TrainingLimit, number>;
      set({ webgpu: 'ready', problem: null, adapter: ctx.adapter, features: [...ctx.features].sort(), limits });
      await get().runSelfTest();
    })();
    return starting;
  },

  async runSelfTest() {
    const ctx = context;
    if (!ctx || get().selfTest.status === 'running') return;
    set({ selfTest: { ...idleSelfTest, status: 'running' } });
    try {
      const report = await runMatmulSelfTest(ctx, (c) =>
        set((s) => ({ selfTest: { ...s.selfTest, cases: [...s.selfTest.cases, c] } })),
      );
      set((s) => ({ selfTest: { ...s.selfTest, status: report.passed ? 'passed' : 'failed', cases: report.cases, report } }));
    } catch (e) {
      set((s) => ({ selfTest: { ...s.selfTest, status: 'failed', error: messageOf(e) } }));
    }
  },
}));

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
