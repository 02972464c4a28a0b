import { CancelledError, isCancellation, type CancelReason } from './errors.js';

/** The CancelledError behind an aborted signal (its reason when it is one, else a 'user' cancel wrapping it). */
export function cancellationFrom(signal: AbortSignal): CancelledError {
  const reason: unknown = signal.reason;
  if (reason instanceof CancelledError) return reason;
  return new CancelledError('user', { cause: reason });
}

/** Throws a typed CancelledError when the signal is aborted (rather than the platform's DOMException). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancellationFrom(signal);
}

/** A sleep that ends at once, rejecting with CancelledError, when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancellationFrom(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancellationFrom(signal!));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Aborts a controller with a typed reason, so every listener sees why. */
export function abortWith(controller: AbortController, reason: CancelReason = 'user'): void {
  if (!controller.signal.aborted) controller.abort(new CancelledError(reason));
}

/** Normalises whatever an aborted operation threw into CancelledError; other errors pass through. */
export function asCancellation(error: unknown, signal?: AbortSignal): unknown {
  if (error instanceof CancelledError) return error;
  if (signal?.aborted && isCancellation(error)) return cancellationFrom(signal);
  if (isCancellation(error)) return new CancelledError('user', { cause: error });
  return error;
}
