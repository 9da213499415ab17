// What the end-to-end tests reach in the page, only when it is opened with `?test-hooks=1`:
// `window.__d2lora.loseDevice()` destroys the engine worker's GPU device under whatever it is
// running, as a driver reset does (the worker's own loseDevice request: a real device.destroy()).
// Without the flag the page exposes nothing. Installed by the entry point, before anything renders.

import { engine } from './worker';

export interface TestHooks {
  loseDevice(): Promise<void>;
}

declare global {
  interface Window {
    __d2lora?: TestHooks;
  }
}

export function installTestHooks(search: string): void {
  if (new URLSearchParams(search).get('test-hooks') !== '1' || window.__d2lora !== undefined) return;
  window.__d2lora = {
    async loseDevice() {
      await (await engine()).client.loseDevice();
    },
  };
}
