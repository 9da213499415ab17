// Where the models a spec names by preset, Hugging Face repository or URL come from, for every
// front door (local and picked files are each front door's own).

import { huggingFaceUrl, resolveSourceString, type ModelSource } from '../io/load';
import type { ModelSpec } from './spec';

export function remoteModelSource(spec: Exclude<ModelSpec, { kind: 'files' }>): ModelSource {
  switch (spec.kind) {
    case 'preset':
      return { kind: 'preset', name: spec.name };
    case 'hub':
      return { kind: 'url', base: huggingFaceUrl(spec.repo, spec.revision) };
    case 'url':
      return resolveSourceString(spec.url);
  }
}
