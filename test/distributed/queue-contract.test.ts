import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackendUnreachableError,
  ErrorCode,
  StoryCoreError,
  ValidationError,
} from '../../src/core/errors.js';
import {
  childValuesById,
  openQueueConnection,
  stepJobId,
  type QueueConnection,
} from '../../src/distributed/queue/index.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { startPostgres } from '../support/postgres.js';
import { startRedis } from '../support/redis.js';

/**
 * The queue seam's contract: what the distributed runner relies on, proven the same way on BullMQ's PostgreSQL
 * backend and on Redis, against real servers on loopback (and real worker processes for the crash).
 */

interface Server {
  url: string;
  password?: string;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const backends: Array<[string, () => Promise<Server>]> = [
  ['postgres', () => startPostgres()],
  ['redis', () => startRedis({ password: 'queue-secret' })],
];

const CHILD = join(REPO_ROOT, 'test', 'support', 'queue-worker-child.ts');
const hash = (n: number): string => n.toString(16).padStart(64, '0');

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await probe();
    } catch {
      // The server may be restarting: keep asking until the deadline.
    }
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(100);
  }
}

/** Starts the worker child and resolves once it printed READY; `lines` collects what it says. */
async function startWorkerChild(
  args: string[],
): Promise<{ child: ChildProcess; lines: string[]; exited: Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts);
      if (parts.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker child exited (${code}) before READY:\n${stderr}`)));
  });
  return { child, lines, exited };
}

describe.each(backends)('the queue on %s', (kind, start) => {
  let server: Server;
  let connection: QueueConnection;
  let dir: string;

  beforeAll(async () => {
    server = await start();
    dir = await mkdtemp(join(tmpdir(), `storycore-queue-${kind}-`));
    connection = await openQueueConnection(server.url);
  });
  afterAll(async () => {
    await connection?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is chosen by the URL and describes its server without the password', () => {
    expect(connection.kind).toBe(kind);
    expect(connection.describe()).toContain('127.0.0.1:');
    expect(connection.describe()).toContain('storycore_queue');
    const password = kind === 'postgres' ? new URL(server.url).password : 'queue-secret';
    expect(connection.describe()).not.toContain(password);
  });

  it('a wrong password is a non-retryable StoreError naming the server, without either password', async () => {
    const url = new URL(server.url);
    const real = url.password;
    url.password = 'not-the-password';
    const error = await openQueueConnection(url.toString()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoryCoreError);
    const e = error as StoryCoreError;
    expect(e.code).toBe(ErrorCode.STORE);
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(`127.0.0.1:${url.port}`);
    expect(e.message).not.toContain('not-the-password');
    expect(e.message).not.toContain(decodeURIComponent(real));
    // Nor anywhere a log line could print it: the whole error with its cause chain.
    expect(inspect(e, { depth: 10 })).not.toContain('not-the-password');
  });

  it('a job added twice under one step job id exists once and runs once', async () => {
    const queue = connection.queue<{ shot: string }, string>('dedupe');
    const runs: string[] = [];
    const id = stepJobId('lighthouse', hash(1));
    const first = await queue.add('generate', { shot: 'shot-1' }, { jobId: id });
    const second = await queue.add('generate', { shot: 'shot-1' }, { jobId: id });
    expect(second.id).toBe(first.id);
    const worker = connection.worker<{ shot: string }, string>('dedupe', async (job) => {
      runs.push(job.id!);
      return `frame of ${job.data.shot}`;
    });
    await waitFor(
      'the job to complete',
      async () => ((await queue.getJobCounts()).completed === 1 ? true : undefined),
      20_000,
    );
    // Added again after it completed: still the same job, not a new run.
    await queue.add('generate', { shot: 'shot-1' }, { jobId: id });
    await delay(500);
    expect(runs).toEqual([id]);
    expect(await queue.getJobCounts()).toMatchObject({ completed: 1, waiting: 0, active: 0 });
    expect((await queue.getJob(id))?.returnvalue).toBe('frame of shot-1');
    await worker.close();
  });

  it('QueueEvents tells another process a job completed, with its result (what an orchestrator follows)', async () => {
    const events = connection.events<string>('events');
    await events.waitUntilReady();
    const heard: Array<{ jobId: string; returnvalue: unknown }> = [];
    events.on('completed', ({ jobId, returnvalue }) => heard.push({ jobId, returnvalue }));
    const worker = connection.worker<{ shot: string }, string>(
      'events',
      async (job) => `frame of ${job.data.shot}`,
    );
    const queue = connection.queue<{ shot: string }, string>('events');
    const job = await queue.add('generate', { shot: 'shot-9' }, { jobId: stepJobId('eventsproj', hash(9)) });
    expect(await job.waitUntilFinished(events, 20_000)).toBe('frame of shot-9');
    await waitFor('the completed event', async () => (heard.length > 0 ? true : undefined), 10_000);
    expect(heard).toEqual([{ jobId: job.id, returnvalue: 'frame of shot-9' }]);
    await worker.close();
    await events.close();
  });

  it('a flow parent runs only after all its children and reads their results by job id', async () => {
    const order: string[] = [];
    const worker = connection.worker<{ n: number }, unknown>(
      'flow',
      async (job) => {
        if (job.name === 'export') {
          order.push('export');
          return { children: await childValuesById<number>(job) };
        }
        // Children of uneven length, so a parent started early would be seen before the slowest child ends.
        await delay(job.data.n * 100);
        order.push(job.id!);
        return job.data.n * 10;
      },
      { concurrency: 4 },
    );
    const shots = [3, 1, 2].map((n) => ({
      name: 'shot',
      queueName: 'flow',
      data: { n },
      opts: { jobId: stepJobId('flowproj', hash(100 + n)) },
    }));
    const parentId = stepJobId('flowproj', hash(999));
    await connection
      .flow()
      .add({ name: 'export', queueName: 'flow', data: { n: 0 }, opts: { jobId: parentId }, children: shots });
    const queue = connection.queue('flow');
    const parent = await waitFor(
      'the parent to complete',
      async () => {
        const state = await (await queue.getJob(parentId))?.getState();
        // Read again once completed: a job read just before it completed holds no return value.
        return state === 'completed' ? queue.getJob(parentId) : undefined;
      },
      20_000,
    );
    expect(order).toHaveLength(4);
    expect(order.at(-1)).toBe('export');
    expect(parent!.returnvalue).toEqual({
      children: {
        [stepJobId('flowproj', hash(101))]: 10,
        [stepJobId('flowproj', hash(102))]: 20,
        [stepJobId('flowproj', hash(103))]: 30,
      },
    });
    await worker.close();
  });

  it('a non-retryable failure is not retried; a retryable one is retried with backoff until it succeeds', async () => {
    const queue = connection.queue<{ mode: string }, string>('failures');
    const attempts: Record<string, number[]> = { permanent: [], temporary: [] };
    const worker = connection.worker<{ mode: string }, string>('failures', async (job) => {
      attempts[job.data.mode]!.push(Date.now());
      if (job.data.mode === 'permanent') throw new ValidationError('shots[2].prompt must not be empty');
      if (attempts['temporary']!.length < 3)
        throw new BackendUnreachableError('ComfyUI at 127.0.0.1:1 is down');
      return 'done';
    });
    const options = { attempts: 5, backoff: { type: 'exponential', delay: 300 } };
    await queue.add('step', { mode: 'permanent' }, { ...options, jobId: 'permanent' });
    await queue.add('step', { mode: 'temporary' }, { ...options, jobId: 'temporary' });
    await waitFor(
      'both jobs to settle',
      async () => {
        const counts = await queue.getJobCounts();
        return counts.completed === 1 && counts.failed === 1 ? true : undefined;
      },
      20_000,
    );
    const permanent = (await queue.getJob('permanent'))!;
    expect(await permanent.getState()).toBe('failed');
    expect(permanent.attemptsMade).toBe(1);
    expect(permanent.failedReason).toContain('shots[2].prompt must not be empty');
    expect(attempts['permanent']).toHaveLength(1);
    const temporary = (await queue.getJob('temporary'))!;
    expect(await temporary.getState()).toBe('completed');
    expect(attempts['temporary']).toHaveLength(3);
    // Exponential backoff: 300 ms, then 600 ms, between attempts.
    const [a, b, c] = attempts['temporary']!;
    expect(b! - a!).toBeGreaterThanOrEqual(280);
    expect(c! - b!).toBeGreaterThanOrEqual(580);
    await worker.close();
  });

  it('a worker killed (-9) mid-job: another takes the job over within lockDuration + stalledInterval and completes it', async () => {
    const lockDuration = 2_000;
    const stalledInterval = 1_000;
    const log = join(dir, 'crash-executions.log');
    const id = stepJobId('crashproj', hash(7));
    const doomed = await startWorkerChild([
      server.url,
      'crash',
      log,
      String(lockDuration),
      String(stalledInterval),
    ]);
    const queue = connection.queue<{ ms: number }, { pid: number }>('crash');
    await queue.add('generate', { ms: 1_500 }, { jobId: id });
    await waitFor(
      'the child to start the job',
      async () => (doomed.lines.includes(`ACTIVE ${id}`) ? true : undefined),
      20_000,
    );
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const killedAt = Date.now();
    const survivor = connection.worker<{ ms: number }, { pid: number }>(
      'crash',
      async (job) => {
        const { appendFile } = await import('node:fs/promises');
        await appendFile(log, `${job.id} ${process.pid} ${Date.now()}\n`);
        await delay(job.data.ms);
        return { pid: process.pid };
      },
      { lockDuration, stalledInterval },
    );
    const job = await waitFor(
      'the job to be completed by the survivor',
      async () => {
        const state = await (await queue.getJob(id))?.getState();
        return state === 'completed' ? queue.getJob(id) : undefined;
      },
      30_000,
    );
    const executions = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([jobId]) => jobId === id);
    expect(executions.length).toBeLessThanOrEqual(2);
    expect(executions.map(([, pid]) => Number(pid))).toEqual([doomed.child.pid, process.pid]);
    const takeoverMs = Number(executions[1]![2]) - killedAt;
    // Taken over once its lock lapsed and a stall check saw it (plus scheduling slack on a shared machine).
    expect(takeoverMs).toBeLessThanOrEqual(lockDuration + stalledInterval + 1_000);
    expect(job!.returnvalue).toEqual({ pid: process.pid });
    expect(await queue.getJobCounts()).toMatchObject({ active: 0, waiting: 0, failed: 0 });
    console.log(`${kind}: crashed job taken over ${takeoverMs} ms after the kill`);
    await survivor.close();
  });

  it('kill -9 and restart of the server mid-run: every job completes, none is left active, workers reconnect by themselves', async () => {
    const total = 60;
    const executions = new Map<string, number>();
    const options = { concurrency: 4, lockDuration: 2_000, stalledInterval: 1_000 };
    const work = async (job: { id?: string; data: { ms: number } }): Promise<string> => {
      executions.set(job.id!, (executions.get(job.id!) ?? 0) + 1);
      await delay(job.data.ms);
      return 'ok';
    };
    const workers = [
      connection.worker<{ ms: number }, string>('restart', work, options),
      connection.worker<{ ms: number }, string>('restart', work, options),
    ];
    const queue = connection.queue<{ ms: number }, string>('restart');
    await queue.addBulk(
      Array.from({ length: total }, (_, i) => ({
        name: 'step',
        data: { ms: 150 },
        opts: {
          jobId: stepJobId('restartproj', hash(i)),
          attempts: 3,
          backoff: { type: 'fixed', delay: 200 },
        },
      })),
    );
    await waitFor(
      'some jobs to complete',
      async () => (((await queue.getJobCounts()).completed ?? 0) >= 10 ? true : undefined),
      20_000,
    );
    await server.kill9();
    await delay(1_000);
    await server.restart();
    const counts = await waitFor(
      'every job to complete after the restart',
      async () => {
        const c = await queue.getJobCounts();
        return c.completed === total ? c : undefined;
      },
      60_000,
    );
    expect(counts).toMatchObject({ completed: total, active: 0, waiting: 0, failed: 0, delayed: 0 });
    expect(executions.size).toBe(total);
    const reruns = [...executions.values()].filter((n) => n > 1).length;
    console.log(`${kind}: ${reruns} of ${total} jobs ran twice across the server restart`);
    expect(Math.max(...executions.values())).toBeLessThanOrEqual(2);
    await Promise.all(workers.map((w) => w.close()));
  });
});

describe('the queue URL decides the backend', () => {
  it('a Redis that may evict keys is refused with a ValidationError saying how to fix it', async () => {
    const redis = await startRedis({ maxmemoryPolicy: 'allkeys-lru' });
    try {
      const error = await openQueueConnection(redis.url).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toMatch(/maxmemory-policy allkeys-lru.*noeviction/s);
    } finally {
      await redis.stop();
    }
  });
});
