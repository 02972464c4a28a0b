import { createServer, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CancelledError, ErrorCode, StoreError, ValidationError } from '../src/core/errors.js';
import { openQueueConnection, parseQueueUrl, stepJobId } from '../src/distributed/queue/index.js';
import { freePort } from './support/local-server.js';

/**
 * The queue seam without a server: reading the URL, naming jobs, and what a server that does not answer looks
 * like. The contract itself runs against real PostgreSQL and Redis in test/distributed/queue-contract.test.ts.
 */

describe('a queue URL', () => {
  it.each([
    [
      'postgres://app:s3cret@db.example:6543/studio?sslmode=require',
      'postgres',
      'postgres://app@db.example:6543/studio',
    ],
    ['postgresql://db.example/studio', 'postgres', 'postgresql://db.example:5432/studio'],
    ['redis://:s3cret@cache.example:6380/2', 'redis', 'redis://cache.example:6380/2'],
    ['rediss://user:s3cret@cache.example', 'redis', 'rediss://user@cache.example:6379'],
  ])('%s selects %s and prints as %s', (url, kind, redacted) => {
    const location = parseQueueUrl(url);
    expect(location.kind).toBe(kind);
    expect(location.redacted).toBe(redacted);
    expect(location.redacted).not.toContain('s3cret');
  });

  it.each([
    ['amqp://broker:5672', /scheme "amqp:" is not supported: use postgres:\/\//],
    ['not a url with password=hunter2', /is not a URL/],
    ['redis://cache.example/jobs', /database number, not "jobs"/],
  ])('%s is a ValidationError saying what is wrong', (url, message) => {
    const error = (() => {
      try {
        parseQueueUrl(url);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(message);
  });

  it('a namespace that is not a plain identifier is refused before any server is asked', async () => {
    await expect(openQueueConnection('redis://127.0.0.1:1', { namespace: 'Bad-Name' })).rejects.toThrow(
      /queue namespace "Bad-Name" must be lowercase/,
    );
  });
});

describe('a step job id', () => {
  it('is the project and the input hash, the same for the same work', () => {
    const hash = 'ab'.repeat(32);
    expect(stepJobId('lighthouse', hash)).toBe(`lighthouse.${hash}`);
    expect(stepJobId('lighthouse', hash)).toBe(stepJobId('lighthouse', hash));
    expect(stepJobId('lighthouse', hash)).not.toContain(':');
  });

  it('refuses what BullMQ could not store as an id', () => {
    expect(() => stepJobId('a:b', 'ab'.repeat(32))).toThrow(ValidationError);
    expect(() => stepJobId('lighthouse', 'not-a-hash')).toThrow(/not 64 lowercase hex digits/);
  });
});

describe('a queue server that does not answer', () => {
  it.each(['postgres', 'redis'])(
    'on %s is a retryable StoreError naming the server without its password',
    async (scheme) => {
      const port = await freePort();
      const error = await openQueueConnection(`${scheme}://app:hunter2@127.0.0.1:${port}/0`).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreError);
      const e = error as StoreError;
      expect(e.code).toBe(ErrorCode.STORE);
      expect(e.retryable).toBe(true);
      expect(e.message).toContain(`${scheme}://app@127.0.0.1:${port}`);
      expect(e.message).toMatch(/ECONNREFUSED/);
      expect(inspect(e, { depth: 10 })).not.toContain('hunter2');
    },
  );

  it.each(['postgres', 'redis'])(
    'on %s that accepts the connection and then says nothing is unreachable after connectTimeoutMs, not never',
    async (scheme) => {
      const silent = await silentServer();
      try {
        const started = Date.now();
        const error = await openQueueConnection(`${scheme}://127.0.0.1:${silent.port}`, {
          connectTimeoutMs: 300,
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).retryable).toBe(true);
        expect((error as Error).message).toMatch(/127\.0\.0\.1:\d+.*(no answer within 300 ms|timeout)/);
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await silent.close();
      }
    },
  );

  it('an open waiting on a silent server ends with CancelledError as soon as its signal aborts', async () => {
    const silent = await silentServer();
    try {
      const controller = new AbortController();
      const opening = openQueueConnection(`postgres://127.0.0.1:${silent.port}/db`, {
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(new CancelledError('shutdown')), 100);
      const started = Date.now();
      await expect(opening).rejects.toBeInstanceOf(CancelledError);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await silent.close();
    }
  });

  it('an aborted open rejects with CancelledError', async () => {
    const controller = new AbortController();
    controller.abort(new CancelledError('shutdown'));
    await expect(
      openQueueConnection('redis://127.0.0.1:1', { signal: controller.signal }),
    ).rejects.toBeInstanceOf(CancelledError);
  });
});

/** A TCP server on loopback that accepts connections and never writes a byte. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
