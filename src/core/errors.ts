/**
 * One error hierarchy for the whole engine. Every error has a stable `code` (what callers switch on,
 * what the HTTP layer maps to a status, what the CLI maps to an exit code) and keeps its `cause`, so the
 * root cause of a shot failure survives any number of wrappers.
 */

export const ErrorCode = {
  VALIDATION: 'validation',
  BACKEND_UNREACHABLE: 'backend-unreachable',
  BACKEND_REJECTED: 'backend-rejected',
  BACKEND_FAILED: 'backend-failed',
  RATE_LIMITED: 'rate-limited',
  TIMEOUT: 'timeout',
  CANCELLED: 'cancelled',
  NOT_FOUND: 'not-found',
  CONFLICT: 'conflict',
  QA_FAILED: 'qa-failed',
  EXPORT_FAILED: 'export-failed',
  STORE: 'store',
  INTERNAL: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const BRAND = Symbol.for('storycore.error');

export interface StoryCoreErrorOptions {
  cause?: unknown;
  /** Where the problem is: a JSON path, a shot id, a node id, a stage. Shown to the user. */
  details?: Record<string, unknown>;
}

export class StoryCoreError extends Error {
  override name = 'StoryCoreError';
  readonly code: ErrorCode;
  /** Whether trying the same thing again can succeed. The error decides, not the caller. */
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, retryable: boolean, options: StoryCoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = retryable;
    this.details = options.details ?? {};
  }
}

/** One problem found while validating input, with the JSON path where it is. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/**
 * A multi-line, human list: one `  - <path>: <message>` line per issue. Here rather than beside the zod error map
 * (project/issues) so that printing an error never loads zod.
 */
export function formatValidationIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join('\n');
}

export class ValidationError extends StoryCoreError {
  override name = 'ValidationError';
  readonly issues: ValidationIssue[];
  constructor(message: string, issues: ValidationIssue[] = [], options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.VALIDATION, message, false, options);
    this.issues = issues;
  }
}

export class BackendUnreachableError extends StoryCoreError {
  override name = 'BackendUnreachableError';
  constructor(message: string, options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.BACKEND_UNREACHABLE, message, true, options);
  }
}

/** The backend refused the request itself (HTTP 4xx, ComfyUI node_errors): retrying the same request cannot help. */
export class BackendRejectedError extends StoryCoreError {
  override name = 'BackendRejectedError';
  readonly status: number | undefined;
  constructor(message: string, options: StoryCoreErrorOptions & { status?: number } = {}) {
    super(ErrorCode.BACKEND_REJECTED, message, false, options);
    this.status = options.status;
  }
}

/** The backend accepted the job but it failed while running (ComfyUI execution_error, lost job, 5xx). */
export class BackendFailedError extends StoryCoreError {
  override name = 'BackendFailedError';
  readonly status: number | undefined;
  constructor(
    message: string,
    options: StoryCoreErrorOptions & { status?: number; retryable?: boolean } = {},
  ) {
    super(ErrorCode.BACKEND_FAILED, message, options.retryable ?? true, options);
    this.status = options.status;
  }
}

export class RateLimitedError extends StoryCoreError {
  override name = 'RateLimitedError';
  /** Server-requested delay (Retry-After), when it gave one. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: StoryCoreErrorOptions & { retryAfterMs?: number } = {}) {
    super(ErrorCode.RATE_LIMITED, message, true, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class TimeoutError extends StoryCoreError {
  override name = 'TimeoutError';
  constructor(message: string, options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.TIMEOUT, message, true, options);
  }
}

export type CancelReason = 'user' | 'shutdown' | 'timeout';

/** A run or call was cancelled on purpose. Never retried, never reported as a failure. */
export class CancelledError extends StoryCoreError {
  override name = 'CancelledError';
  readonly reason: CancelReason;
  constructor(reason: CancelReason = 'user', options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.CANCELLED, `cancelled (${reason})`, false, options);
    this.reason = reason;
  }
}

export class NotFoundError extends StoryCoreError {
  override name = 'NotFoundError';
  constructor(message: string, options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.NOT_FOUND, message, false, options);
  }
}

/** The thing asked for is held by someone else right now (a project another live process is generating). */
export class ConflictError extends StoryCoreError {
  override name = 'ConflictError';
  constructor(message: string, options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.CONFLICT, message, false, options);
  }
}

export class QaFailedError extends StoryCoreError {
  override name = 'QaFailedError';
  constructor(message: string, options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.QA_FAILED, message, false, options);
  }
}

export class ExportFailedError extends StoryCoreError {
  override name = 'ExportFailedError';
  constructor(message: string, options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.EXPORT_FAILED, message, false, options);
  }
}

/**
 * A store failed: the run store or the artifact store. Not retryable by default (a corrupt file, a full disk); a
 * networked store whose server is unreachable or restarting (a database, an S3 endpoint down or answering 5xx) says
 * `retryable: true`, so a step's retry waits for it to come back.
 */
export class StoreError extends StoryCoreError {
  override name = 'StoreError';
  constructor(message: string, options: StoryCoreErrorOptions & { retryable?: boolean } = {}) {
    super(ErrorCode.STORE, message, options.retryable ?? false, options);
  }
}

export class InternalError extends StoryCoreError {
  override name = 'InternalError';
  constructor(message: string, options: StoryCoreErrorOptions = {}) {
    super(ErrorCode.INTERNAL, message, false, options);
  }
}

/** Type guard that also works across realms and duplicated module copies (checks a global symbol, not the prototype). */
export function isStoryCoreError(value: unknown): value is StoryCoreError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Walks the `cause` chain, outermost first. Stops on cycles. */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current)) {
    chain.push(current);
    seen.add(current);
    current =
      current instanceof Error || typeof current === 'object'
        ? (current as { cause?: unknown }).cause
        : undefined;
  }
  return chain;
}

/** The innermost cause: what actually went wrong. */
export function rootCause(error: unknown): unknown {
  const chain = causeChain(error);
  return chain[chain.length - 1] ?? error;
}

/** True for our CancelledError and for platform aborts (AbortError DOMException), anywhere in the cause chain. */
export function isCancellation(error: unknown): boolean {
  return causeChain(error).some(
    (e) =>
      (isStoryCoreError(e) && e.code === ErrorCode.CANCELLED) ||
      (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError'),
  );
}

/** Turns anything thrown into a message fit for a person (no stack). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}
