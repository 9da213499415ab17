// The page's sections below the setup: Train, Try it, Inside the adapter, Export, Compare methods,
// History and Your GPU, in that order. Shown while the engine worker looks for the GPU (their
// controls wait for it) and once it has one.

import type { ReactNode } from 'react';
import { useSectionVisible } from '../state/form';
import { AnatomySection } from './anatomy/AnatomySection';
import { ExportSection } from './export/ExportSection';
import { GpuSection } from './gpu/GpuSection';
import { HistorySection } from './history/HistorySection';
import { MethodsSection } from './methods/MethodsSection';
import { TrainSection } from './train/TrainSection';
import { TrySection } from './try/TrySection';

/** The names the share link's `&hide=` gives these sections. */
export type RunSectionName = 'train' | 'try' | 'adapter' | 'export' | 'methods' | 'history' | 'gpu';

/** The one place where these sections ask whether the link hides them (`&hide=`). */
function Shown({ name, children }: { name: RunSectionName; children: ReactNode }) {
  return useSectionVisible(name) ? children : null;
}

export function RunSections() {
  return (
    <>
      <Shown name="train">
        <TrainSection />
      </Shown>
      <Shown name="try">
        <TrySection />
      </Shown>
      <Shown name="adapter">
        <AnatomySection />
      </Shown>
      <Shown name="export">
        <ExportSection />
      </Shown>
      <Shown name="methods">
        <MethodsSection />
      </Shown>
      <Shown name="history">
        <HistorySection />
      </Shown>
      <Shown name="gpu">
        <GpuSection />
      </Shown>
    </>
  );
}
