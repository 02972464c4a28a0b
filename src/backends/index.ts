export {
  createDraftBackend,
  DRAFT_RENDERER_VERSION,
  validateGenerationRequest,
  MAX_REQUEST_SIDE,
} from './draft/index.js';
export type { DraftBackendOptions, DraftMetadata, TextureOptions } from './draft/index.js';
export type {
  GenerateOptions,
  GeneratedImage,
  GenerationProgress,
  GenerationPurpose,
  GenerationRequest,
  ImageBackend,
  ReferenceImage,
  BackendStatus,
  ServerStatus,
} from './types.js';
