import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError, StoreError } from '../src/core/errors.js';
import { S3ArtifactStore } from '../src/store/s3-artifact-store.js';

/**
 * What the S3 store says on the wire and how it takes what servers answer, against a loopback HTTP server playing
 * the S3 replies that s3rver never gives (a checksum rejection, throttling, a hang). The behaviour against a real
 * S3 implementation is the contract suite in test/distributed/s3-artifact-store.test.ts.
 */

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

let server: Server;
let endpoint: string;
let seen: Seen[] = [];
let reply: (req: IncomingMessage, res: ServerResponse) => void;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      reply(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  seen = [];
});

const open = (options: { idleTimeoutMs?: number } = {}): Promise<S3ArtifactStore> =>
  S3ArtifactStore.open({
    bucket: 'wire',
    prefix: 'p',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wire-secret' },
    maxAttempts: 1,
    ...options,
  });

const s3Error = (res: ServerResponse, status: number, code: string): void => {
  res.writeHead(status, { 'Content-Type': 'application/xml' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`,
  );
};

/** HEAD: not there yet; PUT: `onPut`. */
const uploads = (onPut: (res: ServerResponse) => void) => (req: IncomingMessage, res: ServerResponse) => {
  if (req.method === 'HEAD') {
    res.writeHead(404);
    res.end();
  } else onPut(res);
};

describe('S3ArtifactStore on the wire', () => {
  it("sends each upload's sha256 as x-amz-checksum-sha256, so a checking server rejects torn bytes", async () => {
    reply = uploads((res) => {
      res.writeHead(200, { ETag: '"x"' });
      res.end();
    });
    const store = await open();
    try {
      const bytes = Buffer.from('frame bytes');
      const sha = await store.put(bytes);
      const put = seen.find((r) => r.method === 'PUT')!;
      expect(put.url.split('?')[0]).toBe(`/wire/p/${sha.slice(0, 2)}/${sha.slice(2)}`);
      expect(put.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update(bytes).digest('base64'));
      expect(put.headers['content-length']).toBe(String(bytes.length));
    } finally {
      store.close();
    }
  });

  it('turns a checksum rejection (BadDigest) and throttling (503 SlowDown) into retryable StoreErrors', async () => {
    const store = await open();
    try {
      for (const [status, code, says] of [
        [400, 'BadDigest', 'damaged in transit'],
        [503, 'SlowDown', 'SlowDown (HTTP 503)'],
      ] as const) {
        reply = uploads((res) => s3Error(res, status, code));
        const error = await store.put(Buffer.from(code)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).retryable).toBe(true);
        expect((error as Error).message).toContain(says);
        expect((error as Error).message).toContain(endpoint);
      }
    } finally {
      store.close();
    }
  });

  it('fails a server that hangs after idleTimeoutMs, retryably, instead of hanging the step', async () => {
    reply = () => {}; // never answers
    const store = await open({ idleTimeoutMs: 300 });
    try {
      const started = performance.now();
      const error = await store.has('a'.repeat(64)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).retryable).toBe(true);
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      store.close();
    }
  });

  it('cancels a request the server is sitting on when the signal aborts', async () => {
    reply = () => {};
    const store = await open();
    try {
      const controller = new AbortController();
      const pending = store.get('b'.repeat(64), { signal: controller.signal }).catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 100));
      controller.abort();
      expect(await pending).toBeInstanceOf(CancelledError);
    } finally {
      store.close();
    }
  });
});
