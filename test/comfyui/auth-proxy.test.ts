import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComfyUiClient, checkComfyUiServer } from '../../src/backends/comfyui/index.js';
import { BackendRejectedError } from '../../src/core/errors.js';
import { startComfyDouble, type ComfyDouble } from '../support/comfyui-double/index.js';
import { trivialWorkflow } from './client-suite.js';

/**
 * ComfyUI behind a reverse proxy that wants a bearer token (how people expose a GPU box): a real proxy on loopback
 * that checks `Authorization` on every request and on the WebSocket upgrade, then forwards to the double.
 */

const TOKEN = 'Bearer s3cret';
let double: ComfyDouble;
let proxy: Server;
let proxyUrl: string;
const seen = { http: 0, upgrades: 0, refused: 0 };

beforeAll(async () => {
  double = await startComfyDouble();
  const target = new URL(double.url);
  proxy = createServer((req, res) => {
    if (req.headers.authorization !== TOKEN) {
      seen.refused++;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('401: Unauthorized');
      return;
    }
    seen.http++;
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  proxy.on('upgrade', (req, socket, head) => {
    if (req.headers.authorization !== TOKEN) {
      seen.refused++;
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    seen.upgrades++;
    const upstream = connect(Number(target.port), target.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  proxyUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await double?.close();
});

describe('a ComfyUI behind a reverse proxy with a token', () => {
  it('works when the client sends the header, on HTTP and on the socket', async () => {
    const client = new ComfyUiClient(proxyUrl, { headers: { Authorization: TOKEN } });
    try {
      const progress: string[] = [];
      const result = await client.run(trivialWorkflow('behind-proxy'), {
        onProgress: (p) => progress.push(p.message ?? ''),
      });
      expect(result.outputs['2']?.images).toHaveLength(1);
      expect(seen.upgrades).toBeGreaterThanOrEqual(1);
      // Node events came over the proxied socket, not only from polling.
      expect(progress).toContain('SaveImage');
    } finally {
      await client.close();
    }
  });

  it('without the header: a permanent, clear 401 from check and from a job', async () => {
    const report = await checkComfyUiServer(proxyUrl);
    expect(report.reachable).toBe(true);
    expect(report.usable).toBe(false);
    expect(report.error).toMatch(/HTTP 401/);
    const client = new ComfyUiClient(proxyUrl);
    try {
      const error = await client.run(trivialWorkflow('no-token')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BackendRejectedError);
      expect((error as BackendRejectedError).status).toBe(401);
    } finally {
      await client.close();
    }
  });
});
