import { cancellationFrom } from '../../core/abort.js';
import { describeComfyUiRejection } from '../../core/error-classify.js';
import {
  BackendFailedError,
  BackendRejectedError,
  BackendUnreachableError,
  NotFoundError,
  RateLimitedError,
  TimeoutError,
  errorMessage,
  isStoryCoreError,
} from '../../core/errors.js';
import { parseRetryAfter } from '../../core/error-classify.js';

/**
 * HTTP to one ComfyUI server on the built-in fetch: every call has its own timeout combined with the caller's signal,
 * and every failure becomes one of our errors with its cause kept (connection refused, DNS and TLS failures →
 * BackendUnreachableError; our timeout → TimeoutError; 4xx → BackendRejectedError; 5xx → BackendFailedError).
 */

export interface ComfyHttpOptions {
  /** Extra headers on every request and the WebSocket upgrade (a reverse proxy's `Authorization`, …). */
  headers?: Record<string, string>;
  /** Timeout of one HTTP request, ms. @default 30000 */
  requestTimeoutMs?: number;
  /** Timeout of an image upload or download (large files on a slow link), ms. @default 120000 */
  transferTimeoutMs?: number;
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  json?: unknown;
  body?: FormData;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

/** The largest body we read from a server (a /view of a big frame stays far below). */
const MAX_RESPONSE_BYTES = 512 * 1024 * 1024;

export class ComfyHttp {
  readonly baseUrl: string;
  readonly headers: Record<string, string>;
  readonly requestTimeoutMs: number;
  readonly transferTimeoutMs: number;

  constructor(url: string, options: ComfyHttpOptions = {}) {
    this.baseUrl = normaliseServerUrl(url);
    this.headers = { ...options.headers };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.transferTimeoutMs = options.transferTimeoutMs ?? 120_000;
  }

  /** ws:// or wss:// URL of the server's event socket for one client id. */
  socketUrl(clientId: string): string {
    const u = new URL(this.baseUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.pathname = `${u.pathname.replace(/\/$/, '')}/ws`;
    u.searchParams.set('clientId', clientId);
    return u.toString();
  }

  async json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const text = await this.request(path, options, (response) => readText(response, path));
    try {
      return (text === '' ? {} : JSON.parse(text)) as T;
    } catch (error) {
      throw new BackendFailedError(
        `ComfyUI at ${this.baseUrl} answered ${path} with something that is not JSON`,
        {
          cause: error,
          details: { server: this.baseUrl, path },
        },
      );
    }
  }

  async bytes(path: string, options: RequestOptions = {}): Promise<Buffer> {
    return this.request(path, options, async (response) => Buffer.from(await response.arrayBuffer()));
  }

  /** One request whose answer is not read; resolves only for 2xx. */
  async send(path: string, options: RequestOptions = {}): Promise<void> {
    await this.request(path, options, async (response) => void (await response.arrayBuffer()));
  }

  /**
   * One request, its body read by `read` under the same timeout (a server that sends headers and then stalls is a
   * timeout too). Our own timer, cleared when done, rather than AbortSignal.timeout, whose timers outlive every request.
   */
  private async request<T>(
    path: string,
    options: RequestOptions,
    read: (response: Response) => Promise<T>,
  ): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) throw cancellationFrom(signal);
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const where = { server: this.baseUrl, path };
    try {
      const response = await fetch(`${this.baseUrl}${path}`, {
        method: options.method ?? (options.json !== undefined || options.body ? 'POST' : 'GET'),
        headers: {
          ...this.headers,
          ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
        ...(options.body ? { body: options.body } : {}),
        signal: controller.signal,
        redirect: 'follow',
      });
      if (!response.ok) {
        const body = await readText(response, path).catch(() => '');
        throw httpError(this.baseUrl, path, response, body);
      }
      return await read(response);
    } catch (error) {
      if (isStoryCoreError(error)) throw error;
      if (signal?.aborted) throw cancellationFrom(signal);
      if (timedOut)
        // Not the AbortError itself as the cause: an abort anywhere in a cause chain reads as a cancel, and this is
        // a retryable timeout of the request, not a cancel of the run.
        throw new TimeoutError(`ComfyUI at ${this.baseUrl} did not answer ${path} within ${timeoutMs} ms`, {
          details: where,
        });
      throw new BackendUnreachableError(`cannot reach ComfyUI at ${this.baseUrl} (${networkCause(error)})`, {
        cause: error,
        details: where,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Strips a trailing slash and checks the scheme: `http://host:8188/` → `http://host:8188`. */
export function normaliseServerUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BackendRejectedError(`"${url}" is not a URL; expected e.g. http://127.0.0.1:8188`, {
      details: { server: url },
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new BackendRejectedError(`"${url}": a ComfyUI server is reached over http:// or https://`, {
      details: { server: url },
    });
  }
  parsed.hash = '';
  return parsed.toString().replace(/\/+$/, '');
}

async function readText(response: Response, path: string): Promise<string> {
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > MAX_RESPONSE_BYTES)
    throw new BackendFailedError(`response to ${path} is too large (${length} bytes)`);
  return response.text();
}

/** The errno-like code under fetch's "fetch failed" (ECONNREFUSED, ENOTFOUND, a TLS code), for the message. */
function networkCause(error: unknown): string {
  let current: unknown = error;
  let deepest = errorMessage(error);
  for (let i = 0; i < 5 && current; i++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (current instanceof Error) deepest = current.message;
    current = (current as { cause?: unknown }).cause;
  }
  return deepest;
}

function httpError(server: string, path: string, response: Response, body: string): Error {
  const status = response.status;
  const details = { server, path, status };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (status === 400 && parsed && typeof parsed === 'object' && 'node_errors' in parsed) {
    return new BackendRejectedError(describeComfyUiRejection(parsed), {
      status,
      details: { ...details, body: parsed },
    });
  }
  const snippet = body.trim().slice(0, 200);
  const message = `ComfyUI at ${server} answered ${path} with HTTP ${status}${snippet ? `: ${snippet}` : ''}`;
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after') ?? undefined);
    return new RateLimitedError(message, {
      details,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (status === 404) return new NotFoundError(message, { details });
  if (status === 408 || status === 504) return new TimeoutError(message, { details });
  if (status >= 500)
    return new BackendFailedError(message, { status, retryable: status !== 501 && status !== 505, details });
  return new BackendRejectedError(message, { status, details });
}
