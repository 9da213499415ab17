// The page's sections below the setup: Train, Try it, Export and Your GPU, in that order. Shown
// while the engine worker looks for the GPU (their controls wait for it) and once it has one.

import type { ReactNode } from 'react';
import { ExportSection } from './export/ExportSection';
import { GpuSection } from './gpu/GpuSection';
import { TrainSection } from './train/TrainSection';
import { TrySection } from './try/TrySection';

/** The names the share link's `&hide=` gives these sections. */
export type RunSectionName = 'train' | 'try' | 'export' | 'gpu';

/**
 * The one place where these sections ask whether the link hides them: it will call the form
 * store's useSectionVisible(name) (`&hide=`) once that exists; until then every one is shown.
 */
function Shown({ children }: { name: RunSectionName; children: ReactNode }) {
  return children;
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
      <Shown name="export">
        <ExportSection />
      </Shown>
      <Shown name="gpu">
        <GpuSection />
      </Shown>
    </>
  );
}
