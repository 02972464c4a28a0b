import { ErrorCode, causeChain, errorMessage, isCancellation, isStoryCoreError } from './errors.js';

/**
 * Error classification: decides whether something thrown is worth another try.
 * Typed facts first (our codes, HTTP status, errno, WebSocket close code, fetch's `TypeError: fetch failed`),
 * walking the `cause` chain outermost first; the message is read only when no link carries a typed fact.
 */

/** `cancelled`: on purpose, never retried or reported; `temporary`: may succeed later; `permanent`: cannot. */
export type ErrorKind = 'cancelled' | 'temporary' | 'permanent' | 'unknown';

export interface ErrorClassification {
  kind: ErrorKind;
  /** Our code that best describes the error (for StoryCoreErrors, their own code). */
  code: ErrorCode;
  /** Whether trying the same thing again can succeed. */
  retryable: boolean;
  /** What the decision rests on, e.g. `http 503`, `errno ECONNREFUSED`, `message "rate limit"`. */
  reason: string;
  /** HTTP status when one was found. */
  status?: number;
  /** Server-requested delay (RateLimitedError or a Retry-After header). */
  retryAfterMs?: number;
}

const TEMPORARY_HTTP = new Set([408, 425, 429, 500, 502, 503, 504]);

const TEMPORARY_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const PERMANENT_ERRNO = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EISDIR',
  'ENOTDIR',
  'ENOSPC',
  'EROFS',
  'EEXIST',
]);
// undici codes that mean the caller built a bad request, not that the network failed.
const PERMANENT_UNDICI = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_INVALID_RETURN_VALUE',
  'UND_ERR_NOT_SUPPORTED',
]);

/** Going-away, abnormal closure, server error, service restart, try again later, bad gateway. */
const TEMPORARY_WS_CLOSE = new Set([1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014]);
/** Protocol error, unsupported data, bad payload, policy violation, too big, missing extension. */
const PERMANENT_WS_CLOSE = new Set([1002, 1003, 1007, 1008, 1009, 1010, 1015]);

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

function httpStatusOf(e: Record<string, unknown>): number | undefined {
  const response = record(e['response']);
  for (const candidate of [e['status'], e['statusCode'], response?.['status'], response?.['statusCode']]) {
    if (
      typeof candidate === 'number' &&
      Number.isInteger(candidate) &&
      candidate >= 100 &&
      candidate <= 599
    ) {
      return candidate;
    }
  }
  return undefined;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function retryAfterOf(e: Record<string, unknown>): number | undefined {
  const response = record(e['response']);
  const headers = record(response?.['headers']) ?? record(e['headers']);
  if (!headers) return undefined;
  const get = headers['get'];
  const raw =
    typeof get === 'function'
      ? (get as (name: string) => unknown).call(headers, 'retry-after')
      : (headers['retry-after'] ?? headers['Retry-After']);
  return parseRetryAfter(raw);
}

function comfyBodyOf(e: Record<string, unknown>): Record<string, unknown> | undefined {
  const response = record(e['response']);
  const details = record(e['details']);
  const candidates = [
    e,
    record(e['body']),
    record(e['data']),
    record(response?.['data']),
    record(details?.['body']),
  ];
  return candidates.find((c) => c !== undefined && 'node_errors' in c);
}

/**
 * The person-readable message of a ComfyUI 400 body: `{error: {type, message}, node_errors: {<id>: {errors,
 * class_type}}}`, naming node id, class_type and input name. Older builds answer `{error: "no prompt",
 * node_errors: []}`; both shapes are accepted.
 */
export function describeComfyUiRejection(body: unknown): string {
  const b = record(body) ?? {};
  const top = b['error'];
  const topRecord = record(top);
  const headline =
    typeof top === 'string'
      ? top
      : typeof topRecord?.['message'] === 'string'
        ? `${topRecord['message']}${typeof topRecord['type'] === 'string' ? ` (${topRecord['type']})` : ''}`
        : 'workflow rejected';
  const parts: string[] = [];
  const nodeErrors = record(b['node_errors']);
  if (nodeErrors && !Array.isArray(nodeErrors)) {
    for (const [nodeId, value] of Object.entries(nodeErrors)) {
      const node = record(value);
      const classType = typeof node?.['class_type'] === 'string' ? node['class_type'] : 'unknown node';
      const errors = Array.isArray(node?.['errors']) ? (node['errors'] as unknown[]) : [];
      for (const err of errors.length > 0 ? errors : [{}]) {
        const er = record(err) ?? {};
        const input = record(er['extra_info'])?.['input_name'];
        const message = typeof er['message'] === 'string' ? er['message'] : 'invalid';
        const details = typeof er['details'] === 'string' && er['details'] !== '' ? `: ${er['details']}` : '';
        parts.push(
          `node ${nodeId} (${classType})${typeof input === 'string' ? ` input "${input}"` : ''}: ${message}${details}`,
        );
      }
    }
  }
  return parts.length > 0
    ? `ComfyUI rejected the workflow: ${headline}; ${parts.join('; ')}`
    : `ComfyUI rejected the workflow: ${headline}`;
}

function fromHttpStatus(status: number, e: Record<string, unknown>): ErrorClassification {
  const reason = `http ${status}`;
  if (status === 429) {
    const retryAfterMs = retryAfterOf(e);
    return {
      kind: 'temporary',
      code: ErrorCode.RATE_LIMITED,
      retryable: true,
      reason,
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  if (status === 408 || status === 504)
    return { kind: 'temporary', code: ErrorCode.TIMEOUT, retryable: true, reason, status };
  if (TEMPORARY_HTTP.has(status) || (status >= 500 && status !== 501 && status !== 505)) {
    return { kind: 'temporary', code: ErrorCode.BACKEND_FAILED, retryable: true, reason, status };
  }
  if (status === 404 || status === 410)
    return { kind: 'permanent', code: ErrorCode.NOT_FOUND, retryable: false, reason, status };
  if (status >= 400)
    return { kind: 'permanent', code: ErrorCode.BACKEND_REJECTED, retryable: false, reason, status };
  // 1xx–3xx thrown as an error: the request did not do what was asked and will not on a repeat.
  return { kind: 'permanent', code: ErrorCode.BACKEND_REJECTED, retryable: false, reason, status };
}

function fromErrno(code: string): ErrorClassification | undefined {
  const reason = `errno ${code}`;
  if (code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED') {
    return { kind: 'cancelled', code: ErrorCode.CANCELLED, retryable: false, reason };
  }
  if (
    code === 'ETIMEDOUT' ||
    code === 'ESOCKETTIMEDOUT' ||
    (code.startsWith('UND_ERR_') && code.endsWith('_TIMEOUT'))
  ) {
    return { kind: 'temporary', code: ErrorCode.TIMEOUT, retryable: true, reason };
  }
  if (PERMANENT_UNDICI.has(code))
    return { kind: 'permanent', code: ErrorCode.INTERNAL, retryable: false, reason };
  if (TEMPORARY_ERRNO.has(code) || code.startsWith('UND_ERR_')) {
    return { kind: 'temporary', code: ErrorCode.BACKEND_UNREACHABLE, retryable: true, reason };
  }
  if (PERMANENT_ERRNO.has(code)) {
    return {
      kind: 'permanent',
      code: code === 'ENOENT' ? ErrorCode.NOT_FOUND : ErrorCode.STORE,
      retryable: false,
      reason,
    };
  }
  return undefined;
}

function fromWebSocketClose(code: number): ErrorClassification | undefined {
  const reason = `websocket close ${code}`;
  if (TEMPORARY_WS_CLOSE.has(code))
    return { kind: 'temporary', code: ErrorCode.BACKEND_UNREACHABLE, retryable: true, reason };
  if (PERMANENT_WS_CLOSE.has(code))
    return { kind: 'permanent', code: ErrorCode.BACKEND_REJECTED, retryable: false, reason };
  return undefined;
}

/** One link of the cause chain, judged on typed facts only; undefined when it has none. */
function classifyLink(link: unknown): ErrorClassification | undefined {
  if (isStoryCoreError(link)) {
    if (link.code === ErrorCode.CANCELLED)
      return { kind: 'cancelled', code: link.code, retryable: false, reason: 'cancelled' };
    const status = (link as { status?: unknown }).status;
    const retryAfterMs = (link as { retryAfterMs?: unknown }).retryAfterMs;
    return {
      kind: link.retryable ? 'temporary' : 'permanent',
      code: link.code,
      retryable: link.retryable,
      reason: `code ${link.code}`,
      ...(typeof status === 'number' ? { status } : {}),
      ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}),
    };
  }
  const e = record(link);
  if (!e) return undefined;
  if (e['name'] === 'AbortError')
    return { kind: 'cancelled', code: ErrorCode.CANCELLED, retryable: false, reason: 'AbortError' };
  if (e['name'] === 'TimeoutError')
    return { kind: 'temporary', code: ErrorCode.TIMEOUT, retryable: true, reason: 'TimeoutError' };
  const body = comfyBodyOf(e);
  if (body) {
    return {
      kind: 'permanent',
      code: ErrorCode.BACKEND_REJECTED,
      retryable: false,
      reason: 'comfyui node_errors',
      status: httpStatusOf(e) ?? 400,
    };
  }
  const status = httpStatusOf(e);
  if (status !== undefined) return fromHttpStatus(status, e);
  const code = e['code'];
  if (typeof code === 'string') {
    const byErrno = fromErrno(code);
    if (byErrno) return byErrno;
  }
  const closeCode = typeof e['closeCode'] === 'number' ? e['closeCode'] : code;
  if (typeof closeCode === 'number' && closeCode >= 1000 && closeCode <= 4999) {
    const byClose = fromWebSocketClose(closeCode);
    if (byClose) return byClose;
  }
  if (
    link instanceof TypeError &&
    /^fetch failed$|^failed to fetch$|^networkerror|^load failed$/i.test(link.message)
  ) {
    // fetch reports every network failure this way; its cause (when any) is more precise and is read next.
    const inner = link.cause === undefined ? undefined : classifyChain(link.cause);
    return (
      inner ?? {
        kind: 'temporary',
        code: ErrorCode.BACKEND_UNREACHABLE,
        retryable: true,
        reason: 'fetch failed',
      }
    );
  }
  if (link instanceof AggregateError && link.errors.length > 0) {
    // Node's happy-eyeballs connect fails with one error per address; the first is representative.
    const inner = classifyChain(link.errors[0]);
    if (inner) return inner;
  }
  if (
    link instanceof TypeError ||
    link instanceof RangeError ||
    link instanceof ReferenceError ||
    link instanceof SyntaxError
  ) {
    return {
      kind: 'permanent',
      code: ErrorCode.INTERNAL,
      retryable: false,
      reason: `programming error (${link.name})`,
    };
  }
  return undefined;
}

function classifyChain(error: unknown): ErrorClassification | undefined {
  for (const link of causeChain(error)) {
    const verdict = classifyLink(link);
    if (verdict) return verdict;
  }
  return undefined;
}

interface MessageRule {
  pattern: RegExp;
  kind: 'temporary' | 'permanent';
  code: ErrorCode;
}

// Temporary rules first: "Network timeout" and "connection refused" should not lose to a stray "invalid".
const MESSAGE_RULES: MessageRule[] = [
  {
    pattern: /rate[\s_-]?limit|too many requests|\b429\b|quota exceeded|throttl/i,
    kind: 'temporary',
    code: ErrorCode.RATE_LIMITED,
  },
  { pattern: /timed?[\s_-]?out|timeout|deadline exceeded/i, kind: 'temporary', code: ErrorCode.TIMEOUT },
  {
    pattern:
      /service unavailable|bad gateway|gateway timeout|internal server error|\b50[0234]\b|temporar(il)?y unavailable|overloaded|try again/i,
    kind: 'temporary',
    code: ErrorCode.BACKEND_FAILED,
  },
  {
    pattern:
      /failed to fetch|fetch failed|network|socket hang up|connection (refused|reset|closed|lost|aborted|error)|econn(refused|reset|aborted)|ehostunreach|enotfound|eai_again|unreachable|disconnected|offline|websocket (closed|error)/i,
    kind: 'temporary',
    code: ErrorCode.BACKEND_UNREACHABLE,
  },
  { pattern: /not found|\b404\b|does not exist|no such/i, kind: 'permanent', code: ErrorCode.NOT_FOUND },
  {
    pattern: /unauthori[sz]ed|forbidden|\b40[13]\b|permission denied|access denied|api key|authenticat/i,
    kind: 'permanent',
    code: ErrorCode.BACKEND_REJECTED,
  },
  {
    pattern:
      /invalid|validation|malformed|bad request|\b400\b|unprocessable|\b422\b|conflict|\b409\b|unsupported|not supported/i,
    kind: 'permanent',
    code: ErrorCode.VALIDATION,
  },
];

function classifyByMessage(
  error: unknown,
  extraRetryable: readonly string[],
): ErrorClassification | undefined {
  const messages = causeChain(error).map((e) => errorMessage(e));
  for (const message of messages) {
    const lower = message.toLowerCase();
    const extra = extraRetryable.find((needle) => needle !== '' && lower.includes(needle.toLowerCase()));
    if (extra !== undefined) {
      return {
        kind: 'temporary',
        code: ErrorCode.BACKEND_FAILED,
        retryable: true,
        reason: `message "${extra}"`,
      };
    }
    for (const rule of MESSAGE_RULES) {
      const match = rule.pattern.exec(message);
      if (match) {
        return {
          kind: rule.kind,
          code: rule.code,
          retryable: rule.kind === 'temporary',
          reason: `message "${match[0]}"`,
        };
      }
    }
  }
  return undefined;
}

export interface ClassifyOptions {
  /**
   * Extra message fragments (case-insensitive) that make an otherwise unrecognised error retryable, as in the
   * note's `retryableErrors: ['timeout', 'network']`. They never override a typed verdict: a ValidationError
   * that mentions "timeout" is still not retried.
   * @default []
   */
  retryableErrors?: readonly string[];
}

/** Classifies anything thrown. Cancellation anywhere in the cause chain wins over everything else. */
export function classifyError(error: unknown, options: ClassifyOptions = {}): ErrorClassification {
  if (isCancellation(error))
    return { kind: 'cancelled', code: ErrorCode.CANCELLED, retryable: false, reason: 'cancelled' };
  return (
    classifyChain(error) ??
    classifyByMessage(error, options.retryableErrors ?? []) ?? {
      kind: 'unknown',
      code: ErrorCode.INTERNAL,
      retryable: false,
      reason: 'unrecognised error',
    }
  );
}

/** The ComfyUI rejection body in an error's cause chain, if any (for messages that name node and input). */
export function findComfyUiRejection(error: unknown): Record<string, unknown> | undefined {
  for (const link of causeChain(error)) {
    const e = record(link);
    const body = e ? comfyBodyOf(e) : undefined;
    if (body) return body;
  }
  return undefined;
}
