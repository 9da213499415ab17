// Vite settings for bundling the command line into one ES module (scripts/prepare-gpu-carry.sh):
// WGSL `?raw` imports are inlined as text; only the native Dawn binding stays external.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    target: 'node20',
    ssr: true,
    minify: false,
    rollupOptions: { external: ['webgpu'], output: { entryFileNames: 'd2lora.mjs', codeSplitting: false } },
  },
  ssr: { noExternal: true, external: ['webgpu'] },
});
