import { createServer, type Server } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackendFailedError,
  BackendRejectedError,
  CancelledError,
  ErrorCode,
  GenerationErrorHandler,
  InternalError,
  MemoryPartialResultsStorage,
  QaFailedError,
  RateLimitedError,
  TimeoutError,
  ValidationError,
  classifyError,
  createErrorReport,
  createGenerationError,
  formatErrorForDisplay,
  getErrorSeverity,
  getUserFriendlyErrorMessage,
  isPermanentError,
  isTemporaryError,
  logError,
  type ErrorKind,
  type ErrorSeverity,
  type RecoveryAction,
} from '../src/core/index.js';

// The note's examples construct a handler with no storage: its default is the `.storycore` workspace in the
// working directory, so the tests run from a temp folder.
const stateDir = mkdtempSync(join(tmpdir(), 'storycore-eh-'));
const originalCwd = process.cwd();
process.chdir(stateDir);

let server: Server;
let baseUrl = '';
let closedPort = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const status = Number(query.get('status') ?? '200');
    if (status === 429) res.setHeader('Retry-After', '7');
    const answer = setTimeout(
      () => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status }));
      },
      Number(query.get('delay') ?? '0'),
    );
    res.on('close', () => clearTimeout(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  baseUrl = `http://127.0.0.1:${address.port}`;
  // A port that was just free and is closed again: connecting to it is refused.
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const probeAddress = probe.address();
  if (probeAddress === null || typeof probeAddress === 'string') throw new Error('no port');
  closedPort = probeAddress.port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  process.chdir(originalCwd);
  rmSync(stateDir, { recursive: true, force: true });
});

async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

/** An HTTP error as ky/axios-style clients throw it, carrying the real Response of a real request. */
async function httpError(status: number): Promise<unknown> {
  const response = await fetch(`${baseUrl}/?status=${status}`);
  await response.arrayBuffer();
  return Object.assign(new Error(`Request failed with status code ${status}`), { response });
}

/** A real `read ECONNRESET`: a loopback server answers the first bytes with a TCP reset. */
async function resetByPeer(): Promise<unknown> {
  const resetter = createNetServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
  await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', resolve));
  const address = resetter.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  try {
    return await new Promise((resolve, reject) => {
      const socket = connect(address.port, '127.0.0.1', () => socket.write('hello'));
      socket.on('error', reject);
      socket.on('close', () => resolve(socket));
    });
  } finally {
    resetter.close();
  }
}

function errno(code: string, message = `${code.toLowerCase()} happened`): Error {
  return Object.assign(new Error(`${message} (${code})`), { code });
}

const comfyBody = {
  error: {
    type: 'prompt_outputs_failed_validation',
    message: 'Prompt outputs failed validation',
    details: '',
    extra_info: {},
  },
  node_errors: {
    '2': {
      errors: [
        {
          type: 'value_bigger_than_max',
          message: 'Value 40 bigger than max of 31',
          details: 'blur_radius',
          extra_info: { input_name: 'blur_radius', received_value: 40 },
        },
      ],
      dependent_outputs: ['3'],
      class_type: 'ImageBlur',
    },
  },
};

type Row = [
  name: string,
  make: () => unknown,
  kind: ErrorKind,
  code: ErrorCode,
  severity: ErrorSeverity,
  action: RecoveryAction,
];

const T = 'temporary';
const P = 'permanent';
const rows: Row[] = [
  [
    'fetch failed with an ECONNREFUSED cause',
    () => new TypeError('fetch failed', { cause: errno('ECONNREFUSED') }),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'a real fetch to a closed loopback port',
    () => caught(() => fetch(`http://127.0.0.1:${closedPort}/`)),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'a real ECONNREFUSED from net.connect to a closed loopback port',
    () =>
      caught(
        () =>
          new Promise((resolve, reject) => {
            const socket = connect(closedPort, '127.0.0.1', () => resolve(socket));
            socket.on('error', reject);
          }),
      ),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  ['ECONNRESET', () => errno('ECONNRESET', 'read'), T, ErrorCode.BACKEND_UNREACHABLE, 'medium', 'retry'],
  [
    'a real ECONNRESET from a loopback server that resets the connection',
    () => caught(resetByPeer),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  ['ETIMEDOUT', () => errno('ETIMEDOUT', 'connect'), T, ErrorCode.TIMEOUT, 'medium', 'retry'],
  ['EPIPE', () => errno('EPIPE', 'write'), T, ErrorCode.BACKEND_UNREACHABLE, 'medium', 'retry'],
  ['ENOTFOUND', () => errno('ENOTFOUND', 'getaddrinfo'), T, ErrorCode.BACKEND_UNREACHABLE, 'medium', 'retry'],
  ['EAI_AGAIN', () => errno('EAI_AGAIN', 'getaddrinfo'), T, ErrorCode.BACKEND_UNREACHABLE, 'medium', 'retry'],
  [
    'undici UND_ERR_CONNECT_TIMEOUT under fetch failed',
    () => new TypeError('fetch failed', { cause: errno('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error') }),
    T,
    ErrorCode.TIMEOUT,
    'medium',
    'retry',
  ],
  [
    'undici UND_ERR_SOCKET',
    () => errno('UND_ERR_SOCKET', 'other side closed'),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'an AggregateError of refused connections',
    () => Object.assign(new AggregateError([errno('ECONNREFUSED'), errno('ECONNREFUSED')], ''), {}),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'WebSocket close 1006 (abnormal closure)',
    () => ({ type: 'close', code: 1006, reason: '', wasClean: false }),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'WebSocket close 1001 (going away)',
    () => ({ type: 'close', code: 1001, reason: 'server restart', wasClean: true }),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'WebSocket close 1011 on an error',
    () => Object.assign(new Error('websocket closed'), { closeCode: 1011 }),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'WebSocket close 1013 (try again later)',
    () => ({ type: 'close', code: 1013, reason: '', wasClean: true }),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'WebSocket close 1008 (policy violation)',
    () => ({ type: 'close', code: 1008, reason: 'bad client id', wasClean: true }),
    P,
    ErrorCode.BACKEND_REJECTED,
    'high',
    'skip',
  ],
  [
    'WebSocket close 1003 (unsupported data)',
    () => ({ type: 'close', code: 1003, reason: '', wasClean: true }),
    P,
    ErrorCode.BACKEND_REJECTED,
    'high',
    'skip',
  ],
  ['HTTP 400 on a real response', () => httpError(400), P, ErrorCode.BACKEND_REJECTED, 'high', 'skip'],
  [
    'HTTP 401 as statusCode',
    () => Object.assign(new Error('Unauthorized'), { statusCode: 401 }),
    P,
    ErrorCode.BACKEND_REJECTED,
    'high',
    'skip',
  ],
  ['HTTP 403 on a real response', () => httpError(403), P, ErrorCode.BACKEND_REJECTED, 'high', 'skip'],
  [
    'HTTP 404 as status',
    () => Object.assign(new Error('Request failed'), { status: 404 }),
    P,
    ErrorCode.NOT_FOUND,
    'high',
    'skip',
  ],
  ['HTTP 409 on a real response', () => httpError(409), P, ErrorCode.BACKEND_REJECTED, 'high', 'skip'],
  ['HTTP 422 on a real response', () => httpError(422), P, ErrorCode.BACKEND_REJECTED, 'high', 'skip'],
  ['HTTP 408 on a real response', () => httpError(408), T, ErrorCode.TIMEOUT, 'medium', 'retry'],
  [
    'HTTP 429 with Retry-After on a real response',
    () => httpError(429),
    T,
    ErrorCode.RATE_LIMITED,
    'medium',
    'retry',
  ],
  // 501 Not Implemented and 505 HTTP Version Not Supported are 5xx, but asking again can never succeed.
  ['HTTP 501 on a real response', () => httpError(501), P, ErrorCode.BACKEND_REJECTED, 'high', 'skip'],
  ['HTTP 505 on a real response', () => httpError(505), P, ErrorCode.BACKEND_REJECTED, 'high', 'skip'],
  ['HTTP 500 on a real response', () => httpError(500), T, ErrorCode.BACKEND_FAILED, 'medium', 'retry'],
  ['HTTP 502 on a real response', () => httpError(502), T, ErrorCode.BACKEND_FAILED, 'medium', 'retry'],
  ['HTTP 503 on a real response', () => httpError(503), T, ErrorCode.BACKEND_FAILED, 'medium', 'retry'],
  [
    'HTTP 504 as status',
    () => Object.assign(new Error('upstream'), { status: 504 }),
    T,
    ErrorCode.TIMEOUT,
    'medium',
    'retry',
  ],
  [
    'HTTP 503 deep in the cause chain',
    () => new Error('shot shot-7 failed', { cause: { status: 503 } }),
    T,
    ErrorCode.BACKEND_FAILED,
    'medium',
    'retry',
  ],
  [
    'a ComfyUI 400 node_errors body',
    () => Object.assign(new Error('POST /prompt 400'), { status: 400, body: comfyBody }),
    P,
    ErrorCode.BACKEND_REJECTED,
    'high',
    'skip',
  ],
  [
    'BackendRejectedError carrying the ComfyUI body',
    () => new BackendRejectedError('workflow rejected', { status: 400, details: { body: comfyBody } }),
    P,
    ErrorCode.BACKEND_REJECTED,
    'high',
    'skip',
  ],
  [
    'an AbortError from a real AbortController',
    () => {
      const c = new AbortController();
      c.abort();
      return caught(() => c.signal.throwIfAborted());
    },
    'cancelled',
    ErrorCode.CANCELLED,
    'low',
    'abort',
  ],
  [
    'a real fetch aborted mid-request',
    () => {
      const c = new AbortController();
      const p = caught(() => fetch(`${baseUrl}/?delay=5000`, { signal: c.signal }));
      setTimeout(() => c.abort(), 20);
      return p;
    },
    'cancelled',
    ErrorCode.CANCELLED,
    'low',
    'abort',
  ],
  ['CancelledError', () => new CancelledError('user'), 'cancelled', ErrorCode.CANCELLED, 'low', 'abort'],
  [
    'an AbortError wrapped as a cause',
    () => new BackendFailedError('render failed', { cause: new DOMException('aborted', 'AbortError') }),
    'cancelled',
    ErrorCode.CANCELLED,
    'low',
    'abort',
  ],
  [
    'a real AbortSignal.timeout on fetch',
    () => caught(() => fetch(`${baseUrl}/?delay=5000`, { signal: AbortSignal.timeout(20) })),
    T,
    ErrorCode.TIMEOUT,
    'medium',
    'retry',
  ],
  [
    'a real TypeError from calling undefined',
    () =>
      caught(() => {
        const o: { f?: () => void } = {};
        (o.f as () => void)();
      }),
    P,
    ErrorCode.INTERNAL,
    'critical',
    'abort',
  ],
  ['a real RangeError', () => caught(() => new Array(-1)), P, ErrorCode.INTERNAL, 'critical', 'abort'],
  [
    'ValidationError mentioning timeout',
    () => new ValidationError('shots[2].timeout must be positive'),
    P,
    ErrorCode.VALIDATION,
    'high',
    'skip',
  ],
  [
    'BackendFailedError (retryable)',
    () => new BackendFailedError('execution_error in KSampler'),
    T,
    ErrorCode.BACKEND_FAILED,
    'medium',
    'retry',
  ],
  [
    'RateLimitedError with retryAfterMs',
    () => new RateLimitedError('slow down', { retryAfterMs: 12_000 }),
    T,
    ErrorCode.RATE_LIMITED,
    'medium',
    'retry',
  ],
  ['our TimeoutError', () => new TimeoutError('no answer in 30s'), T, ErrorCode.TIMEOUT, 'medium', 'retry'],
  [
    'InternalError wrapping ECONNRESET (the error decides)',
    () => new InternalError('bug', { cause: errno('ECONNRESET') }),
    P,
    ErrorCode.INTERNAL,
    'critical',
    'abort',
  ],
  ['QaFailedError', () => new QaFailedError('sharpness 12 < 80'), P, ErrorCode.QA_FAILED, 'medium', 'skip'],
  [
    'message "rate limit exceeded"',
    () => new Error('rate limit exceeded'),
    T,
    ErrorCode.RATE_LIMITED,
    'medium',
    'retry',
  ],
  [
    'message "429 Too Many Requests"',
    () => new Error('429 Too Many Requests'),
    T,
    ErrorCode.RATE_LIMITED,
    'medium',
    'retry',
  ],
  [
    'message "Service Unavailable"',
    () => new Error('Service Unavailable'),
    T,
    ErrorCode.BACKEND_FAILED,
    'medium',
    'retry',
  ],
  [
    'message "Failed to fetch"',
    () => new Error('Failed to fetch'),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'message "socket hang up"',
    () => new Error('socket hang up'),
    T,
    ErrorCode.BACKEND_UNREACHABLE,
    'medium',
    'retry',
  ],
  [
    'message "Request timed out"',
    () => new Error('Request timed out'),
    T,
    ErrorCode.TIMEOUT,
    'medium',
    'retry',
  ],
  ['message "Not found"', () => new Error('Not found'), P, ErrorCode.NOT_FOUND, 'high', 'skip'],
  [
    'an unrecognised error',
    () => new Error('the flux capacitor overheated'),
    'unknown',
    ErrorCode.INTERNAL,
    'critical',
    'abort',
  ],
];

describe('error classification table', () => {
  const handler = new GenerationErrorHandler({ storage: new MemoryPartialResultsStorage() });

  it.each(rows)('%s → %s / %s / %s / %s', async (_name, make, kind, code, severity, action) => {
    const error = await make();
    const c = classifyError(error);
    expect(c.kind).toBe(kind);
    expect(c.code).toBe(code);
    expect(getErrorSeverity(error)).toBe(severity);
    const result = handler.handleError(error, { stage: 'comfyui', shotId: 'shot-7', attemptNumber: 1 });
    expect(result.action).toBe(action);
    expect(result.canRetry).toBe(action === 'retry');
    expect(result.severity).toBe(severity);
    expect(isTemporaryError(error)).toBe(kind === 'temporary');
    expect(isPermanentError(error)).toBe(kind === 'permanent' || kind === 'unknown');
  });

  it('decides ECONNRESET from its errno code, whatever the message says', async () => {
    // A message that names no network word: only the `code` property can make this retryable.
    const bare = Object.assign(new Error('the stream ended early'), { code: 'ECONNRESET' });
    expect(classifyError(bare)).toMatchObject({ kind: 'temporary', reason: 'errno ECONNRESET' });
    const real = await caught(resetByPeer);
    expect((real as { code?: unknown }).code).toBe('ECONNRESET');
    expect(classifyError(real)).toMatchObject({ retryable: true, reason: 'errno ECONNRESET' });
  });

  it('has at least 30 rows', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
  });
});

describe('GenerationErrorHandler (the note’s examples)', () => {
  it('should retry on temporary errors', () => {
    const handler = new GenerationErrorHandler();
    const error = new Error('Network timeout');
    const result = handler.handleError(error, { stage: 'grid', attemptNumber: 1 });
    expect(result.action).toBe('retry');
    expect(result.canRetry).toBe(true);
  });

  it('should abort on permanent errors', () => {
    const handler = new GenerationErrorHandler();
    const error = new Error('Not found');
    const result = handler.handleError(error, { stage: 'grid', attemptNumber: 1 });
    expect(result.action).toBe('abort');
  });

  it('should save and load partial results', () => {
    const handler = new GenerationErrorHandler();
    handler.savePartialResults('project-1', ['grid'], [], 'grid.png');
    const partial = handler.loadPartialResults('project-1');
    expect(partial?.completedStages).toContain('grid');
    handler.clearPartialResults('project-1');
    expect(handler.loadPartialResults('project-1')).toBeNull();
  });

  it('accepts the note’s constructor options, retryableErrors included', () => {
    const handler = new GenerationErrorHandler({
      maxAttempts: 5,
      initialDelayMs: 1000,
      maxDelayMs: 60000,
      backoffMultiplier: 2,
      retryableErrors: ['timeout', 'network', 'connection', 'queue stalled'],
    });
    expect([1, 2, 3, 4].map((a) => handler.calculateRetryDelay(a))).toEqual([1000, 2000, 4000, 8000]);
    const stalled = handler.handleError(new Error('GPU queue stalled'), {
      stage: 'comfyui',
      shotId: 's1',
      attemptNumber: 4,
    });
    expect(stalled).toMatchObject({ action: 'retry', suggestedDelay: 8000 });
    expect(handler.isErrorRetryable(new ValidationError('timeout must be positive'))).toBe(false);
  });
});

describe('GenerationErrorHandler decisions', () => {
  const handler = new GenerationErrorHandler({ storage: new MemoryPartialResultsStorage() });

  it('backs off 2 s, 4 s and then asks for a person once 3 attempts are used', () => {
    const error = new BackendFailedError('HTTP 503 from /prompt', { status: 503 });
    const first = handler.handleError(error, { stage: 'comfyui', shotId: 's3', attemptNumber: 1 });
    const second = handler.handleError(error, { stage: 'comfyui', shotId: 's3', attemptNumber: 2 });
    const third = handler.handleError(error, { stage: 'comfyui', shotId: 's3', attemptNumber: 3 });
    expect([first.action, first.suggestedDelay]).toEqual(['retry', 2000]);
    expect([second.action, second.suggestedDelay]).toEqual(['retry', 4000]);
    expect(second.message).toContain('Retrying in 4s (attempt 3 of 3)');
    expect(third).toMatchObject({ action: 'manual', canRetry: false, suggestedDelay: 0 });
    expect(third.message).toContain('still failing after 3 attempts');
  });

  it('waits as long as a rate limit asks, even past the backoff', async () => {
    const result = handler.handleError(await httpError(429), { stage: 'comfyui', attemptNumber: 1 });
    expect(result.suggestedDelay).toBe(7000);
  });

  it('reports a cancellation as a cancel, not a failure', () => {
    const result = handler.handleError(new CancelledError('user'), {
      stage: 'qa',
      shotId: 's2',
      attemptNumber: 1,
    });
    expect(result).toMatchObject({ action: 'abort', canRetry: false, severity: 'low' });
    expect(result.message).toBe('Quality Analysis (shot s2): generation cancelled');
  });

  it('aborts a permanent failure outside the per-shot stages', () => {
    const result = handler.handleError(new ValidationError('style.palette is empty'), {
      stage: 'grid',
      attemptNumber: 1,
    });
    expect(result.action).toBe('abort');
  });

  it('names node id, class_type and input of a ComfyUI rejection', () => {
    const error = new BackendRejectedError('workflow rejected', {
      status: 400,
      details: { body: comfyBody },
    });
    const text = getUserFriendlyErrorMessage(error);
    expect(text).toBe(
      'ComfyUI rejected the workflow: Prompt outputs failed validation (prompt_outputs_failed_validation); ' +
        'node 2 (ImageBlur) input "blur_radius": Value 40 bigger than max of 31: blur_radius',
    );
    expect(formatErrorForDisplay(error, { stage: 'comfyui', shotId: 'shot-2' })).toBe(
      `Generating Shots (shot shot-2): ${text}`,
    );
  });

  it('rejects an invalid policy with exact messages', () => {
    expect(() => new GenerationErrorHandler({ maxAttempts: 0, jitter: 2 })).toThrow(
      'Invalid retry policy: maxAttempts must be an integer >= 1 (got 0); jitter must be a number between 0 and 1 (got 2)',
    );
  });
});

describe('error reports', () => {
  const context = { stage: 'comfyui' as const, shotId: 'shot-4', attemptNumber: 2 };

  it('a friendly message keeps the root cause', () => {
    const error = new TypeError('fetch failed', { cause: errno('ECONNREFUSED', 'connect 127.0.0.1:8188') });
    expect(getUserFriendlyErrorMessage(error)).toBe(
      'Cannot reach the image backend; check that the server is running and reachable. ' +
        '(fetch failed (cause: connect 127.0.0.1:8188 (ECONNREFUSED)))',
    );
  });

  it('createErrorReport lists context, classification and the whole cause chain', () => {
    const error = new BackendFailedError('shot shot-4 failed', {
      cause: errno('ECONNRESET', 'read'),
      details: { node: '9' },
    });
    const report = createErrorReport(error, context, () => Date.UTC(2024, 0, 1));
    expect(report).toContain('StoryCore error report (2024-01-01T00:00:00.000Z)');
    expect(report).toContain('stage: comfyui\nshot: shot-4\nattempt: 2');
    expect(report).toContain('classification: temporary (code backend-failed)');
    expect(report).toContain(
      '  1. BackendFailedError [backend-failed]: shot shot-4 failed\n     details: {"node":"9"}',
    );
    expect(report).toContain('  2. Error [ECONNRESET]: read (ECONNRESET)');
    expect(report).toContain('root stack:');
  });

  it('createGenerationError carries stage, shot, code, retryability and the original cause', () => {
    const error = new RateLimitedError('slow down');
    const g = createGenerationError(error, context, () => 42);
    expect(g).toEqual({
      stage: 'comfyui',
      message: 'slow down',
      code: ErrorCode.RATE_LIMITED,
      retryable: true,
      severity: 'medium',
      shotId: 'shot-4',
      attemptNumber: 2,
      timestamp: 42,
      details: {},
      cause: error,
    });
  });

  it('logError logs failures as errors and cancellations as information', () => {
    const lines: Array<[string, string]> = [];
    const logger = {
      error: (m: string) => lines.push(['error', m]),
      info: (m: string) => lines.push(['info', m]),
    };
    logError(new Error('socket hang up'), context, logger);
    logError(new CancelledError('shutdown'), context, logger);
    expect(lines[0]?.[0]).toBe('error');
    expect(lines[0]?.[1]).toContain('classification: temporary');
    expect(lines[1]).toEqual(['info', 'Generating Shots (shot shot-4): cancelled']);
  });
});
