// Entry point: mounts the page and starts looking for the GPU (outside React, so that
// StrictMode's double effects cannot acquire two devices).

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { useRun } from './state/run';
import { useSystem } from './state/system';
import { App } from './ui/App';
import './ui/styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
useRun.getState().loadLink(location.href);
addEventListener('hashchange', () => useRun.getState().loadLink(location.href));
void useSystem.getState().start();
