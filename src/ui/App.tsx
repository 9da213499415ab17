// The page: what the playground is, the user's GPU, the kernel self-test and a first run of the
// engine (in its worker); or, without WebGPU, why nothing can run and what to do about it.

import { useSystem } from '../state/system';
import { EnginePanel } from './EnginePanel';
import { RunPanel } from './RunPanel';
import { GpuErrorPanel } from './GpuErrorPanel';
import { SelfTestPanel } from './SelfTestPanel';
import { SetupSections } from './setup/SetupSections';
import { StatusBadge } from './StatusBadge';
import { SystemPanel } from './SystemPanel';
import { UnavailablePanel } from './UnavailablePanel';

export function App() {
  const webgpu = useSystem((s) => s.webgpu);
  const hasAdapter = useSystem((s) => s.adapter !== null);
  return (
    <>
      <header className="page-header">
        <div className="wrap">
          <h1>D2-LoRA Playground</h1>
          <p className="tagline">
            Fine-tune small language models with D2-LoRA in your browser, on your own GPU, through hand-written
            WebGPU kernels.
          </p>
          <p className="status-line">
            WebGPU <StatusBadge status={webgpu} testId="webgpu-status" />
          </p>
        </div>
      </header>
      <main className="wrap">
        {webgpu === 'checking' && (
          <section className="panel" aria-busy="true">
            <p>Looking for a WebGPU adapter…</p>
          </section>
        )}
        {webgpu === 'unavailable' && <UnavailablePanel />}
        {webgpu === 'error' && <GpuErrorPanel />}
        {hasAdapter && (
          <>
            <SetupSections />
            <RunPanel />
            <EnginePanel />
            <SystemPanel />
            <SelfTestPanel />
          </>
        )}
      </main>
    </>
  );
}
