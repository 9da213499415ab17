// Node module hooks: `import code from '…/x.wgsl?raw'` yields the file's text, as Vite does in
// the browser and in Vitest, so the shaders have one loader convention everywhere.
import { readFile } from 'node:fs/promises';

export async function resolve(specifier, context, nextResolve) {
  if (/\.wgsl\?raw$/.test(specifier)) {
    return { url: new URL(specifier, context.parentURL).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (/\.wgsl\?raw$/.test(url)) {
    const file = new URL(url);
    file.search = '';
    const text = await readFile(file, 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
