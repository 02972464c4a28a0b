import {
  ConflictError,
  NotFoundError,
  StoreError,
  ValidationError,
  errorMessage,
  isStoryCoreError,
} from '../../core/errors.js';
import type { StoryCoreError } from '../../core/errors.js';

/**
 * `postgres://user:***@host:port/db?…` — what may be shown of a connection URL. The password never reaches a
 * message, a log line or an error's details; a URL that does not parse is not echoed at all, since the password
 * could sit anywhere in it.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|key/i.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return '(a connection URL that does not parse)';
  }
}

/** Where the store is, as named in every error: `127.0.0.1:5432/storycore (schema storycore)`. */
export interface PostgresPlace {
  /** host:port of the server. */
  server: string;
  database: string;
  schema: string;
}

/** SQLSTATE classes and codes that mean "the server is not there right now": trying again later can succeed. */
const UNAVAILABLE_SQLSTATE = new Set([
  '57P01', // admin_shutdown (pg_ctl stop -m fast, a restart)
  '57P02', // crash_shutdown (another backend crashed, the server resets)
  '57P03', // cannot_connect_now (starting up, recovering after a crash)
  '53300', // too_many_connections
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** What pg says when the socket closes under a query or a connect, or a statement goes unanswered (no code). */
const TERMINATED =
  /connection terminated|terminating connection|server closed the connection|timeout exceeded when trying to connect|connection timeout|query read timeout/i;

function field(error: unknown, name: string): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value = (error as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** Whether a driver failure means the server is unreachable, going down or restarting (so a retry may succeed). */
export function isServerUnavailable(error: unknown): boolean {
  const code = field(error, 'code');
  if (code !== undefined && (UNAVAILABLE_SQLSTATE.has(code) || code.startsWith('08'))) return true;
  if (code !== undefined && UNAVAILABLE_ERRNO.has(code)) return true;
  // AggregateError (a host resolving to several addresses) carries the errno on its members.
  const errors = (error as { errors?: unknown } | null)?.errors;
  if (Array.isArray(errors) && errors.some(isServerUnavailable)) return true;
  return error instanceof Error && TERMINATED.test(error.message);
}

/**
 * A pg failure in our hierarchy, naming the server and the operation: an unreachable or restarting server is a
 * retryable StoreError (so `classifyError` retries the step), constraint violations are the ConflictError,
 * NotFoundError or ValidationError the embedded store raises for the same mistakes, anything else a StoreError.
 * The driver error stays as `cause` (pg errors carry no connection string, so no password rides along).
 */
export function storeErrorFromPg(error: unknown, operation: string, place: PostgresPlace): StoryCoreError {
  if (isStoryCoreError(error)) return error;
  const code = field(error, 'code');
  const where = `run store postgres at ${place.server}/${place.database} (schema ${place.schema})`;
  const details = {
    server: place.server,
    schema: place.schema,
    operation,
    ...(code ? { pgCode: code } : {}),
  };
  const detail = field(error, 'detail');
  const says = (what: string, retryable = false): StoreError =>
    new StoreError(`${where}: ${what} (during ${operation})`, { cause: error, details, retryable });

  if (isServerUnavailable(error)) {
    const what =
      code === 'ECONNREFUSED'
        ? 'connection refused: is the server running?'
        : code === '57P01' || code === '57P02'
          ? 'the server is shutting down or restarting'
          : code === '57P03'
            ? 'the server is starting up or recovering'
            : code === '53300'
              ? 'too many connections'
              : code === '40001' || code === '40P01'
                ? `a concurrent transaction got in the way (${errorMessage(error)})`
                : `the connection failed (${errorMessage(error)})`;
    return says(`${what}; the call can be retried once it answers again`, true);
  }
  switch (code) {
    case '23505':
      return new ConflictError(
        `${where}: already exists (${detail ?? errorMessage(error)}) (during ${operation})`,
        {
          cause: error,
          details,
        },
      );
    case '23503':
      return new NotFoundError(
        `${where}: refers to something that does not exist (${detail ?? errorMessage(error)}) (during ${operation})`,
        { cause: error, details },
      );
    case '23502':
    case '23514':
    case '22P02':
    case '22001':
    case '22003':
      return new ValidationError(
        `${where}: ${errorMessage(error)} (during ${operation})`,
        [
          {
            path: field(error, 'column') ?? field(error, 'constraint') ?? operation,
            message: errorMessage(error),
          },
        ],
        { cause: error, details },
      );
    case '28P01':
    case '28000':
      return says(`authentication failed (${errorMessage(error)}); check the user and password in the URL`);
    case '3D000':
      return says(`database "${place.database}" does not exist; create it first`);
    case '42501':
      return says(
        `permission denied (${errorMessage(error)}); the user needs rights on schema ${place.schema}`,
      );
    case '53100':
      return says('the server is out of disk space');
    default:
      return says(errorMessage(error));
  }
}
