import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ValidationError } from '../core/errors.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { openArtifactStore } from '../store/open-artifact-store.js';
import { asyncRunStore, type AsyncRunStore } from '../store/async-run-store.js';
import { SqliteRunStore } from '../store/sqlite-run-store.js';
import { redactUrl } from './queue-handle.js';

/**
 * The shared run store a distributed run keeps its journal in: `postgres://…` (many machines), or a workspace
 * folder / `.db` file (one machine: SQLite is shared by the processes of one host, which is what the tests and a
 * single-box studio need).
 */
export async function openSharedRunStore(
  location: string,
  signal?: AbortSignal,
): Promise<{ store: AsyncRunStore; label: string }> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new ValidationError('--store is not a valid URL (postgres://user:password@host:port/database)', [
        { path: '--store', message: 'not a URL' },
      ]);
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new ValidationError(
        `--store ${redactUrl(url)}: expected postgres://… (or a workspace folder / .db file on one machine)`,
        [{ path: '--store', message: `unsupported scheme ${url.protocol}` }],
      );
    }
    // Loaded only here: an embedded run never loads the PostgreSQL driver.
    const { PostgresRunStore } = await import('../store/postgres/index.js');
    const store = await PostgresRunStore.open(location, {
      connectTimeoutMs: 5000,
      ...(signal ? { signal } : {}),
    });
    // A first call proves the server answers (open may have only built the pool); its error names the server.
    await store.listRuns({ limit: 1 });
    return { store, label: redactUrl(url) };
  }
  const path = resolve(location);
  const info = await stat(path).catch(() => undefined);
  const dbPath = info?.isDirectory() || !path.endsWith('.db') ? join(path, 'storycore.db') : path;
  // Written by every worker and coordinator of the host at once: each write commits on its own (see batchWrites).
  return {
    store: asyncRunStore(SqliteRunStore.open({ path: dbPath, batchWrites: false })),
    label: dbPath,
  };
}

/**
 * The shared artifact store: a folder every worker and the coordinator reach (local, or an NFS mount), or a bucket
 * (`s3://bucket/prefix?endpoint=…`, see openArtifactStore).
 */
export async function openSharedArtifacts(location: string | undefined): Promise<ArtifactStore> {
  if (location === undefined || location.trim() === '') {
    throw new ValidationError(
      'a queue run needs --artifacts <dir|s3://bucket/prefix>: where frames are stored, shared by every worker',
      [{ path: '--artifacts', message: 'missing' }],
    );
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    const info = await stat(resolve(location)).catch(() => undefined);
    if (info !== undefined && !info.isDirectory()) {
      throw new ValidationError(`--artifacts ${resolve(location)} is a file, not a folder`, [
        { path: '--artifacts', message: 'not a folder' },
      ]);
    }
  }
  return openArtifactStore(location);
}
