import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

/**
 * A throw-away PostgreSQL server for one test file: `initdb` + `postgres` (Debian's postgresql package, or any
 * found on PATH) in a temp folder, listening on 127.0.0.1 on a free port with its socket in that folder, run as an
 * unprivileged user when we are root (postgres refuses root; CI runs as root too).
 *
 * Settings: the defaults that make a commit durable are kept and spelled out (`fsync`, `synchronous_commit`,
 * `full_page_writes` on), because the chaos tests kill -9 the server and expect every committed row back after
 * `restart()`. Only `initdb` runs with `--no-sync` (the empty cluster's files need not reach the disk before the
 * server starts: the tests crash processes, not the machine). Logging goes to `postgres.log` in the folder.
 */
export interface TestPostgres {
  /** `postgres://storycore:<password>@127.0.0.1:<port>/postgres` — password authentication (scram-sha-256). */
  url: string;
  /** The password in `url`, so tests can check that no message leaks it. */
  password: string;
  port: number;
  dataDir: string;
  /** Fast shutdown, then the folder is removed. */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster and every backend (each its own process group), as a crash would. */
  kill9(): Promise<void>;
  /** Starts the server again on the same port and data (crash recovery after kill9), once it accepts queries. */
  restart(): Promise<void>;
  /** The server log so far (for failure messages). */
  log(): Promise<string>;
}

export interface StartPostgresOptions {
  signal?: AbortSignal;
  /** How long to wait for the server to accept queries. @default 30000 */
  readyTimeoutMs?: number;
}

const USER = 'storycore';

export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const bin = findBinaries();
  const owner = unprivilegedOwner();
  const root = await mkdtemp(join(tmpdir(), 'storycore-pg-'));
  const dataDir = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const password = randomBytes(12).toString('hex');
  let server: ChildProcess | undefined;
  let port = 0;
  const removeOnExit = (): void => {
    if (server?.pid !== undefined && server.exitCode === null) killGroup(server.pid);
  };
  process.once('exit', removeOnExit);

  try {
    if (owner) await chown(root, owner.uid, owner.gid);
    const pwfile = join(root, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (owner) await chown(pwfile, owner.uid, owner.gid);
    const init = spawnSync(
      bin.initdb,
      [
        '-D',
        dataDir,
        '-U',
        USER,
        '--auth=scram-sha-256',
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { cwd: root, encoding: 'utf8', ...(owner ?? {}), timeout: 120_000 },
    );
    await rm(pwfile, { force: true });
    if (init.status !== 0) {
      throw new Error(
        `initdb failed (${bin.initdb}):\n${init.stdout}${init.stderr}${init.error?.message ?? ''}`,
      );
    }

    const launch = async (): Promise<void> => {
      const log = await open(logFile, 'a');
      if (owner) await chown(logFile, owner.uid, owner.gid);
      const args = [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-k',
        root,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=on',
        '-c',
        'synchronous_commit=on',
        '-c',
        'full_page_writes=on',
        '-c',
        'max_connections=60',
        '-c',
        'shared_buffers=32MB',
      ];
      // detached: its own process group (the backends make their own: kill9 finds them as its children).
      server = spawn(bin.postgres, args, {
        cwd: root,
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        ...(owner ?? {}),
      });
      await log.close();
      await waitReady(
        server,
        `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
        {
          timeoutMs: options.readyTimeoutMs ?? 30_000,
          log: () => readFile(logFile, 'utf8').catch(() => ''),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        },
      );
    };

    // A free port can be taken between choosing it and the server binding it: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await launch();
        break;
      } catch (error) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        if (attempt < 3 && /could not bind|address already in use/i.test(log)) continue;
        throw error;
      }
    }

    const exited = (child: ChildProcess): Promise<void> =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => child.once('exit', () => resolve()));

    return {
      url: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      password,
      port,
      dataDir,
      log: () => readFile(logFile, 'utf8').catch(() => ''),
      async stop() {
        if (server && server.exitCode === null && server.signalCode === null) {
          server.kill('SIGINT'); // fast shutdown: active sessions are ended, the server checkpoints and exits
          const timer = setTimeout(() => server?.pid !== undefined && killGroup(server.pid), 10_000);
          await exited(server);
          clearTimeout(timer);
        }
        process.removeListener('exit', removeOnExit);
        await rm(root, { recursive: true, force: true });
      },
      async kill9() {
        if (!server || server.pid === undefined) return;
        const done = exited(server);
        // Backends call setsid(): each leads a process group of its own, so the postmaster's group is not all of
        // the server. Left alive they would answer queries on open connections for a moment after the postmaster
        // died (a test could see a "dead" server answer) and hold its shared memory against the restart.
        const backends = childrenOf(server.pid);
        killGroup(server.pid);
        for (const pid of backends) killGroup(pid);
        await done;
        await waitGone(backends);
      },
      async restart() {
        if (server && server.exitCode === null && server.signalCode === null) {
          throw new Error('restart() needs the server stopped first (kill9)');
        }
        await launch();
      },
    };
  } catch (error) {
    removeOnExit();
    process.removeListener('exit', removeOnExit);
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

/** initdb and postgres from PATH, else from the newest `/usr/lib/postgresql/<version>/bin` (Debian's layout). */
function findBinaries(): { initdb: string; postgres: string } {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  const versions = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  for (const dir of [...dirs, ...versions]) {
    const initdb = join(dir, 'initdb');
    const postgres = join(dir, 'postgres');
    if (existsSync(initdb) && existsSync(postgres)) return { initdb, postgres };
  }
  throw new Error(
    'PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin: ' +
      'install postgresql (Debian: apt-get install -y postgresql) to run the distributed tests',
  );
}

/** When we are root: the `postgres` system user (created by the postgresql package), since postgres refuses root. */
function unprivilegedOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => {
    const out = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (out.status !== 0) {
      throw new Error(
        'postgres refuses to run as root and there is no `postgres` user to run it as: install postgresql ' +
          '(which creates that user) or create an unprivileged `postgres` user',
      );
    }
    return Number(out.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** The pids of a process's children (`pgrep -P`, from procps). */
function childrenOf(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return out.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number);
}

/** Resolves once none of `pids` exists any more (SIGKILL is asynchronous), or after 5 s. */
async function waitGone(pids: readonly number[]): Promise<void> {
  // A killed process whose parent is gone may stay a zombie (no reaper in a container): dead all the same.
  const alive = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitReady(
  server: ChildProcess,
  url: string,
  options: { timeoutMs: number; log: () => Promise<string>; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(
        `postgres exited (${server.exitCode ?? server.signalCode}) before accepting connections:\n${await options.log()}`,
      );
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      last = error;
      await client.end().catch(() => {});
    }
    if (Date.now() > deadline) {
      throw new Error(
        `postgres did not accept queries within ${options.timeoutMs} ms (${String(last)}):\n${await options.log()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
