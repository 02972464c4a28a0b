import { openQueueConnection, type QueueConnection } from '../src/distributed/queue/index.js';
import { startPostgres } from '../test/support/postgres.js';
import { startRedis } from '../test/support/redis.js';
import { median } from './timing.js';
import type { BenchRow } from './types.js';

/**
 * The queue's own cost per step, on BullMQ's PostgreSQL backend and on Redis, side by side (throw-away local
 * servers, as in test/distributed): trivial jobs through one worker with concurrency 4.
 *
 * - latency: a closed loop keeps 4 jobs in flight (a new one is added as one completes), so (completed − added)
 *   has no backlog in it: it is add → pick-up → complete → notified, minus the job's own (measured) work;
 * - throughput: `jobs` added at once, timed until the last completes.
 */
export async function benchDistributedQueue(options: { jobs?: number } = {}): Promise<BenchRow[]> {
  const jobs = options.jobs ?? 500;
  const rows: BenchRow[] = [];
  const servers: Array<[string, () => Promise<{ url: string; stop(): Promise<void> }>]> = [
    ['postgres', () => startPostgres()],
    ['redis', () => startRedis()],
  ];
  const results: Record<string, { median: number; p95: number; throughput: number }> = {};
  for (const [kind, start] of servers) {
    const server = await start();
    const connection = await openQueueConnection(server.url);
    try {
      results[kind] = await measure(connection, jobs);
    } finally {
      await connection.close();
      await server.stop();
    }
    const r = results[kind]!;
    const group = 'distributed queue (BullMQ, 1 worker × concurrency 4, trivial jobs)';
    rows.push(
      { group, name: `${kind}: overhead per step, median`, value: r.median, unit: 'ms' },
      { group, name: `${kind}: overhead per step, p95`, value: r.p95, unit: 'ms' },
      { group, name: `${kind}: throughput (${jobs} added at once)`, value: r.throughput, unit: 'job/s' },
    );
  }
  const pg = results['postgres'];
  const redis = results['redis'];
  if (pg && redis) {
    rows.push({
      group: 'distributed queue (BullMQ, 1 worker × concurrency 4, trivial jobs)',
      name: 'postgres ÷ redis, median overhead',
      value: pg.median / redis.median,
      unit: '×',
      note: 'a 100 ms ComfyUI shot dwarfs either',
    });
  }
  return rows;
}

async function measure(
  connection: QueueConnection,
  jobs: number,
): Promise<{ median: number; p95: number; throughput: number }> {
  const concurrency = 4;
  const work = new Map<string, number>();
  const completed = new Map<string, () => void>();
  const queue = connection.queue<{ i: number }, number>('bench');
  const worker = connection.worker<{ i: number }, number>(
    'bench',
    async (job) => {
      const t0 = performance.now();
      const value = job.data.i * 2;
      work.set(job.id!, performance.now() - t0);
      return value;
    },
    { concurrency },
  );
  worker.on('completed', (job) => completed.get(job.id!)?.());
  await worker.waitUntilReady();

  // Closed loop: `concurrency` lanes, each adding its next job when its last one completed.
  const overheads: number[] = [];
  const runOne = async (id: string, i: number): Promise<void> => {
    const done = new Promise<void>((resolve) => completed.set(id, resolve));
    const added = performance.now();
    await queue.add('step', { i }, { jobId: id, removeOnComplete: true });
    await done;
    overheads.push(performance.now() - added - (work.get(id) ?? 0));
    completed.delete(id);
  };
  const lane = async (l: number, count: number, prefix: string, record: boolean): Promise<void> => {
    for (let k = 0; k < count; k++) {
      const before = overheads.length;
      await runOne(`${prefix}-${l}-${k}`, k);
      if (!record) overheads.length = before;
    }
  };
  const warm = 10;
  await Promise.all(Array.from({ length: concurrency }, (_, l) => lane(l, warm, 'warm', false)));
  const perLane = Math.ceil(jobs / concurrency);
  await Promise.all(Array.from({ length: concurrency }, (_, l) => lane(l, perLane, 'loop', true)));

  // Open loop: everything added at once.
  let left = jobs;
  const allDone = new Promise<void>((resolve) => {
    worker.on('completed', () => {
      if (--left === 0) resolve();
    });
  });
  const t0 = performance.now();
  await queue.addBulk(
    Array.from({ length: jobs }, (_, i) => ({
      name: 'step',
      data: { i },
      opts: { jobId: `bulk-${i}`, removeOnComplete: true },
    })),
  );
  await allDone;
  const throughput = jobs / ((performance.now() - t0) / 1000);
  await worker.close();
  const sorted = [...overheads].sort((a, b) => a - b);
  return {
    median: median(sorted),
    p95: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]!,
    throughput,
  };
}
