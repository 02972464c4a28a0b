import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, beforeAll } from 'vitest';
import { REPO_ROOT, assertCliBuilt, startCli, tempDir, type RunningCli } from '../helpers/cli.js';
import { startComfyDouble, type ComfyDouble } from '../support/comfyui-double/index.js';
import { startRedis, type LocalRedis as RedisServer } from '../support/redis.js';
import type { AsyncRunStore } from '../../src/store/async-run-store.js';
import type { ExecutionRecord, RunRecord, StepRecord } from '../../src/store/run-store.js';

/**
 * What the distributed suites share: a throw-away redis-server, the compiled CLI as workers and coordinators, and
 * read-only looks into the shared journal and artifact folder.
 */

export { startRedis, type RedisServer };

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

/**
 * A worker's ComfyUI flags for a double: the SDXL template for shots (sampled on the double, so it takes
 * `samplerStepMs` a step), a model-free one for the sheet's panels.
 */
export function comfyBackendArgs(url: string): string[] {
  return [
    '--comfyui',
    url,
    '--workflow',
    join(REPO_ROOT, 'examples/workflows/sdxl-text-to-image.json'),
    '--panel-workflow',
    join(REPO_ROOT, 'examples/workflows/demo-model-free.json'),
  ];
}

/** Whether a prompt a double was sent is a shot's (the shot workflow has the sampler; the panel one has none). */
export function isShotPrompt(submission: { prompt: Record<string, unknown> }): boolean {
  return Object.values(submission.prompt).some(
    (node) => (node as { class_type?: string }).class_type === 'KSampler',
  );
}

/**
 * `storycore generate project` as a run's coordinator on `shared`, with its workspace (`coord`) and exports (`out`)
 * in `dir`, following the run until it ends.
 */
export function startCoordinator(
  project: string,
  shared: Shared,
  backendArgs: string[],
  dir: string,
  timeoutMs: number,
): RunningCli {
  return startCli(
    [
      'generate',
      project,
      ...sharedArgs(shared),
      ...backendArgs,
      '-w',
      join(dir, 'coord'),
      '-o',
      join(dir, 'out'),
    ],
    { timeoutMs },
  );
}

/** Polls `check` until it holds, or fails naming `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms = 120_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
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

/**
 * A cluster on the ComfyUI test double: a throw-away Redis queue, a shared SQLite journal and artifact folder in a
 * temp folder, a double whose sampler takes 100 ms a step (so a shot lasts long enough to be interrupted), and the
 * workers a test starts (stopped afterwards). Registers its own beforeAll/afterAll; read its fields inside tests.
 */
export interface ComfyCluster {
  readonly dir: string;
  readonly redis: RedisServer;
  readonly double: ComfyDouble;
  readonly shared: Shared;
  /** Workers started by the test: stopped after the file. */
  readonly workers: RunningCli[];
  /** The worker's ComfyUI flags: the SDXL template for shots (sampled on the double), a model-free one for panels. */
  backendArgs(): string[];
  /** Shot executions the double was asked for (the shot workflow has the sampler; the panel one has none). */
  shotSubmissions(): Array<{ promptId: string }>;
}

export function useComfyCluster(tag: string): ComfyCluster {
  const ckpt = 'sd_xl_base_1.0.safetensors';
  let tmp: { path: string; remove: () => Promise<void> } | undefined;
  let redis: RedisServer | undefined;
  let double: ComfyDouble | undefined;
  let shared: Shared | undefined;
  const workers: RunningCli[] = [];
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the cluster is used outside a test (it starts in beforeAll)');
    return value;
  };
  beforeAll(async () => {
    assertCliBuilt();
    tmp = await tempDir(tag);
    redis = await startRedis();
    double = await startComfyDouble({ models: { checkpoints: [ckpt] }, samplerStepMs: 100, previews: false });
    shared = { queue: redis.url, store: join(tmp.path, 'store'), artifacts: join(tmp.path, 'artifacts') };
  });
  afterAll(async () => {
    await Promise.all(workers.map(stopWorker));
    await double?.close();
    await redis?.stop();
    await tmp?.remove();
  });
  return {
    get dir() {
      return ready(tmp).path;
    },
    get redis() {
      return ready(redis);
    },
    get double() {
      return ready(double);
    },
    get shared() {
      return ready(shared);
    },
    workers,
    backendArgs: () => comfyBackendArgs(ready(double).url),
    shotSubmissions: () => ready(double).submitted.filter(isShotPrompt),
  };
}
