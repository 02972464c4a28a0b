import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdaptorServer } from '@hono/node-server';
import { SequenceGenerationService } from '../pipeline/sequence-generation-service.js';
import { createStudioApp } from './app.js';
import type { SharedEngine } from './queue-engine.js';
import { RunManager } from './run-manager.js';
import { isLoopbackHost } from './security.js';

export interface StudioServerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 4173 */
  port?: number;
  /** Folder of the run store, artifacts and projects. @default '.storycore' */
  workspace?: string;
  /** Where exports are written. @default `<workspace>/exports` */
  outDir?: string;
  /** Required off loopback; @default `STORYCORE_TOKEN`, else generated when the host is not loopback */
  token?: string;
  /** The built web UI. @default the package's `dist/web` */
  webRoot?: string;
  /** Coherence-sheet panel side for every run (small for tests and benchmarks). @default 512 */
  panelSize?: number;
  /** Largest request body, bytes. @default 4 MiB */
  maxBodyBytes?: number;
  onWarning?: (message: string) => void;
  /**
   * Front a shared engine instead of running runs here (`serve --queue`): runs are read from its store and
   * artifacts, executed by its workers, and this server coordinates the runs it starts and follows every other.
   * The server closes it. @default the embedded engine (the workspace, runs in this process)
   */
  shared?: SharedEngine;
}

export interface StudioServer {
  /** `http://host:port`, with `?token=` appended when a token is needed (what to open in a browser). */
  url: string;
  origin: string;
  token: string | undefined;
  service: SequenceGenerationService;
  /**
   * Cancels live runs (they stay resumable) — on a queue, leaves them to the workers for the next studio to adopt —
   * closes the event streams and the stores.
   */
  close(): Promise<void>;
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `storycore serve`: the API and the web UI on one port. */
export async function startStudioServer(options: StudioServerOptions = {}): Promise<StudioServer> {
  const host = options.host ?? '127.0.0.1';
  const loopback = isLoopbackHost(host);
  const token =
    options.token ??
    process.env['STORYCORE_TOKEN'] ??
    (loopback ? undefined : randomBytes(24).toString('base64url'));
  const workspace = resolve(options.workspace ?? '.storycore');
  const service = new SequenceGenerationService({
    workspace,
    outDir: options.outDir ?? resolve(workspace, 'exports'),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
  await service.assertUsablePaths();
  service.getStore();
  // Loaded only for a queue: an embedded studio never loads bullmq or the coordinator.
  const engine = options.shared
    ? (await import('./queue-engine.js')).queueEngine(options.shared, service.outDir)
    : undefined;
  const runs = new RunManager(service, {
    ...(options.panelSize === undefined ? {} : { panelSize: options.panelSize }),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    ...(engine ? { engine } : {}),
  });
  // Runs whose coordinator is gone (this studio before a restart, a coordinator that died) are finished from here.
  if (options.shared) runs.adoptOrphans(options.shared.store.lease.heartbeatMs);
  const pkg = JSON.parse(await readFile(resolve(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const app = createStudioApp({
    service,
    runs,
    webRoot: options.webRoot ?? resolve(packageRoot, 'dist', 'web'),
    loopback,
    ...(token ? { token } : {}),
    version: pkg.version,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 4173, host, () => {
      server.off('error', fail);
      done();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: token ? `${origin}/?token=${encodeURIComponent(token)}` : origin,
    origin,
    token,
    service,
    close: async () => {
      await runs.close();
      // Event streams are long-lived: end them rather than wait for browsers to hang up.
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise<void>((done) => server.close(() => done()));
      service.close();
    },
  };
}
