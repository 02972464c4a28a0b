import type { GenerationPurpose, ImageBackend } from './types.js';

/**
 * What a step's input hash records about the backend that made its image: name and version, plus the backend's own
 * fingerprint for that purpose when it has one (a ComfyUI workflow's hash). Backends without one keep the
 * two-element key, so their journals stay valid.
 */
export function backendKey(backend: ImageBackend, purpose: GenerationPurpose): string[] {
  const fingerprint = backend.fingerprint?.(purpose);
  return fingerprint === undefined
    ? [backend.name, backend.version]
    : [backend.name, backend.version, fingerprint];
}
