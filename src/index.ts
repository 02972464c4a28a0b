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
  StepOptions,
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
  importProject,
  importSceneBreakdown,
  convertCreativeStudioProject,
  isCreativeStudioProject,
  writeBackCreativeStudio,
  IMPORT_FORMAT_NAMES,
  composeShotPrompt,
  composeNegativePrompt,
  SCHEMA_VERSION,
} from './project/index.js';
export type {
  Project,
  ProjectInput,
  Shot,
  ShotTransition,
  TransitionType,
  AnimaticSettings,
} from './project/index.js';

// Backends.
export { createDraftBackend, DRAFT_RENDERER_VERSION } from './backends/index.js';
// For custom backends: the Raster `generate` returns, from the PNG/JPEG bytes a server sent; the run-time check
// the service applies to what it is given.
export { rasterFromImage } from './image/raster.js';
export { isImageBackend } from './pipeline/sequence-generation-service.js';
export type {
  ImageBackend,
  GenerationRequest,
  GeneratedImage,
  GenerateOptions,
  GenerationProgress,
  BackendStatus,
  ServerStatus,
} from './backends/index.js';

// Stages, for callers composing their own pipeline.
export { buildCoherenceSheet, measureVisualDna } from './stages/coherence/index.js';
export type { CoherenceSheet, VisualDna } from './stages/coherence/index.js';
export { encodePromoted, promoteFrame, promotePng } from './stages/promote/index.js';
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
// The animatic: a timed video and OTIO/EDL timelines of a finished export.
export {
  renderAnimatic,
  planAnimatic,
  checkAnimaticAudio,
  findFfmpeg,
  otioTimeline,
  edlTimeline,
  ANIMATIC_FILES,
} from './stages/animatic/index.js';
export { rerenderAnimatic } from './pipeline/animatic-rerender.js';
export type { RerenderAnimaticOptions } from './pipeline/animatic-rerender.js';
export type {
  AnimaticInput,
  AnimaticOptions,
  AnimaticRecord,
  AnimaticResult,
  AnimaticPlan,
  PlannedShot,
  FfmpegInfo,
  FfmpegLookup,
  FfmpegMissing,
} from './stages/animatic/index.js';

// The run stores: embedded (SQLite) and shared (PostgreSQL), and the async seam both serve; the artifact seam (a
// folder, local or shared, or an S3 bucket).
export {
  openWorkspaceStore,
  SqliteRunStore,
  PostgresRunStore,
  asyncRunStore,
  LocalArtifactStore,
  S3ArtifactStore,
  openArtifactStore,
  collectGarbage,
  DEFAULT_LEASE,
} from './store/index.js';
export type {
  RunStore,
  AsyncRunStore,
  PostgresRunStoreOptions,
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

// Every type used in the signatures above, by name, so a consumer can write it down (checked by the package test).
export type { DraftBackendOptions } from './backends/draft/draft-renderer.js';
export type { TextureOptions } from './backends/draft/texture.js';
export type { GenerationPreview, GenerationPurpose, ReferenceImage } from './backends/types.js';
export type { ClassifyOptions, ErrorKind } from './core/error-classify.js';
export type { ErrorLogger, GenerationErrorHandlerOptions } from './core/error-handler.js';
export type { StoryCoreErrorOptions } from './core/errors.js';
export type { PartialResultsError, PartialShotRecord } from './core/partial-results.js';
export type { RetryAttemptContext, RetryCallerOptions, RetryEvent, WithRetryOptions } from './core/retry.js';
export type {
  FormatTimestampOptions,
  GenerationStatusLike,
  GenerationStatusTrackerOptions,
} from './core/status-tracker.js';
export type { Lab } from './image/color.js';
export type { Raster } from './image/raster.js';
export type {
  ImportStoryCoreEngineOptions,
  ImportStoryCoreEngineResult,
} from './project/import-storycore-engine.js';
export type {
  ConvertCreativeStudioOptions,
  CreativeStudioConversion,
  CreativeStudioProjectInput,
  ImportedTransition,
  StudioShotSource,
} from './project/import-creative-studio.js';
export type { ImportFormat, ImportProjectOptions, ImportProjectResult } from './project/import-project.js';
export type {
  ImportSceneBreakdownOptions,
  ImportSceneBreakdownResult,
} from './project/import-scene-breakdown.js';
export type {
  StudioWriteBackResults,
  WriteBackCreativeStudioOptions,
  WriteBackCreativeStudioResult,
} from './project/write-back-creative-studio.js';
export type { LoadProjectOptions, ReadJsonFileOptions } from './project/load.js';
export type { ValidateProjectResult } from './project/validate.js';
export type { WriteProjectOptions } from './project/write.js';
export type { RenderedPanel } from './stages/coherence/panels.js';
export type { BuildSheetOptions } from './stages/coherence/sheet.js';
export type { PaletteColour, SheetPanel } from './stages/coherence/types.js';
export type { VisualDnaOptions } from './stages/coherence/visual-dna.js';
export type {
  ExportFrame,
  ExportInput,
  ExportOptions,
  ExportResult,
  FrameSize,
} from './stages/export/export-package.js';
export type {
  ManifestFile,
  ManifestFrame,
  StableManifestView,
  ToolVersions,
} from './stages/export/manifest.js';
export type { PngFile, PngLoader, PngSource } from './stages/export/png-source.js';
export type { AutofixOptions, AutofixResult, QaDna, RegeneratedFrame } from './stages/qa/autofix.js';
export type { MeasureOptions } from './stages/qa/metrics.js';
export { QaIssue } from './stages/qa/types.js';
export type { AutofixAttempt, FrameAssessment, QaShotScore, ShotWithoutFrame } from './stages/qa/types.js';
export type { ArtifactCallOptions, ArtifactGetOptions, ArtifactStore } from './store/artifact-store.js';
export type { S3ArtifactStoreOptions, S3Credentials } from './store/s3-artifact-store.js';
export type { OpenArtifactStoreOptions } from './store/open-artifact-store.js';
export type {
  CreateRunInput,
  EventRecord,
  ExecutionFilter,
  ExecutionOutcome,
  ExecutionRecord,
  ListEventsOptions,
  ListExecutionsOptions,
  ListRunsOptions,
  NewEvent,
  PruneRunsOptions,
  PruneRunsResult,
  RunStatus,
  SetRunStatusOptions,
  StepDoneInput,
  StepFailedInput,
  StepStatus,
  StoredError,
} from './store/run-store.js';
export type { SqliteConnectionOptions } from './store/sqlite-connection.js';
export type { SqliteRunStoreOptions } from './store/sqlite-run-store.js';

// The studio: `storycore serve` (HTTP API + SSE + web UI).
export { startStudioServer, RunManager, embeddedEngine } from './server/index.js';
export type {
  StudioEngine,
  RunResumption,
  SharedEngine,
  DeletedRuns,
  StudioServer,
  StudioServerOptions,
  RunManagerOptions,
  PreviewEvent,
  RunListener,
  RunSettings,
  StudioResults,
  FrameResult,
} from './server/index.js';

// Beyond one machine: the queue seam (BullMQ on PostgreSQL or Redis; drivers loaded on open).
export {
  openQueueConnection,
  DEFAULT_QUEUE_NAMESPACE,
  parseQueueUrl,
  stepJobId,
  childValuesById,
} from './distributed/queue/index.js';
export type {
  QueueConnection,
  OpenQueueConnectionOptions,
  QueueBackendKind,
  QueueLocation,
  JobQueue,
  JobQueueOptions,
  JobWorker,
  JobWorkerOptions,
  JobProcessor,
  JobFlowProducer,
  JobFlowProducerOptions,
  JobQueueEvents,
  JobQueueEventsOptions,
} from './distributed/queue/index.js';

// Beyond one machine: the distributed runner — the coordinator of a run on a queue and a worker (bullmq loads with
// the first worker or opened queue, never with the library).
export {
  runOnQueue,
  runWorker,
  openQueueHandle,
  DEFAULT_QUEUE_NAME,
  LeftRunError,
  RemoteJobError,
} from './distributed/index.js';
export type { QueuedRunOptions, QueueHandle, WorkerOptions, WorkerReport } from './distributed/index.js';
