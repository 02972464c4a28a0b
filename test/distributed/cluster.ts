import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { startCli, type RunningCli } from '../helpers/cli.js';
import type { AsyncRunStore } from '../../src/store/async-run-store.js';
import type { ExecutionRecord, RunRecord, StepRecord } from '../../src/store/run-store.js';

/**
 * What the distributed suites share: a throw-away redis-server, the compiled CLI as workers and coordinators, and
 * read-only looks into the shared journal and artifact folder.
 */

export { startRedis, type LocalRedis as RedisServer } from '../support/redis.js';

export interface Shared {
  queue: string;
  /** @default the queue's database (a PostgreSQL queue) */
  store?: string;
  artifacts: string;
}

export function sharedArgs(shared: Shared): string[] {
  return [
    '--queue',
    shared.queue,
    ...(shared.store === undefined ? [] : ['--store', shared.store]),
    '--artifacts',
    shared.artifacts,
  ];
}

/** `storycore worker`, resolved once it said it is ready. */
export async function startWorker(
  shared: Shared,
  extra: string[] = [],
  /** Killed (-9) after this long, a safety net for a test that forgets it. @default 30 minutes */
  lifetimeMs = 1_800_000,
): Promise<RunningCli> {
  const worker = startCli(
    ['worker', ...sharedArgs(shared), '--lock-duration', '3000', '--stalled-interval', '2000', ...extra],
    {
      timeoutMs: lifetimeMs,
    },
  );
  const deadline = Date.now() + 30_000;
  while (!/ready on/.test(worker.stderr())) {
    if (worker.child.exitCode !== null) throw new Error(`worker exited: ${worker.stderr()}`);
    if (Date.now() > deadline) throw new Error(`worker not ready: ${worker.stderr()}`);
    await sleep(50);
  }
  return worker;
}

/** Stops a worker the way Ctrl-C does and waits for it. */
export async function stopWorker(worker: RunningCli): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGINT');
  await worker.exited;
}

export function openJournal(storeDir: string): Database.Database {
  return new Database(join(storeDir, 'storycore.db'), { readonly: true, fileMustExist: true });
}

export interface JournalCounts {
  runs: Array<{ id: string; project_id: string; status: string }>;
  steps: Array<{ run_id: string; step_id: string; status: string }>;
  executions: Array<{ run_id: string; step_id: string; outcome: string }>;
}

export function journal(storeDir: string): JournalCounts {
  const db = openJournal(storeDir);
  try {
    return {
      runs: db
        .prepare('SELECT id, project_id, status FROM runs ORDER BY created_at')
        .all() as JournalCounts['runs'],
      steps: db.prepare('SELECT run_id, step_id, status FROM run_steps').all() as JournalCounts['steps'],
      executions: db
        .prepare('SELECT run_id, step_id, outcome FROM executions')
        .all() as JournalCounts['executions'],
    };
  } finally {
    db.close();
  }
}

/** Every file in the content-addressed artifact folder. */
export async function artifactFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(e.name);
    }
  };
  await walk(dir);
  return out;
}

/** The same look through the store's own API: works for the PostgreSQL store and the SQLite one alike. */
export async function runJournal(
  store: AsyncRunStore,
  projectId: string,
): Promise<{
  runs: RunRecord[];
  steps: (runId: string) => Promise<StepRecord[]>;
  executions: (runId: string) => Promise<ExecutionRecord[]>;
}> {
  return {
    runs: await store.listRuns({ projectId }),
    steps: (runId) => store.listSteps(runId),
    executions: (runId) => store.listExecutions({ runId, limit: 100_000 }),
  };
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}
