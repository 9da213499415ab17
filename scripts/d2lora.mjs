#!/usr/bin/env node
// The `d2lora` command: runs src/cli/main.ts in Node with TypeScript (tsx) and WGSL (?raw)
// loading, on the Vulkan driver scripts/gpu-env.mjs picks.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';
import { gpuEnv } from './gpu-env.mjs';

Object.assign(process.env, gpuEnv());
registerTsx();
register('./wgsl-hooks.mjs', import.meta.url);
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
