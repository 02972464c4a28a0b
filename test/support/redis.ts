import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killGroup, startServerProcess, waitOrKill, type ServerProcess } from './local-server.js';

/**
 * A throw-away `redis-server` (Debian package `redis-server`) on 127.0.0.1 and a free port, configured as BullMQ
 * needs it in production: `maxmemory-policy noeviction` (an evicted lock or job key silently loses work) and an
 * append-only file fsynced every second (a restart keeps the queue). Its data folder is a temp folder that
 * `stop()` removes; `kill9()` + `restart()` reopen the same folder on the same port.
 */
export interface LocalRedis {
  /** `redis://[:password@]127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Its data folder (the AOF lives here). */
  dir: string;
  /** Shuts the server down and removes its folder. */
  stop(): Promise<void>;
  /** SIGKILLs the server: no shutdown, no final fsync. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and folder (after `kill9`). */
  restart(): Promise<void>;
}

export interface StartRedisOptions {
  /** Requires this password (`requirepass`), so URLs carry one. */
  password?: string;
  /** @default 'noeviction' — anything else is how a test builds a server the queue must refuse. */
  maxmemoryPolicy?: string;
}

const READY = /Ready to accept connections/;

export async function startRedis(options: StartRedisOptions = {}): Promise<LocalRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'storycore-redis-'));
  const port = await freePort();
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    '--maxmemory-policy',
    options.maxmemoryPolicy ?? 'noeviction',
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    // No RDB snapshots: the AOF is the persistence under test, and a fork per save costs a core here.
    '--save',
    '',
    '--daemonize',
    'no',
    '--loglevel',
    'notice',
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
  ];
  let server: ServerProcess | undefined;
  const start = async (): Promise<void> => {
    server = await startServerProcess('redis-server', 'redis-server', args, READY);
  };
  await start();
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    url: `redis://${auth}127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      if (server) {
        server.child.kill('SIGTERM');
        await waitOrKill(server, 5_000);
      }
      await rm(dir, { recursive: true, force: true });
    },
    async kill9() {
      if (!server) return;
      killGroup(server.child);
      await server.exited;
    },
    restart: start,
  };
}
