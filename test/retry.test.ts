import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BackendFailedError,
  BackendRejectedError,
  CancelledError,
  DEFAULT_RETRY_POLICY,
  RateLimitedError,
  ValidationError,
  abortWith,
  delayFor,
  parseRetryPolicy,
  policyFromOptions,
  withRetry,
  type RetryEvent,
} from '../src/core/index.js';

/** A sleep that records the waits and returns at once, still honouring the signal. */
function recordingSleep(): { waits: number[]; sleep: (ms: number, signal: AbortSignal) => Promise<void> } {
  const waits: number[] = [];
  return {
    waits,
    sleep: async (ms, signal) => {
      signal.throwIfAborted();
      waits.push(ms);
    },
  };
}

const temporary = (): Error =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8188'), { code: 'ECONNREFUSED' });

describe('retry policy', () => {
  it('defaults to 3 attempts, 2 s initial, ×2, 30 s cap, no jitter', () => {
    expect(parseRetryPolicy()).toEqual({
      maxAttempts: 3,
      initialDelayMs: 2000,
      backoffMultiplier: 2,
      maxDelayMs: 30_000,
      jitter: 0,
      retryableErrors: [],
    });
    expect(DEFAULT_RETRY_POLICY.maxAttempts).toBe(3);
  });

  it.each([
    [{ maxAttempts: 0 }, 'Invalid retry policy: maxAttempts must be an integer >= 1 (got 0)'],
    [{ maxAttempts: 2.5 }, 'Invalid retry policy: maxAttempts must be an integer >= 1 (got 2.5)'],
    [{ initialDelayMs: -1 }, 'Invalid retry policy: initialDelayMs must be a number >= 0 (got -1)'],
    [{ backoffMultiplier: 0.5 }, 'Invalid retry policy: backoffMultiplier must be a number >= 1 (got 0.5)'],
    [
      { maxDelayMs: Number.POSITIVE_INFINITY },
      'Invalid retry policy: maxDelayMs must be a number >= 0 (got Infinity)',
    ],
    [
      { initialDelayMs: 5000, maxDelayMs: 1000 },
      'Invalid retry policy: maxDelayMs must be >= initialDelayMs (got 1000 < 5000)',
    ],
    [{ jitter: 1.5 }, 'Invalid retry policy: jitter must be a number between 0 and 1 (got 1.5)'],
    [{ maxAttempts: '3' }, 'Invalid retry policy: maxAttempts must be an integer >= 1 (got "3")'],
    [{ retries: 3 }, 'Invalid retry policy: unknown option "retries"'],
    [{ retryableErrors: 'timeout' }, 'Invalid retry policy: retryableErrors must be an array of strings'],
    [null, 'Invalid retry policy: expected an object (got null)'],
  ])('rejects %j with "%s"', (input, message) => {
    let thrown: unknown;
    try {
      parseRetryPolicy(input);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as Error).message).toBe(message);
  });

  it('delayFor doubles from the initial delay and stops at the cap', () => {
    const policy = parseRetryPolicy();
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => delayFor(a, policy))).toEqual([
      2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });

  it('jitter takes a random share off the delay, deterministically for a given random source', () => {
    const policy = parseRetryPolicy({ jitter: 0.5 });
    expect(delayFor(2, policy, () => 0)).toBe(2000);
    expect(delayFor(2, policy, () => 1)).toBe(4000);
    expect(delayFor(2, policy, () => 0.5)).toBe(3000);
  });

  it('delayFor stays within [0, maxDelayMs] for any valid policy', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: -3, max: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (initial, mult, extra, jitter, attempt, r) => {
          const policy = parseRetryPolicy({
            initialDelayMs: initial,
            backoffMultiplier: mult,
            maxDelayMs: initial + extra,
            jitter,
          });
          const d = delayFor(attempt, policy, () => r);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(policy.maxDelayMs);
        },
      ),
    );
  });

  it('policyFromOptions honours the caller’s retryAttempts and retryDelayMs', () => {
    expect(policyFromOptions({ retryAttempts: 5, retryDelayMs: 500 })).toMatchObject({
      maxAttempts: 5,
      initialDelayMs: 500,
      maxDelayMs: 30_000,
    });
    expect(policyFromOptions({ retryAttempts: 0 }).maxAttempts).toBe(1);
    expect(policyFromOptions({ retryDelayMs: 45_000 })).toMatchObject({
      initialDelayMs: 45_000,
      maxDelayMs: 45_000,
    });
    expect(policyFromOptions({})).toEqual(parseRetryPolicy());
    expect(() => policyFromOptions({ retryAttempts: -2 })).toThrow(
      'maxAttempts must be an integer >= 1 (got -2)',
    );
  });
});

describe('withRetry', () => {
  it('retries a temporary failure until it succeeds, with backoff delays and onRetry calls', async () => {
    const { waits, sleep } = recordingSleep();
    const events: RetryEvent[] = [];
    const attempts: number[] = [];
    const result = await withRetry(
      async ({ attempt, signal }) => {
        attempts.push(attempt);
        expect(signal).toBeInstanceOf(AbortSignal);
        if (attempt < 3) throw temporary();
        return 'frame.png';
      },
      { maxAttempts: 4, initialDelayMs: 100, backoffMultiplier: 3 },
      { sleep, onRetry: (e) => void events.push(e) },
    );
    expect(result).toBe('frame.png');
    expect(attempts).toEqual([1, 2, 3]);
    expect(waits).toEqual([100, 300]);
    expect(events.map((e) => [e.attempt, e.delayMs, e.classification.code])).toEqual([
      [1, 100, 'backend-unreachable'],
      [2, 300, 'backend-unreachable'],
    ]);
  });

  it('gives up after maxAttempts and rethrows the last error unchanged', async () => {
    const { waits, sleep } = recordingSleep();
    const errors: Error[] = [];
    let calls = 0;
    const failure = withRetry(
      async () => {
        calls++;
        const e = new BackendFailedError(`attempt ${calls} failed`);
        errors.push(e);
        throw e;
      },
      { maxAttempts: 3, initialDelayMs: 10 },
      { sleep },
    );
    const thrown = await failure.catch((e: unknown) => e);
    expect(thrown).toBe(errors[2]);
    expect(errors).toHaveLength(3);
    expect(calls).toBe(3);
    expect(waits).toEqual([10, 20]);
  });

  it('stops at once on a permanent error', async () => {
    let calls = 0;
    const rejected = new BackendRejectedError(
      'node 3 (KSampler) input "steps": Value 0 smaller than min of 1',
      { status: 400 },
    );
    await expect(
      withRetry(async () => {
        calls++;
        throw rejected;
      }),
    ).rejects.toBe(rejected);
    expect(calls).toBe(1);
  });

  it('never retries a programming error', async () => {
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        return (undefined as unknown as { x: number }).x;
      }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
  });

  it('waits at least what a RateLimitedError asks for', async () => {
    const { waits, sleep } = recordingSleep();
    let calls = 0;
    await withRetry(
      async () => {
        if (++calls === 1) throw new RateLimitedError('429 from /prompt', { retryAfterMs: 5000 });
        return 'ok';
      },
      { initialDelayMs: 100 },
      { sleep },
    );
    expect(waits).toEqual([5000]);
  });

  it('a cancel during a 10 s backoff wait rejects at once with CancelledError', async () => {
    const controller = new AbortController();
    let calls = 0;
    const started = performance.now();
    const run = withRetry(
      async () => {
        calls++;
        throw temporary();
      },
      { initialDelayMs: 10_000, maxDelayMs: 10_000 },
      { signal: controller.signal, onRetry: () => void setTimeout(() => abortWith(controller, 'user'), 20) },
    );
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(100);
    expect(calls).toBe(1);
  });

  it('a cancel while the attempt runs is reported as CancelledError, not retried', async () => {
    const controller = new AbortController();
    let calls = 0;
    const run = withRetry(
      async ({ signal }) => {
        calls++;
        setTimeout(() => controller.abort(), 10);
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason as Error)),
        );
      },
      {},
      { signal: controller.signal },
    );
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).reason).toBe('user');
    expect(calls).toBe(1);
  });

  it('does not start when the signal is already aborted', async () => {
    const controller = new AbortController();
    abortWith(controller, 'shutdown');
    let calls = 0;
    const error = await withRetry(async () => ++calls, {}, { signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).reason).toBe('shutdown');
    expect(calls).toBe(0);
  });

  it('uses real waits of the policy when no sleep is injected', async () => {
    let calls = 0;
    const started = performance.now();
    await withRetry(
      async () => {
        if (++calls < 3) throw new Error('socket hang up');
        return calls;
      },
      { initialDelayMs: 30, backoffMultiplier: 2 },
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(85); // 30 + 60 ms, minus timer slack
    expect(calls).toBe(3);
  });
});
