// What the page knows about the user's GPU: whether WebGPU is there, the adapter the engine
// worker acquired, its features and the limits training depends on, and the kernel self-test run
// in the worker. Components read plain data and call the actions; the page never opens a device.

import { create } from 'zustand';
import { NO_WEBGPU_HELP } from '../gpu/browser';
import type { AdapterSummary } from '../gpu/context';
import type { SelfTestCase, SelfTestReport } from '../selftest/matmul';
import { REPORTED_LIMITS, type ReportedLimit } from '../worker/protocol';
import { engine, forgetIfBroken, onEngineError } from './worker';

/** What the page says when the browser has no WebGPU (components take it from here, not from gpu/). */
export { NO_WEBGPU_HELP };

export type WebGpuStatus = 'checking' | 'unavailable' | 'ready' | 'error';
export type SelfTestStatus = 'idle' | 'running' | 'passed' | 'failed';

export const TRAINING_LIMITS = REPORTED_LIMITS;
export type TrainingLimit = ReportedLimit;

export interface SelfTestState {
  status: SelfTestStatus;
  /** Cases finished so far, in order. */
  cases: SelfTestCase[];
  /** Cases in all, once the worker has reported the first. */
  total: number | null;
  report: SelfTestReport | null;
  /** An error that stopped the run (compile error, lost device), as the runtime worded it. */
  error: string | null;
}

export interface SystemState {
  webgpu: WebGpuStatus;
  /** Why WebGPU is unavailable, or what went wrong with it. */
  problem: string | null;
  adapter: AdapterSummary | null;
  /** Features enabled on the worker's device, sorted. */
  features: string[];
  limits: Record<TrainingLimit, number> | null;
  selfTest: SelfTestState;
  /** Starts the engine worker (which acquires the GPU), then runs the self-test; later calls return the first call's promise. */
  start(): Promise<void>;
  /** Runs the self-test again (no-op while one runs or without a GPU). */
  runSelfTest(): Promise<void>;
}

let starting: Promise<void> | null = null;

const idleSelfTest: SelfTestState = { status: 'idle', cases: [], total: null, report: null, error: null };

export const useSystem = create<SystemState>()((set, get) => ({
  webgpu: 'checking',
  problem: null,
  adapter: null,
  features: [],
  limits: null,
  selfTest: idleSelfTest,

  start() {
    starting ??= (async () => {
      // The page itself only asks whether WebGPU exists; the device lives in the worker.
      if (typeof navigator === 'undefined' || !('gpu' in navigator) || !navigator.gpu) {
        set({ webgpu: 'unavailable', problem: NO_WEBGPU_HELP });
        return;
      }
      try {
        const { ready } = await engine();
        set({ webgpu: 'ready', problem: null, adapter: ready.adapter, features: ready.features, limits: ready.limits });
      } catch (e) {
        set({ webgpu: e instanceof Error && e.name === 'WebGpuUnavailableError' ? 'unavailable' : 'error', problem: messageOf(e) });
        return;
      }
      onEngineError((e) => {
        forgetIfBroken(e);
        set({ webgpu: 'error', problem: e.message });
      });
      await get().runSelfTest();
    })();
    return starting;
  },

  async runSelfTest() {
    if (get().webgpu !== 'ready' || get().selfTest.status === 'running') return;
    set({ selfTest: { ...idleSelfTest, status: 'running' } });
    try {
      const { client } = await engine();
      const { report } = await client.selfTest((c, _done, total) => set((s) => ({ selfTest: { ...s.selfTest, total, cases: [...s.selfTest.cases, c] } })));
      set((s) => ({ selfTest: { ...s.selfTest, status: report.passed ? 'passed' : 'failed', cases: report.cases, total: report.cases.length, report } }));
    } catch (e) {
      forgetIfBroken(e);
      set((s) => ({ selfTest: { ...s.selfTest, status: 'failed', error: messageOf(e) } }));
    }
  },
}));

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
