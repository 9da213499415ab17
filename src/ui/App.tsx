// The page: what the playground is; then the run's setup (Model, Task, Method and settings) and
// its sections (Train, Try it, Export, Your GPU), shown while the engine worker looks for the GPU
// and once it has one; or, without WebGPU or with
// a GPU that failed, why nothing can run and what to do about it.

import { useSystem } from '../state/system';
import { GpuErrorPanel } from './GpuErrorPanel';
import { ResumeOffer } from './resume/ResumeOffer';
import { RunSections } from './RunSections';
import { SetupSections } from './setup/SetupSections';
import { StatusBadge } from './StatusBadge';
import { UnavailablePanel } from './UnavailablePanel';

export function App() {
  const webgpu = useSystem((s) => s.webgpu);
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
        {webgpu === 'unavailable' && <UnavailablePanel />}
        {webgpu === 'error' && <GpuErrorPanel />}
        {(webgpu === 'checking' || webgpu === 'ready') && (
          <>
            <ResumeOffer />
            <SetupSections />
            <RunSections />
          </>
        )}
      </main>
    </>
  );
}
