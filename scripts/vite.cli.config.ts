// Vite settings for bundling the command line into one ES module (scripts/prepare-gpu-carry.sh):
// WGSL `?raw` imports are inlined as text; only the native Dawn binding stays external. public/
// is copied beside the bundle, so the embedded presets are at <outDir>/models/, and the define
// tells nodeEmbeddedModels (src/io/node-source.ts) to look there rather than at ../../public/models/.
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: 'public',
  define: { 'import.meta.env.D2LORA_EMBEDDED_FROM_MODULE': JSON.stringify('./models/') },
  build: {
    target: 'node20',
    ssr: true,
    minify: false,
    copyPublicDir: true,
    rollupOptions: { external: ['webgpu'], output: { entryFileNames: 'd2lora.mjs', codeSplitting: false } },
  },
  ssr: { noExternal: true, external: ['webgpu'] },
});
