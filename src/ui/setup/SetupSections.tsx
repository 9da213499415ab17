// The run's setup, above the run itself: what the address said about it, then Model, Task and
// Method and settings. While mounted, the address follows the form and the inspections follow
// the setup (and start the run when the address asks to).

import { useEffect } from 'react';
import { syncAddress } from '../../state/form';
import { startInspecting } from '../../state/inspect';
import { MethodSection } from './MethodSection';
import { ModelSection } from './ModelSection';
import { SetupNotices } from './SetupNotices';
import { TaskSection } from './TaskSection';

export function SetupSections() {
  useEffect(() => {
    const stopAddress = syncAddress(window.history, window.location);
    const stopInspecting = startInspecting();
    return () => {
      stopAddress();
      stopInspecting();
    };
  }, []);
  return (
    <>
      <SetupNotices />
      <ModelSection />
      <TaskSection />
      <MethodSection />
    </>
  );
}
