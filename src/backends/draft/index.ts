export { createDraftBackend, DRAFT_RENDERER_VERSION } from './draft-renderer.js';
export type { DraftBackendOptions, DraftMetadata } from './draft-renderer.js';
export type { TextureOptions } from './texture.js';
export { validateGenerationRequest, MAX_REQUEST_SIDE } from '../validate-request.js';
