import { classifyError } from '../../core/error-classify.js';
import { StoreError, errorMessage, isCancellation, isStoryCoreError } from '../../core/errors.js';

/**
 * What a queue server's failure means to a caller, in the one error hierarchy — the same words the shared run store
 * uses, since one PostgreSQL is often both. Network failures (refused, reset, timed out, DNS) and "the server is
 * starting or full" answers are a _retryable_ `StoreError` (the server may be back in a moment — a restart is
 * exactly that); refused credentials, a missing database, an unsupported server version are a `StoreError` that is
 * not retryable (only a person can fix them). Either names the server as `describe()` prints it, never with its
 * password.
 */

/** SQLSTATE classes/codes that mean "try again later": 08 connection exception, 53 insufficient resources, 57P0x. */
const PG_TEMPORARY = /^(08|53|57P0[1-4])/;
/** Redis replies that mean "not now" rather than "never". */
const REDIS_TEMPORARY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY)\b/;

function isTemporary(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return PG_TEMPORARY.test(code);
  const message = errorMessage(error);
  if (REDIS_TEMPORARY.test(message)) return true;
  // ioredis: the connection dropped under a command, or gave up reconnecting.
  if (/Connection is closed|Stream isn't writeable|Reached the max retries|connect ETIMEDOUT/.test(message)) {
    return true;
  }
  const verdict = classifyError(error);
  return verdict.retryable && verdict.kind === 'temporary';
}

/**
 * Wraps a driver error met while talking to the queue server `server` (a redacted description).
 * Our own errors and cancellations pass through unchanged.
 */
export function queueServerError(error: unknown, server: string, doing = 'connecting to'): unknown {
  if (isStoryCoreError(error) || isCancellation(error)) return error;
  const details = { queue: server };
  const cause = scrub(errorMessage(error));
  error = withoutCommand(error);
  if (isTemporary(error)) {
    return new StoreError(`queue server ${server} is unreachable (${doing} it): ${cause}`, {
      cause: error,
      details,
      retryable: true,
    });
  }
  return new StoreError(`queue server ${server} refused us (${doing} it): ${cause}`, {
    cause: error,
    details,
  });
}

/**
 * ioredis attaches the failed command to its errors — for AUTH, its arguments are the password. Such an error is
 * replaced, as a cause, by a copy that keeps its name, code and message only.
 */
function withoutCommand(error: unknown): unknown {
  if (typeof error !== 'object' || error === null || !('command' in error)) return error;
  const copy = new Error(scrub(errorMessage(error)));
  const name = (error as { name?: unknown }).name;
  if (typeof name === 'string') copy.name = name;
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}

/** Driver messages may quote a connection string; keep its password out of ours. */
function scrub(message: string): string {
  return message.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
}
