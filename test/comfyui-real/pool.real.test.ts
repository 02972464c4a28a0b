import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createComfyUiBackend, type ComfyUiBackend } from '../../src/backends/comfyui/index.js';
import type { Workflow } from '../../src/backends/comfyui/workflow.js';
import type { GenerationRequest } from '../../src/backends/types.js';
import { BackendUnreachableError } from '../../src/core/errors.js';
import { hasKit, KIT, poolPorts, startKitServer, stopKitServer } from './real-server.js';

/**
 * Issue 8's fault matrix against real ComfyUI servers of our own (ports from COMFYUI_POOL_PORTS, started here and
 * stopped after): a server killed mid-run, the same server restarted, every server down then back, a server behind
 * a proxy that answers 500s or hangs, and one whose `/object_info` lacks a node type the workflow needs.
 */

const PORTS = poolPorts().slice(0, 3);
const HEALTH_MS = 1000;
const OPTIONS = {
  healthIntervalMs: HEALTH_MS,
  probeTimeoutMs: 1500,
  serverGoneTimeoutMs: 2000,
  pollIntervalMs: 250,
  requestTimeoutMs: 3000,
  outageTimeoutMs: 4000,
};

/** ~1 s of CPU per job on the test server: a 1024² image scaled to 2048² and blurred, saved small. */
const job: Workflow = {
  '1': { class_type: 'EmptyImage', inputs: { width: 1024, height: 1024, batch_size: 1, color: '{{seed}}' } },
  '2': {
    class_type: 'ImageScale',
    inputs: { image: ['1', 0], upscale_method: 'nearest-exact', width: 2048, height: 2048, crop: 'disabled' },
  },
  '3': { class_type: 'ImageBlur', inputs: { image: ['2', 0], blur_radius: 2, sigma: 1 } },
  '4': {
    class_type: 'ImageScale',
    inputs: { image: ['3', 0], upscale_method: 'nearest-exact', width: 64, height: 64, crop: 'disabled' },
  },
  '5': {
    class_type: 'SaveImage',
    inputs: { images: ['4', 0], filename_prefix: '{{filename_prefix}}' },
    _meta: { title: 'storycore:frame' },
  },
};

let seed = 100_000 + Math.floor(Math.random() * 1_000_000);
const request = (label: string): GenerationRequest => ({
  prompt: 'pool',
  width: 64,
  height: 64,
  seed: seed++,
  purpose: 'shot',
  label,
});

const until = async (check: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

type ProxyMode = 'http-500' | 'hang' | { dropNode: string };

/** A fault-injecting HTTP proxy in front of a real server (no WebSocket: the client's polling carries the job). */
async function proxy(target: string, mode: ProxyMode): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (mode === 'hang') return; // accepted, never answered
      const path = req.url ?? '/';
      if (mode === 'http-500' && req.method === 'POST' && /\/prompt$/.test(path)) {
        req.resume();
        res.writeHead(500, { 'content-type': 'text/plain' }).end('500: Internal Server Error');
        return;
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      const upstream = await fetch(`${target}${path}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(body && req.method !== 'GET' ? { body } : {}),
      });
      let bytes = Buffer.from(await upstream.arrayBuffer());
      if (typeof mode === 'object' && /\/object_info$/.test(path)) {
        const info = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
        delete info[mode.dropNode];
        bytes = Buffer.from(JSON.stringify(info));
      }
      res.writeHead(upstream.status, {
        'content-type': upstream.headers.get('content-type') ?? 'text/plain',
      });
      res.end(bytes);
    })().catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (_req, socket) => socket.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const name = (port: number): string => `127.0.0.1:${port}`;

const runPool = hasKit && PORTS.length >= 3;
if (!runPool && process.env['COMFYUI_SKIP_KILL_TESTS'] !== '1') {
  describe('a pool of real ComfyUI servers', () => {
    it('has the start/stop kit and three ports for servers of its own', () => {
      expect.fail(
        `needs the kit at ${KIT} (COMFYUI_KIT) and three ports in COMFYUI_POOL_PORTS (got ${PORTS.join(',')}); COMFYUI_SKIP_KILL_TESTS=1 opts out`,
      );
    });
  });
}

describe.runIf(runPool)(`a pool of real ComfyUI servers (${KIT}, ports ${PORTS.join(',')})`, () => {
  let urls: string[] = [];
  const backends: ComfyUiBackend[] = [];
  const open = async (servers: string[], extra: Record<string, unknown> = {}) => {
    const backend = await createComfyUiBackend({
      servers,
      workflow: { workflow: job, source: 'pool-job.json' },
      ...OPTIONS,
      ...extra,
    });
    backends.push(backend);
    const messages: string[] = [];
    backend.onStatus((s) => {
      if (s.message) messages.push(s.message);
    });
    return { backend, messages };
  };

  beforeAll(async () => {
    urls = await Promise.all(PORTS.map((p) => startKitServer(p)));
  });
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.close()));
    await Promise.all(PORTS.map((p) => stopKitServer(p).catch(() => undefined)));
  });

  it('one of three killed mid-run: every shot done exactly once, the moves reported; restarted, it is used again', async () => {
    const { backend, messages } = await open(urls);
    const labels = Array.from({ length: 9 }, (_, i) => `k${i}`);
    const runs = labels.map((l) => backend.generate(request(l)));
    await until(() => backend.servers()[1]!.inFlight > 0, 10_000);
    const killing = stopKitServer(PORTS[1]!);
    const images = await Promise.all(runs);
    await killing;
    expect(images).toHaveLength(9);
    expect(new Set(images.map((i) => i.metadata['promptId'])).size).toBe(9);
    for (const image of images) expect(image.metadata['server']).not.toBe(urls[1]);
    const report = messages.filter((m) => m.startsWith(`${name(PORTS[1]!)} unreachable`));
    expect(report).toHaveLength(1);
    expect(report[0]).toMatch(/its \d+ shots? moved to 127\.0\.0\.1:\d+/);

    await startKitServer(PORTS[1]!);
    const back = Date.now();
    await until(() => backend.servers()[1]!.state === 'up', HEALTH_MS + OPTIONS.probeTimeoutMs + 1000);
    expect(Date.now() - back).toBeLessThanOrEqual(HEALTH_MS + OPTIONS.probeTimeoutMs + 1000);
    const later = await Promise.all(
      ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'].map((l) => backend.generate(request(l))),
    );
    expect(later.map((i) => i.metadata['server'])).toContain(urls[1]);
  }, 180_000);

  it('every server down: the bounded wait, then a clear error; started again, the failed shot finishes', async () => {
    const { backend, messages } = await open(urls.slice(0, 2));
    await Promise.all(PORTS.slice(0, 2).map((p) => stopKitServer(p)));
    await until(() => backend.servers().every((s) => s.state === 'down'), 10_000);
    const t = Date.now();
    const error = await backend.generate(request('outage')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnreachableError);
    expect((error as Error).message).toMatch(/no ComfyUI server of the pool answered for 4 s/);
    expect(Date.now() - t).toBeGreaterThanOrEqual(OPTIONS.outageTimeoutMs - 1500);
    expect(messages.some((m) => m.startsWith('every ComfyUI server is down'))).toBe(true);
    await startKitServer(PORTS[0]!);
    await until(() => backend.servers()[0]!.state === 'up', 10_000);
    const resumed = await backend.generate(request('outage'));
    expect(resumed.metadata['server']).toBe(urls[0]);
    await startKitServer(PORTS[1]!);
  }, 180_000);

  it('a server behind a proxy answering 500s, and one that hangs, are routed around', async () => {
    const failing = await proxy(urls[0]!, 'http-500');
    const hanging = await proxy(urls[1]!, 'hang');
    try {
      // The hanging one does not even answer at start: it starts as down and stays so.
      const { backend } = await open([failing.url, hanging.url, urls[2]!]);
      expect(backend.servers()[1]!.state).toBe('down');
      const images = await Promise.all(['p0', 'p1', 'p2', 'p3'].map((l) => backend.generate(request(l))));
      expect(images.every((i) => i.metadata['server'] === urls[2])).toBe(true);
    } finally {
      await Promise.all([failing.close(), hanging.close()]);
    }
  }, 120_000);

  it('a server lacking a node type the workflow needs is excluded at start, named', async () => {
    const lacking = await proxy(urls[0]!, { dropNode: 'ImageBlur' });
    try {
      const { backend, messages } = await open([lacking.url, urls[2]!]);
      expect(backend.servers().map((s) => s.state)).toEqual(['excluded', 'up']);
      expect(messages.join('\n')).toMatch(
        new RegExp(`127\\.0\\.0\\.1:${new URL(lacking.url).port} excluded: .*ImageBlur`),
      );
      expect((await backend.generate(request('x'))).metadata['server']).toBe(urls[2]);
    } finally {
      await lacking.close();
    }
  }, 60_000);
});
