import { cancellationFrom } from '../core/abort.js';
import { TimeoutError, ValidationError } from '../core/errors.js';
import type { GenerateOptions, GeneratedImage, GenerationRequest, ImageBackend } from '../backends/types.js';

export interface BackendGuardOptions {
  /** Longest wait for one request, in ms; a request still pending then fails as a retryable TimeoutError. */
  requestTimeoutMs?: number;
}

/** Checks `requestTimeoutMs` as data, with the option's name in the message. */
export function checkRequestTimeout(value: unknown, path = 'requestTimeoutMs'): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ValidationError(`${path} must be a positive number of milliseconds, got ${String(value)}`, [
      { path, message: 'expected a positive, finite number of milliseconds' },
    ]);
  }
  return value;
}

/**
 * The backend as the pipeline calls it: a request settles when the backend answers, when the caller's signal
 * aborts, or when `requestTimeoutMs` passes — whichever comes first. A backend that ignores `signal` (or a server
 * that never answers) can therefore neither keep a cancelled run pending nor hang a step: the pipeline stops
 * waiting, and whatever the backend returns later is dropped (its progress reports too), so nothing of it is
 * journaled. The backend's own signal is aborted as well, for backends that do honour it.
 *
 * Returns a plain object carrying the backend's descriptive members (name, version, capacity, canRegenerate,
 * `fingerprint`, `onStatus` and `maxGenerationSide` when it has them), so step input hashes are the same as with the backend.
 */
export function guardBackend(backend: ImageBackend, options: BackendGuardOptions = {}): ImageBackend {
  const timeoutMs = checkRequestTimeout(options.requestTimeoutMs);
  const maxSide = (backend as { maxGenerationSide?: unknown }).maxGenerationSide;
  const guarded: ImageBackend & { maxGenerationSide?: number } = {
    name: backend.name,
    version: backend.version,
    capacity: backend.capacity,
    canRegenerate: backend.canRegenerate,
    ...(typeof maxSide === 'number' ? { maxGenerationSide: maxSide } : {}),
    // Part of step input hashes (backendKey): the guarded backend must hash exactly like the backend itself.
    ...(backend.fingerprint ? { fingerprint: (purpose) => backend.fingerprint!(purpose) } : {}),
    generate: (request, generateOptions) => guardedGenerate(backend, request, generateOptions, timeoutMs),
    ...(backend.close ? { close: () => backend.close!() } : {}),
    // The servers' state (a ComfyUI pool) reaches the progress view through the guard unchanged.
    ...(backend.onStatus ? { onStatus: (listener) => backend.onStatus!(listener) } : {}),
  };
  return guarded;
}

function guardedGenerate(
  backend: ImageBackend,
  request: GenerationRequest,
  options: GenerateOptions = {},
  timeoutMs: number | undefined,
): Promise<GeneratedImage> {
  const outer = options.signal;
  if (outer?.aborted) return Promise.reject(cancellationFrom(outer));
  const inner = new AbortController();
  let settled = false;
  return new Promise<GeneratedImage>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      settled = true;
      if (timer) clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      if (settled) return;
      finish();
      inner.abort(outer!.reason);
      reject(cancellationFrom(outer!));
    };
    outer?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        if (settled) return;
        finish();
        const what = request.label === undefined ? request.purpose : `${request.purpose} ${request.label}`;
        const error = new TimeoutError(
          `backend "${backend.name}" did not answer within ${timeoutMs} ms (${what})`,
          { details: { backend: backend.name, requestTimeoutMs: timeoutMs, label: request.label ?? null } },
        );
        inner.abort(error);
        reject(error);
      }, timeoutMs);
    }
    // Every option passes through; the callbacks go quiet once the request has settled (a late report from a
    // backend that ignored the cancel must not reach the caller).
    const forwarded: GenerateOptions = { ...options, signal: inner.signal };
    const { onProgress, onPreview } = options;
    if (onProgress) forwarded.onProgress = (p) => void (settled || onProgress(p));
    if (onPreview) forwarded.onPreview = (p) => void (settled || onPreview(p));
    let call: Promise<GeneratedImage>;
    try {
      call = backend.generate(request, forwarded);
    } catch (error) {
      // A backend that throws synchronously instead of rejecting.
      finish();
      reject(error as Error);
      return;
    }
    Promise.resolve(call).then(
      (image) => {
        if (settled) return; // too late: the run was cancelled or the request timed out; dropped
        finish();
        resolve(image);
      },
      (error: unknown) => {
        if (settled) return;
        finish();
        reject(error as Error);
      },
    );
  });
}
