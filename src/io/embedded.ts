// The presets that ship with the project (registry `embedded: true`; stories260K, about 1 MB, MIT):
// their files are in public/models/<preset>/<file>, which Vite serves at <base URL>models/ and
// copies into dist/. loadModel reads an embedded preset from its `embeddedModels` location before
// any mirror or download, so the default model works offline with nothing else set up. Node's
// location is the project's public/models/ (nodeEmbeddedModels in src/io/node-source.ts); the
// browser's is the site's (browserEmbeddedBase).

/** An embedded preset's file, relative to the embedded models folder or base URL. */
export function embeddedModelFile(preset: string, file: string): string {
  return `${preset}/${file}`;
}

/**
 * Where the site serves the embedded models: the build's base URL + models/ ('/models/' by
 * default), relative to the page's origin; resolve it against the page's or worker's location.
 */
export function browserEmbeddedBase(): string {
  const base: unknown = import.meta.env?.BASE_URL;
  return `${typeof base === 'string' && base !== '' ? base : '/'}models/`;
}
