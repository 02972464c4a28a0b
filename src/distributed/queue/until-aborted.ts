import { cancellationFrom } from '../../core/abort.js';

/**
 * Waits for `attempt` unless `signal` aborts or `timeoutMs` passes first; then `abandon` releases whatever the
 * attempt may still open (a socket mid-handshake) and the call rejects at once — with a CancelledError for the
 * caller's abort, with an `ETIMEDOUT` error for the deadline — rather than whenever the driver gives up. A server
 * that accepts the connection and then says nothing would otherwise hold an open for ever.
 */
export async function untilAborted<T>(
  attempt: Promise<T>,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  abandon: () => void,
): Promise<T> {
  // The loser of the race must not become an unhandled rejection.
  attempt.catch(() => undefined);
  if (signal?.aborted) {
    abandon();
    throw cancellationFrom(signal);
  }
  let onAbort: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const stopped = new Promise<never>((_, reject) => {
    onAbort = () => {
      abandon();
      reject(cancellationFrom(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => {
      abandon();
      reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
  });
  try {
    return await Promise.race([attempt, stopped]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
