// Entry point: mounts the page and starts looking for the GPU (outside React, so that
// StrictMode's double effects cannot acquire two devices).

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { useForm } from './state/form';
import { useSystem } from './state/system';
import { installTestHooks } from './state/test-hooks';
import { App } from './ui/App';
import './ui/styles.css';

installTestHooks(location.search);
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
useForm.getState().loadLink(location.href);
addEventListener('hashchange', () => useForm.getState().loadLink(location.href));
void useSystem.getState().start();
