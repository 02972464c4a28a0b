export {
  DEFAULT_OUTPUT,
  MAX_SEED,
  SCHEMA_VERSION,
  SHOT_ID_PATTERN,
  SHOT_PROMPT_MAX,
  SHOT_PROMPT_MIN,
  idProblem,
  projectSchema,
  shotSchema,
} from './schema.js';
export type {
  Project,
  ProjectInput,
  Shot,
  ShotTransition,
  TransitionType,
  AnimaticSettings,
} from './schema.js';
export { parseJsonDocument, parseProjectJson, validateProject } from './validate.js';
export type { ValidateProjectResult } from './validate.js';
export { formatValidationIssues } from './issues.js';
export { DEFAULT_MAX_PROJECT_BYTES, PROJECT_FILE_NAME, loadProjectFile } from './load.js';
export type { LoadProjectOptions } from './load.js';
export { writeProjectFile } from './write.js';
export type { WriteProjectOptions } from './write.js';
export { resolveGlobalSeed, resolveShotSeed } from './seeds.js';
export { composeNegativePrompt, composeShotPrompt, projectContentHash } from './prompt.js';
export { importStoryCoreEngine } from './import-storycore-engine.js';
export type { ImportStoryCoreEngineOptions, ImportStoryCoreEngineResult } from './import-storycore-engine.js';
export { IMPORT_FORMAT_NAMES, importProject } from './import-project.js';
export type { ImportFormat, ImportProjectOptions, ImportProjectResult } from './import-project.js';
export { importSceneBreakdown } from './import-scene-breakdown.js';
export type { ImportSceneBreakdownOptions, ImportSceneBreakdownResult } from './import-scene-breakdown.js';
export { convertCreativeStudioProject, isCreativeStudioProject } from './import-creative-studio.js';
export type {
  ConvertCreativeStudioOptions,
  CreativeStudioConversion,
  CreativeStudioProjectInput,
  ImportedTransition,
  StudioShotSource,
} from './import-creative-studio.js';
export { writeBackCreativeStudio } from './write-back-creative-studio.js';
export type {
  StudioWriteBackResults,
  WriteBackCreativeStudioOptions,
  WriteBackCreativeStudioResult,
} from './write-back-creative-studio.js';
