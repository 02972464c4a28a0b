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
  causeChain,
  rootCause,
  isCancellation,
  errorMessage,
} from './errors.js';
export type { StoryCoreErrorOptions, ValidationIssue, CancelReason } from './errors.js';

export { cancellationFrom, throwIfAborted, sleep, abortWith, asCancellation } from './abort.js';

export { deriveGlobalSeed, deriveShotSeed, derivePanelSeed, deriveOperationSeed } from './seeds.js';

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
} from './status-tracker.js';
export type {
  GenerationStage,
  PipelineStage,
  GenerationStatus,
  GenerationStatusLike,
  ProgressCalculation,
  StageTiming,
  GenerationStatusTrackerOptions,
  FormatTimestampOptions,
} from './status-tracker.js';

export {
  classifyError,
  describeComfyUiRejection,
  findComfyUiRejection,
  parseRetryAfter,
} from './error-classify.js';
export type { ErrorKind, ErrorClassification, ClassifyOptions } from './error-classify.js';

export { DEFAULT_RETRY_POLICY, parseRetryPolicy, delayFor, policyFromOptions, withRetry } from './retry.js';
export type {
  RetryPolicy,
  RetryCallerOptions,
  RetryAttemptContext,
  RetryEvent,
  WithRetryOptions,
} from './retry.js';

export {
  GenerationErrorHandler,
  getErrorSeverity,
  isTemporaryError,
  isPermanentError,
  getUserFriendlyErrorMessage,
  formatErrorForDisplay,
  createGenerationError,
  createErrorReport,
  logError,
} from './error-handler.js';
export type {
  ErrorSeverity,
  RecoveryAction,
  ErrorContext,
  ErrorHandlingResult,
  GenerationError,
  GenerationErrorHandlerOptions,
  ErrorLogger,
} from './error-handler.js';

export {
  PartialResultsStore,
  MemoryPartialResultsStorage,
  LocalStoragePartialResultsStorage,
  FilePartialResultsStorage,
  defaultPartialResultsStorage,
  partialResultsFolder,
  DEFAULT_WORKSPACE,
  mergePartialResults,
  toPartialResultsError,
} from './partial-results.js';
export type {
  PartialResults,
  PartialResultsStorage,
  PartialShotRecord,
  PartialResultsError,
} from './partial-results.js';
