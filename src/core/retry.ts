import { asCancellation, cancellationFrom, sleep as abortableSleep, throwIfAborted } from './abort.js';
import { classifyError, type ErrorClassification } from './error-classify.js';
import { ValidationError, type ValidationIssue } from './errors.js';

/** Retry policy as data: validated once by {@link parseRetryPolicy}, then read by the pure {@link delayFor}. */
export interface RetryPolicy {
  /** Total attempts, the first included. @default 3 */
  maxAttempts: number;
  /** Wait before the second attempt. @default 2000 */
  initialDelayMs: number;
  /** Each further wait is the previous one times this. @default 2 */
  backoffMultiplier: number;
  /** No wait is longer than this (a server's Retry-After excepted). @default 30000 */
  maxDelayMs: number;
  /** Fraction of each wait drawn at random (0 = off, 1 = anywhere in [0, delay]), as in BullMQ. @default 0 */
  jitter: number;
  /** Extra message fragments that make an unrecognised error retryable (see ClassifyOptions). @default [] */
  retryableErrors: readonly string[];
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 3,
  initialDelayMs: 2000,
  backoffMultiplier: 2,
  maxDelayMs: 30_000,
  jitter: 0,
  retryableErrors: Object.freeze([]) as readonly string[],
});

const POLICY_KEYS = new Set(Object.keys(DEFAULT_RETRY_POLICY));

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * Validates a (partial) retry policy and fills in defaults. Throws ValidationError listing every problem, e.g.
 * `Invalid retry policy: maxAttempts must be an integer >= 1 (got 0)`.
 */
export function parseRetryPolicy(input: unknown = {}): RetryPolicy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError(`Invalid retry policy: expected an object (got ${describe(input)})`, [
      { path: '', message: 'expected an object' },
    ]);
  }
  const raw = input as Record<string, unknown>;
  const issues: ValidationIssue[] = [];
  for (const key of Object.keys(raw)) {
    if (!POLICY_KEYS.has(key) && raw[key] !== undefined)
      issues.push({ path: key, message: `unknown option "${key}"` });
  }
  const pick = <K extends keyof RetryPolicy>(key: K): unknown => raw[key] ?? DEFAULT_RETRY_POLICY[key];
  const num = (key: keyof RetryPolicy, ok: (n: number) => boolean, rule: string): number => {
    const value = pick(key);
    if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
      issues.push({ path: key, message: `${key} must be ${rule} (got ${describe(value)})` });
      return Number.NaN;
    }
    return value;
  };
  const maxAttempts = num('maxAttempts', (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
  const initialDelayMs = num('initialDelayMs', (n) => n >= 0, 'a number >= 0');
  const backoffMultiplier = num('backoffMultiplier', (n) => n >= 1, 'a number >= 1');
  const maxDelayMs = num('maxDelayMs', (n) => n >= 0, 'a number >= 0');
  const jitter = num('jitter', (n) => n >= 0 && n <= 1, 'a number between 0 and 1');
  if (Number.isFinite(initialDelayMs) && Number.isFinite(maxDelayMs) && maxDelayMs < initialDelayMs) {
    issues.push({
      path: 'maxDelayMs',
      message: `maxDelayMs must be >= initialDelayMs (got ${maxDelayMs} < ${initialDelayMs})`,
    });
  }
  const retryableErrors = pick('retryableErrors');
  if (!Array.isArray(retryableErrors) || !retryableErrors.every((s) => typeof s === 'string')) {
    issues.push({ path: 'retryableErrors', message: 'retryableErrors must be an array of strings' });
  }
  if (issues.length > 0) {
    throw new ValidationError(`Invalid retry policy: ${issues.map((i) => i.message).join('; ')}`, issues);
  }
  return {
    maxAttempts,
    initialDelayMs,
    backoffMultiplier,
    maxDelayMs,
    jitter,
    retryableErrors: [...(retryableErrors as string[])],
  };
}

/**
 * The wait after failed attempt `attempt` (1-based) before the next one:
 * `min(maxDelayMs, initialDelayMs × backoffMultiplier^(attempt-1))`, then jitter takes a random share off.
 * Pure given `random`.
 */
export function delayFor(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.backoffMultiplier ** (n - 1));
  if (policy.jitter <= 0) return Math.round(base);
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(base * (1 - policy.jitter) + base * policy.jitter * r);
}

/** The orchestrator's caller options, as the note names them. */
export interface RetryCallerOptions {
  /** Total attempts per step (the note's `retryAttempts: 3` is the default of 3 attempts); 0 means one attempt. */
  retryAttempts?: number;
  /** Wait before the first retry, doubled on each further one. */
  retryDelayMs?: number;
}

/** Turns `{retryAttempts, retryDelayMs}` into a validated policy on top of `base`. */
export function policyFromOptions(options: RetryCallerOptions, base: Partial<RetryPolicy> = {}): RetryPolicy {
  const start = parseRetryPolicy(base);
  const next: Record<string, unknown> = { ...start };
  if (options.retryAttempts !== undefined) {
    next['maxAttempts'] =
      Number.isInteger(options.retryAttempts) && options.retryAttempts === 0 ? 1 : options.retryAttempts;
  }
  if (options.retryDelayMs !== undefined) {
    next['initialDelayMs'] = options.retryDelayMs;
    // A caller asking for a long first wait means it; the cap follows rather than silently shortening it.
    if (typeof options.retryDelayMs === 'number' && options.retryDelayMs > start.maxDelayMs) {
      next['maxDelayMs'] = options.retryDelayMs;
    }
  }
  return parseRetryPolicy(next);
}

export interface RetryAttemptContext {
  /** 1-based attempt number. */
  attempt: number;
  /** Always a signal (a never-aborting one when the caller gave none), to pass into fetch and friends. */
  signal: AbortSignal;
}

export interface RetryEvent {
  error: unknown;
  /** The attempt that just failed (1-based). */
  attempt: number;
  /** The wait before the next attempt. */
  delayMs: number;
  classification: ErrorClassification;
}

export interface WithRetryOptions {
  signal?: AbortSignal;
  /** Called after a retryable failure, before the wait. */
  onRetry?: (event: RetryEvent) => void | Promise<void>;
  /** The wait; injectable so tests can observe delays. @default sleep from core/abort (ends at once on abort) */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Random source for jitter. @default Math.random */
  random?: () => number;
}

/**
 * Runs `fn` until it succeeds, a failure is not retryable, or the policy's attempts are used up; then rethrows
 * the last error unchanged (its cause chain intact). Cancellation is never retried: it rejects with
 * CancelledError at once, also in the middle of a backoff wait.
 */
export async function withRetry<T>(
  fn: (context: RetryAttemptContext) => Promise<T>,
  policy: Partial<RetryPolicy> = {},
  options: WithRetryOptions = {},
): Promise<T> {
  const resolved = parseRetryPolicy(policy);
  const signal = options.signal ?? new AbortController().signal;
  const wait = options.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await fn({ attempt, signal });
    } catch (error) {
      if (signal.aborted) throw cancellationFrom(signal);
      const classification = classifyError(error, { retryableErrors: resolved.retryableErrors });
      if (classification.kind === 'cancelled') throw asCancellation(error, signal);
      if (!classification.retryable || attempt >= resolved.maxAttempts) throw error;
      const delayMs = Math.max(delayFor(attempt, resolved, options.random), classification.retryAfterMs ?? 0);
      await options.onRetry?.({ error, attempt, delayMs, classification });
      throwIfAborted(signal);
      await wait(delayMs, signal);
    }
  }
}
