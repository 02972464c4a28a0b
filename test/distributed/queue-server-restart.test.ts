import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patientRunStore } from '../../src/distributed/patient-store.js';
import { openQueueConnection } from '../../src/distributed/queue/index.js';
import { StoreError } from '../../src/core/errors.js';
import { PostgresRunStore } from '../../src/store/postgres/index.js';
import {
  assertCliBuilt,
  parseJsonLines,
  tempDir,
  testProject,
  writeTestProject,
  type RunningCli,
} from '../helpers/cli.js';
import { startComfyDouble, type ComfyDouble } from '../support/comfyui-double/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import {
  artifactFiles,
  comfyBackendArgs,
  isShotPrompt,
  runJournal,
  startCoordinator,
  startRedis,
  startWorker,
  stopWorker,
  until,
  type RedisServer,
  type Shared,
} from './cluster.js';

/**
 * Chaos: the queue's server dies under a running studio. Two workers (child processes, each with its own ComfyUI
 * double whose sampler takes 40 ms a step) and a coordinator run a project; while shots are on the doubles the
 * server is SIGKILLed — PostgreSQL (postmaster and backends: the queue AND the journal, the default topology), or
 * redis-server (AOF, the journal on PostgreSQL) — and restarted a few seconds later on the same data and port.
 * The run must complete as if nothing happened: exit 0, status succeeded, one journal row per step, every artifact
 * stored once, no BullMQ job of the run left behind, and at most the in-flight shots executed twice on the doubles.
 */

const CKPT = 'sd_xl_base_1.0.safetensors';
const SHOTS = 6;
/** Steps of a run: 9 panels + compose, generate/promote/qa per shot, export + animatic. */
const STEPS = 9 + 1 + SHOTS * 3 + 2;

let tmp: { path: string; remove: () => Promise<void> };
let postgres!: TestPostgres;
let redis!: RedisServer;
const doubles: ComfyDouble[] = [];
const workers: RunningCli[] = [];

beforeAll(async () => {
  assertCliBuilt();
  tmp = await tempDir('queue-restart');
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  for (let i = 0; i < 2; i++) {
    doubles.push(
      await startComfyDouble({ models: { checkpoints: [CKPT] }, samplerStepMs: 40, previews: false }),
    );
  }
});
afterAll(async () => {
  await Promise.all(workers.splice(0).map(stopWorker));
  await Promise.all(doubles.map((d) => d.close()));
  await Promise.all([postgres?.stop(), redis?.stop()]);
  await tmp?.remove();
});

/** Shot executions the doubles were asked for. */
const shotSubmissions = (): number => doubles.flatMap((d) => d.submitted).filter(isShotPrompt).length;

/**
 * Runs `projectId` on two workers with `shared`, kills the server `crash` names once a shot is on a double, and
 * checks everything the run left behind.
 */
async function runThroughCrash(
  projectId: string,
  /** Its own seed: the doubles keep their history, and the same request would be adopted from it, not run. */
  globalSeed: number,
  shared: Shared,
  crash: { kill9: () => Promise<void>; restart: () => Promise<void> },
): Promise<void> {
  const args = (double: ComfyDouble): string[] => [...comfyBackendArgs(double.url), '--concurrency', '1'];
  workers.push(await startWorker(shared, args(doubles[0]!)), await startWorker(shared, args(doubles[1]!)));
  const project = await writeTestProject(join(tmp.path, projectId), {
    ...testProject({ id: projectId, shots: SHOTS, width: 160, height: 96, globalSeed }),
    qa: { regenerateBudget: 0 },
  });
  const before = shotSubmissions();
  const coordinator = startCoordinator(
    project,
    shared,
    comfyBackendArgs(doubles[0]!.url),
    join(tmp.path, `${projectId}-run`),
    150_000,
  );
  await until('a shot on a double', () => shotSubmissions() > before);
  await sleep(300);
  const killedAt = Date.now();
  await crash.kill9();
  await sleep(3000);
  await crash.restart();
  const exit = await coordinator.exited;
  const workerLogs = workers.map((w, i) => `--- worker ${i}:\n${w.stderr()}`).join('\n');
  expect(exit.code, `${coordinator.stderr()}\n${workerLogs}`).toBe(0);
  const result = parseJsonLines(coordinator.stdout()).at(-1)!;
  expect(result).toMatchObject({ type: 'result', success: true });
  const runId = result['runId'] as string;
  const tookMs = Date.now() - killedAt;
  // Every process stayed up through the outage.
  for (const worker of workers) expect(worker.child.exitCode, worker.stderr()).toBeNull();

  const store = await PostgresRunStore.open(postgres.url);
  try {
    const { runs, steps, executions } = await runJournal(store, projectId);
    expect(runs.map((r) => [r.id, r.status])).toEqual([[runId, 'succeeded']]);
    const journaled = await steps(runId);
    expect(journaled).toHaveLength(STEPS);
    expect(new Set(journaled.map((s) => s.stepId)).size).toBe(STEPS);
    expect(journaled.every((s) => s.status === 'done')).toBe(true);
    // Every step finished; a step re-run by a job that stalled through the outage may have a second finished
    // execution (journaled once), at most one per job in flight.
    const done = (await executions(runId)).filter((e) => e.outcome === 'done');
    expect(new Set(done.map((e) => e.stepId)).size).toBe(STEPS);
    expect(done.length).toBeLessThanOrEqual(STEPS + 2 * 3);
    const events = await store.listEvents(runId, { limit: 100_000 });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  } finally {
    await store.close();
  }
  const files = await artifactFiles(shared.artifacts);
  expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
  expect(new Set(files).size).toBe(files.length);

  // Nothing of the run is left in the queue: completed jobs are removed, and none is stuck active or waiting.
  const connection = await openQueueConnection(shared.queue);
  try {
    const queue = connection.queue('storycore');
    const counts = await queue.getJobCounts(
      'active',
      'waiting',
      'delayed',
      'prioritized',
      'waiting-children',
      'failed',
    );
    expect(counts).toEqual({
      active: 0,
      waiting: 0,
      delayed: 0,
      prioritized: 0,
      'waiting-children': 0,
      failed: 0,
    });
  } finally {
    await connection.close();
  }
  // Each shot ran at least once; at most the two in flight at the crash ran again.
  const executed = shotSubmissions() - before;
  expect(executed).toBeGreaterThanOrEqual(SHOTS);
  expect(executed).toBeLessThanOrEqual(SHOTS + 2);
  if (process.env['CHAOS_LOGS']) console.log(workerLogs);
  console.log(
    `${projectId}: kill -9 → run done ${tookMs} ms later; ${executed} shot execution(s) on the doubles for ${SHOTS} shots`,
  );
  await Promise.all(workers.splice(0).map(stopWorker));
}

describe('the run store as workers and coordinators use it (patientRunStore)', () => {
  it('waits out a PostgreSQL restart instead of failing the call; gives up after its window', async () => {
    const raw = await PostgresRunStore.open(postgres.url);
    const store = patientRunStore(raw, { windowMs: 20_000 });
    const brief = patientRunStore(raw, { windowMs: 500 });
    await raw.listRuns({ limit: 1 }); // a pooled connection, which the crash breaks
    await postgres.kill9();
    try {
      // Without the wrapper the call fails at once, retryably, naming the server.
      const bare = await raw.listRuns({ limit: 1 }).catch((e: unknown) => e);
      expect(bare).toBeInstanceOf(StoreError);
      expect((bare as StoreError).retryable).toBe(true);
      await expect(brief.listRuns({ limit: 1 })).rejects.toBeInstanceOf(StoreError);
      const waiting = store.listRuns({ limit: 1 });
      await sleep(1500);
      await postgres.restart();
      await expect(waiting).resolves.toEqual(expect.any(Array));
    } finally {
      // Whatever failed above, the server is up again for the tests after this one.
      await postgres.restart().catch(() => undefined);
      await raw.close();
    }
  }, 60_000);
});

describe('a PostgreSQL server that freezes (SIGSTOP: the socket stays open, nothing answers)', () => {
  it('fails a call within the query timeout, retryably, instead of hanging it; the store works once it thaws', async () => {
    const store = await PostgresRunStore.open(postgres.url, { queryTimeoutMs: 1500, poolSize: 1 });
    // The postmaster's pid is the first line of postmaster.pid. Its backends are its children but each in a
    // process group of its own (postgres calls setsid), so the whole server is frozen process by process.
    const postmaster = Number(
      (await readFile(join(postgres.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
    );
    const server = (): number[] => [
      postmaster,
      ...spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter(Boolean)
        .map(Number),
    ];
    const signal = (name: NodeJS.Signals): void => {
      for (const pid of server()) process.kill(pid, name);
    };
    try {
      await store.listRuns({ limit: 1 }); // an open, idle connection to the server
      signal('SIGSTOP');
      const t = Date.now();
      const error = await store.listRuns({ limit: 1 }).catch((e: unknown) => e);
      const waited = Date.now() - t;
      signal('SIGCONT');
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).retryable).toBe(true);
      expect(waited).toBeLessThan(1500 + 2000);
      await expect(store.listRuns({ limit: 1 })).resolves.toEqual(expect.any(Array));
    } finally {
      signal('SIGCONT');
      await store.close();
    }
  }, 60_000);
});

describe('kill -9 of the queue server mid-run', () => {
  it('PostgreSQL (queue and journal): restarted on the same data, the run completes, nothing lost or left active', async () => {
    await runThroughCrash(
      'pg-crash',
      101,
      { queue: postgres.url, artifacts: join(tmp.path, 'artifacts') },
      { kill9: () => postgres.kill9(), restart: () => postgres.restart() },
    );
  }, 180_000);

  it('Redis (journal on PostgreSQL): restarted from its AOF, the run completes, nothing lost or left active', async () => {
    await runThroughCrash(
      'redis-crash',
      202,
      { queue: redis.url, store: postgres.url, artifacts: join(tmp.path, 'artifacts') },
      { kill9: () => redis.kill9(), restart: () => redis.restart() },
    );
  }, 180_000);
});
