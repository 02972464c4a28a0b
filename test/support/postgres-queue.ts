import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, killGroup, startServerProcess, waitOrKill, type ServerProcess } from './local-server.js';

/**
 * A throw-away PostgreSQL cluster (Debian package `postgresql`, any version ≥ 13) for the queue suites: `initdb`
 * into a temp folder, `postgres` on 127.0.0.1 and a free port, password authentication over TCP (so URLs carry a
 * password the code under test must never print). PostgreSQL refuses to run as root, so as root the cluster runs
 * as the unprivileged `postgres` system user (or `STORYCORE_PG_USER`), which owns the temp folder.
 *
 * `fsync=off` only: a `kill -9` of the server loses nothing the kernel already has, and commits still wait for
 * their WAL write (`synchronous_commit` stays on), so the crash tests are honest while the suite stays fast.
 */
export interface LocalPostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  password: string;
  /** The temp folder holding the cluster (`data/`) and its socket. */
  dir: string;
  stop(): Promise<void>;
  /** SIGKILLs the postmaster and every backend at once (a machine crash, as far as the database can tell). */
  kill9(): Promise<void>;
  /** Starts it again on the same port and data folder; runs crash recovery after `kill9`. */
  restart(): Promise<void>;
}

const run = promisify(execFile);
const READY = /database system is ready to accept connections/;

async function binDir(): Promise<string> {
  try {
    const { stdout } = await run('pg_config', ['--bindir']);
    const dir = stdout.trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // pg_config is in postgresql-server-dev / libpq-dev; fall back to the Debian layout.
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? (await readdir(root)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const dir = join(root, version, 'bin');
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  throw new Error('PostgreSQL server binaries not found (initdb): install the Debian package `postgresql`');
}

/** The uid/gid to run as: ourselves, or an unprivileged user when we are root. */
async function runAs(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const user = process.env['STORYCORE_PG_USER'] ?? 'postgres';
  try {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
      run('id', ['-u', user]),
      run('id', ['-g', user]),
    ]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    throw new Error(
      `PostgreSQL refuses to run as root and there is no user "${user}" to run it as: install the Debian ` +
        'package `postgresql` (it creates one) or set STORYCORE_PG_USER',
    );
  }
}

export async function startPostgres(): Promise<LocalPostgres> {
  const [bin, user] = await Promise.all([binDir(), runAs()]);
  const dir = await mkdtemp(join(tmpdir(), 'storycore-pg-'));
  const data = join(dir, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) {
    await chown(dir, user.uid, user.gid);
    await chown(pwfile, user.uid, user.gid);
  }
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  // The environment of the calling user (HOME=/root, locale) is not the cluster's business.
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };
  try {
    await run(
      join(bin, 'initdb'),
      [
        '-D',
        data,
        '-U',
        'postgres',
        '--pwfile',
        pwfile,
        '--auth-local',
        'trust',
        '--auth-host',
        'scram-sha-256',
        '-E',
        'UTF8',
        '--no-locale',
        '--no-sync',
      ],
      { ...asUser, env, cwd: dir },
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const e = error as { stderr?: string; message: string };
    throw new Error(`initdb failed: ${e.stderr ?? e.message}`);
  }
  const port = await freePort();
  const args = [
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    'fsync=off',
    '-c',
    'max_connections=200',
  ];
  let server: ServerProcess | undefined;
  const start = async (): Promise<void> => {
    server = await startServerProcess('postgres', join(bin, 'postgres'), args, READY, {
      ...asUser,
      env,
      cwd: dir,
    });
  };
  await start();
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    password,
    dir,
    async stop() {
      if (server) {
        // SIGINT is postgres' "fast" shutdown: roll back open transactions, disconnect clients, exit.
        server.child.kill('SIGINT');
        await waitOrKill(server, 10_000);
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
