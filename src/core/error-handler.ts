import {
  classifyError,
  describeComfyUiRejection,
  findComfyUiRejection,
  type ErrorClassification,
} from './error-classify.js';
import {
  ErrorCode,
  ValidationError,
  causeChain,
  errorMessage,
  isStoryCoreError,
  rootCause,
} from './errors.js';
import {
  PartialResultsStore,
  defaultPartialResultsStorage,
  type PartialResults,
  type PartialResultsStorage,
  type PartialShotRecord,
} from './partial-results.js';
import { delayFor, parseRetryPolicy, type RetryPolicy } from './retry.js';
import { getStageDisplayName, type GenerationStage } from './status-tracker.js';

export type ErrorSeverity = 'low' | 'medium' | 'high' | 'critical';
export type RecoveryAction = 'retry' | 'skip' | 'abort' | 'manual';

export interface ErrorContext {
  stage: GenerationStage;
  shotId?: string;
  /** The attempt that failed, 1-based. */
  attemptNumber: number;
}

export interface ErrorHandlingResult {
  /**
   * `retry`: try again after `suggestedDelay`; `skip`: give up on this shot, let the others finish;
   * `abort`: stop the run (also on cancellation, which is not a failure); `manual`: retries are used up on an
   * error that may pass, a person should check the backend and resume.
   */
  action: RecoveryAction;
  message: string;
  canRetry: boolean;
  /** Milliseconds to wait before the retry (0 unless action is `retry`). */
  suggestedDelay: number;
  severity: ErrorSeverity;
  classification: ErrorClassification;
}

/** The structured error the orchestrator hands to `onError`. */
export interface GenerationError {
  stage: GenerationStage;
  message: string;
  code: ErrorCode;
  retryable: boolean;
  severity: ErrorSeverity;
  shotId?: string;
  attemptNumber?: number;
  /** Epoch ms. */
  timestamp: number;
  details: Record<string, unknown>;
  cause: unknown;
}

export interface GenerationErrorHandlerOptions extends Partial<RetryPolicy> {
  /**
   * Where partial results go. @default localStorage in a browser, else the `partial-results/` folder of
   * `workspace` — where SequenceGenerationService.getPartialResults reads them
   */
  storage?: PartialResultsStorage;
  /** The workspace whose partial results this handler saves and loads (ignored when `storage` is given). @default `.storycore` */
  workspace?: string;
  /** Clock in epoch ms. @default Date.now */
  now?: () => number;
  /** Random source for jitter. @default Math.random */
  random?: () => number;
}

// Stages whose work is per shot: a permanent failure of one shot need not stop the others.
const SHOT_STAGES: ReadonlySet<GenerationStage> = new Set(['comfyui', 'promotion', 'qa']);

function where(context: Pick<ErrorContext, 'stage' | 'shotId'> | undefined): string {
  if (!context) return '';
  return `${getStageDisplayName(context.stage)}${context.shotId === undefined ? '' : ` (shot ${context.shotId})`}: `;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** Severity: cancellation low, passing trouble medium, a request that cannot work high, our own bugs critical. */
export function getErrorSeverity(error: unknown): ErrorSeverity {
  const c = classifyError(error);
  if (c.kind === 'cancelled') return 'low';
  if (c.kind === 'temporary') return 'medium';
  switch (c.code) {
    case ErrorCode.QA_FAILED:
      return 'medium';
    case ErrorCode.VALIDATION:
    case ErrorCode.NOT_FOUND:
    case ErrorCode.BACKEND_REJECTED:
    case ErrorCode.BACKEND_FAILED:
    case ErrorCode.EXPORT_FAILED:
      return 'high';
    default:
      return 'critical';
  }
}

export function isTemporaryError(error: unknown): boolean {
  return classifyError(error).kind === 'temporary';
}

/** Permanent: retrying cannot help. Cancellation is neither temporary nor permanent. */
export function isPermanentError(error: unknown): boolean {
  const kind = classifyError(error).kind;
  return kind === 'permanent' || kind === 'unknown';
}

/** A message for a person: what went wrong in plain words, then the root cause's own message. */
export function getUserFriendlyErrorMessage(error: unknown): string {
  const c = classifyError(error);
  const root = errorMessage(rootCause(error));
  const outer = errorMessage(error);
  const detail = outer === root ? outer : `${outer} (cause: ${root})`;
  const comfy = findComfyUiRejection(error);
  if (comfy) return describeComfyUiRejection(comfy);
  if (c.kind === 'cancelled') return 'Generation was cancelled.';
  switch (c.code) {
    case ErrorCode.RATE_LIMITED:
      return `The image backend is busy and asked us to slow down; it will be tried again shortly. (${detail})`;
    case ErrorCode.TIMEOUT:
      return `The image backend took too long to answer. (${detail})`;
    case ErrorCode.BACKEND_UNREACHABLE:
      return `Cannot reach the image backend; check that the server is running and reachable. (${detail})`;
    case ErrorCode.BACKEND_FAILED:
      return `The image backend failed while working on the request. (${detail})`;
    case ErrorCode.BACKEND_REJECTED:
      if (c.status === 401 || c.status === 403)
        return `The image backend refused access; check the credentials. (${detail})`;
      return `The image backend rejected the request. (${detail})`;
    case ErrorCode.NOT_FOUND:
      return `Something the run needs was not found. (${detail})`;
    case ErrorCode.VALIDATION: {
      const issues =
        error instanceof ValidationError ? error.issues.map((i) => `${i.path}: ${i.message}`) : [];
      return `The input is not valid: ${detail}${issues.length > 0 ? ` [${issues.join('; ')}]` : ''}`;
    }
    case ErrorCode.QA_FAILED:
      return `A frame did not pass quality checks. (${detail})`;
    case ErrorCode.EXPORT_FAILED:
      return `The export package could not be written. (${detail})`;
    case ErrorCode.STORE:
      return `Saving or reading run data failed. (${detail})`;
    default:
      return `An unexpected error occurred. (${detail})`;
  }
}

/** Display text: where (stage, shot) and what, in words a person can act on. */
export function formatErrorForDisplay(
  error: unknown,
  context?: Pick<ErrorContext, 'stage' | 'shotId'>,
): string {
  return `${where(context)}${getUserFriendlyErrorMessage(error)}`;
}

/** The structured error for `onError`: stage, shot, code, retryability and the original error as `cause`. */
export function createGenerationError(
  error: unknown,
  context: ErrorContext,
  now: () => number = Date.now,
): GenerationError {
  const c = classifyError(error);
  return {
    stage: context.stage,
    message: errorMessage(error),
    code: c.code,
    retryable: c.retryable,
    severity: getErrorSeverity(error),
    ...(context.shotId === undefined ? {} : { shotId: context.shotId }),
    attemptNumber: context.attemptNumber,
    timestamp: now(),
    details: isStoryCoreError(error) ? { ...error.details } : {},
    cause: error,
  };
}

/** A multi-line report for logs and bug reports: context, classification and the whole cause chain. */
export function createErrorReport(
  error: unknown,
  context?: ErrorContext,
  now: () => number = Date.now,
): string {
  const c = classifyError(error);
  const lines = [
    `StoryCore error report (${new Date(now()).toISOString()})`,
    ...(context
      ? [
          `stage: ${context.stage}`,
          ...(context.shotId === undefined ? [] : [`shot: ${context.shotId}`]),
          `attempt: ${context.attemptNumber}`,
        ]
      : []),
    `classification: ${c.kind} (${c.reason})`,
    `code: ${c.code}`,
    `severity: ${getErrorSeverity(error)}`,
    `retryable: ${c.retryable}`,
    ...(c.status === undefined ? [] : [`http status: ${c.status}`]),
    `message: ${getUserFriendlyErrorMessage(error)}`,
    'cause chain:',
  ];
  causeChain(error).forEach((link, i) => {
    const name = link instanceof Error ? link.name : typeof link;
    const code = (link as { code?: unknown } | null)?.code;
    lines.push(`  ${i + 1}. ${name}${code === undefined ? '' : ` [${String(code)}]`}: ${errorMessage(link)}`);
    if (isStoryCoreError(link) && Object.keys(link.details).length > 0) {
      lines.push(`     details: ${JSON.stringify(link.details)}`);
    }
  });
  const root = rootCause(error);
  if (root instanceof Error && root.stack)
    lines.push('root stack:', ...root.stack.split('\n').map((l) => `  ${l}`));
  return lines.join('\n');
}

export interface ErrorLogger {
  error(message: string): void;
  info(message: string): void;
}

/** Logs an error report; a cancellation is logged as information, since it is not a failure. */
export function logError(error: unknown, context?: ErrorContext, logger: ErrorLogger = console): void {
  if (classifyError(error).kind === 'cancelled') {
    logger.info(`${where(context)}cancelled`);
    return;
  }
  logger.error(createErrorReport(error, context));
}

/** Decides what to do about a failure, and keeps partial results for recovery. */
export class GenerationErrorHandler {
  readonly policy: RetryPolicy;
  private readonly store: PartialResultsStore;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(options: GenerationErrorHandlerOptions = {}) {
    const { storage, workspace, now, random, ...policy } = options;
    this.policy = parseRetryPolicy(policy);
    this.now = now ?? Date.now;
    this.random = random ?? Math.random;
    this.store = new PartialResultsStore(storage ?? defaultPartialResultsStorage(workspace), this.now);
  }

  handleError(error: unknown, context: ErrorContext): ErrorHandlingResult {
    const classification = classifyError(error, { retryableErrors: this.policy.retryableErrors });
    const severity = classification.kind === 'cancelled' ? 'low' : getErrorSeverity(error);
    const base = { severity, classification, suggestedDelay: 0 };
    if (classification.kind === 'cancelled') {
      return { ...base, action: 'abort', canRetry: false, message: `${where(context)}generation cancelled` };
    }
    const friendly = getUserFriendlyErrorMessage(error);
    if (classification.retryable) {
      if (context.attemptNumber < this.policy.maxAttempts) {
        const delay = Math.max(
          this.calculateRetryDelay(context.attemptNumber),
          classification.retryAfterMs ?? 0,
        );
        return {
          ...base,
          action: 'retry',
          canRetry: true,
          suggestedDelay: delay,
          message: `${where(context)}${friendly} Retrying in ${seconds(delay)} (attempt ${context.attemptNumber + 1} of ${this.policy.maxAttempts}).`,
        };
      }
      return {
        ...base,
        action: 'manual',
        canRetry: false,
        message: `${where(context)}still failing after ${context.attemptNumber} attempts: ${friendly} Check the backend, then resume the run.`,
      };
    }
    // A bug of ours (critical) would fail every shot the same way: stop rather than skip one by one.
    if (severity !== 'critical' && context.shotId !== undefined && SHOT_STAGES.has(context.stage)) {
      return {
        ...base,
        action: 'skip',
        canRetry: false,
        message: `${where(context)}skipping this shot: ${friendly}`,
      };
    }
    return { ...base, action: 'abort', canRetry: false, message: `${where(context)}${friendly}` };
  }

  isErrorRetryable(error: unknown): boolean {
    return classifyError(error, { retryableErrors: this.policy.retryableErrors }).retryable;
  }

  /** Wait after failed attempt `attempt` (1-based), per the handler's policy. */
  calculateRetryDelay(attempt: number): number {
    return delayFor(attempt, this.policy, this.random);
  }

  getErrorSeverity(error: unknown): ErrorSeverity {
    return getErrorSeverity(error);
  }

  formatErrorForDisplay(error: unknown, context?: Pick<ErrorContext, 'stage' | 'shotId'>): string {
    return formatErrorForDisplay(error, context);
  }

  /** Saves what a run finished; merges with what is stored, so a later, poorer save never erases it. */
  savePartialResults(
    projectId: string,
    completedStages: readonly string[],
    generatedShots: readonly PartialShotRecord[],
    masterCoherenceSheetUrl?: string,
    lastError?: unknown,
  ): PartialResults {
    return this.store.save(projectId, completedStages, generatedShots, masterCoherenceSheetUrl, lastError);
  }

  loadPartialResults(projectId: string): PartialResults | null {
    return this.store.load(projectId);
  }

  clearPartialResults(projectId: string): void {
    this.store.clear(projectId);
  }
}
