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
export type { Project, ProjectInput, Shot } from './schema.js';
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
