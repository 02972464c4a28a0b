/**
 * StoryCore's public surface. Every export is named here on purpose (no `export *`): what is not listed is internal
 * and may change. Grouped as the design note groups them.
 */

// The note's service: generateSequence / cancel / isGenerating / getPartialResults.
export {
  SequenceGenerationService,
  sequenceGenerationService,
  runPipeline,
  PIPELINE_VERSION,
} from './pipeline/index.js';
export type {
  GenerateSequenceOptions,
  GenerationResults,
  SequenceGenerationServiceOptions,
  PipelineOptions,
  PipelineResult,
  ShotOutcome,
  ShotFailure,
  PipelineEvent,
  PipelineEventListener,
  ErrorInfo,
} from './pipeline/index.js';

// Status tracking (the note's generationStatusTracking).
export {
  GenerationStatusTracker,
  defaultStatusTracker,
  PIPELINE_STAGES,
  STAGE_WEIGHTS,
  formatDuration,
  formatTimestamp,
  calculateStageProgressPercentage,
  getStageDisplayName,
  getStageIcon,
  getProgressColor,
  isGenerationInProgress,
  isGenerationComplete,
  hasGenerationError,
} from './core/index.js';
export type {
  GenerationStage,
  PipelineStage,
  GenerationStatus,
  ProgressCalculation,
  StageTiming,
} from './core/index.js';

// Errors, retry and recovery (the note's generationErrorHandling).
export {
  ErrorCode,
  StoryCoreError,
  ValidationError,
  BackendUnreachableError,
  BackendRejectedError,
  BackendFailedError,
  RateLimitedError,
  TimeoutError,
  CancelledError,
  NotFoundError,
  ConflictError,
  QaFailedError,
  ExportFailedError,
  StoreError,
  InternalError,
  isStoryCoreError,
  isCancellation,
  rootCause,
  GenerationErrorHandler,
  withRetry,
  delayFor,
  parseRetryPolicy,
  policyFromOptions,
  DEFAULT_RETRY_POLICY,
  classifyError,
  isTemporaryError,
  isPermanentError,
  getErrorSeverity,
  getUserFriendlyErrorMessage,
  formatErrorForDisplay,
  createGenerationError,
  createErrorReport,
  logError,
  PartialResultsStore,
  FilePartialResultsStorage,
  LocalStoragePartialResultsStorage,
  MemoryPartialResultsStorage,
  deriveGlobalSeed,
  deriveShotSeed,
  derivePanelSeed,
  deriveOperationSeed,
} from './core/index.js';
export type {
  ValidationIssue,
  CancelReason,
  RetryPolicy,
  ErrorClassification,
  ErrorContext,
  ErrorHandlingResult,
  GenerationError,
  ErrorSeverity,
  RecoveryAction,
  PartialResults,
  PartialResultsStorage,
} from './core/index.js';

// The project contract.
export {
  projectSchema,
  validateProject,
  parseProjectJson,
  loadProjectFile,
  writeProjectFile,
  formatValidationIssues,
  importStoryCoreEngine,
  composeShotPrompt,
  composeNegativePrompt,
  SCHEMA_VERSION,
} from './project/index.js';
export type { Project, ProjectInput, Shot } from './project/index.js';

// Backends.
export { createDraftBackend, DRAFT_RENDERER_VERSION } from './backends/index.js';
export type {
  ImageBackend,
  GenerationRequest,
  GeneratedImage,
  GenerateOptions,
  GenerationProgress,
} from './backends/index.js';

// Stages, for callers composing their own pipeline.
export { buildCoherenceSheet, measureVisualDna } from './stages/coherence/index.js';
export type { CoherenceSheet, VisualDna } from './stages/coherence/index.js';
export { promoteFrame, promotePng } from './stages/promote/index.js';
export type { PromoteOptions, PromotedFrame, PromotedPng, PromotionRecord } from './stages/promote/index.js';
export {
  measureFrame,
  assessFrame,
  autofixFrame,
  buildQaReport,
  DEFAULT_QA_THRESHOLDS,
} from './stages/qa/index.js';
export type { QaReport, QaThresholds, FrameMetrics, ShotQaResult } from './stages/qa/index.js';
export {
  exportPackage,
  verifyExport,
  verifyZip,
  verifyPackage,
  stableManifestView,
} from './stages/export/index.js';
export type {
  ExportManifest,
  ExportProblem,
  ExportProblemKind,
  PackageVerification,
  VerifyExportOptions,
} from './stages/export/index.js';

// The embedded run store.
export {
  openWorkspaceStore,
  SqliteRunStore,
  ArtifactStore,
  collectGarbage,
  DEFAULT_LEASE,
} from './store/index.js';
export type {
  RunStore,
  RunRecord,
  StepRecord,
  WorkspaceStore,
  WorkspaceStoreOptions,
  LeasePolicy,
  RunHolder,
  UnlockOptions,
  CollectGarbageOptions,
  CollectGarbageResult,
} from './store/index.js';
