import { cancellationFrom } from '../../core/abort.js';

/**
 * Waits for `attempt` unless `signal` aborts first; then `abandon` releases whatever the attempt may still open
 * (a socket mid-handshake), and the call rejects with a CancelledError at once rather than when the driver gives up.
 */
export async function untilAborted<T>(
  attempt: Promise<T>,
  signal: AbortSignal | undefined,
  abandon: () => void,
): Promise<T> {
  if (!signal) return attempt;
  if (signal.aborted) {
    abandon();
    attempt.catch(() => undefined);
    throw cancellationFrom(signal);
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      abandon();
      reject(cancellationFrom(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([attempt, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
    // The loser of the race must not become an unhandled rejection.
    attempt.catch(() => undefined);
  }
}
