import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openQueueConnection } from '../../src/distributed/queue/index.js';
import { describe, expect, it } from 'vitest';
import { testProject, writeTestProject } from '../helpers/cli.js';
import { journal, startCoordinator, startWorker, until, useComfyCluster } from './cluster.js';

/**
 * Ctrl-C on `generate --queue`: the run's waiting jobs leave the queue, the run is marked cancelled, and the worker
 * running one of its shots stops it (it polls the run's status) instead of finishing the whole run for nobody; a
 * Redis restart mid-run loses nothing: the run completes once the queue is back.
 */

const cluster = useComfyCluster('queue-cancel');
const shotsOnDouble = (): number => cluster.shotSubmissions().length;

describe('a run on the queue', () => {
  it('cancelled with Ctrl-C: waiting jobs removed, the run cancelled, the active shot stopped on its worker', async () => {
    cluster.workers.push(await startWorker(cluster.shared, [...cluster.backendArgs(), '--concurrency', '1']));
    const project = await writeTestProject(join(cluster.dir, 'c'), {
      ...testProject({ id: 'cancelled', shots: 6, width: 160, height: 96 }),
      qa: { regenerateBudget: 0 },
    });
    const coordinator = startCoordinator(
      project,
      cluster.shared,
      cluster.backendArgs(),
      cluster.dir,
      120_000,
    );
    await until('a shot on the double', () => shotsOnDouble() > 0);
    coordinator.child.kill('SIGINT');
    const exit = await coordinator.exited;
    expect(exit.code, coordinator.stderr()).toBe(130);
    const run = journal(cluster.shared.store!).runs.find((r) => r.project_id === 'cancelled');
    expect(run?.status).toBe('cancelled');
    // Through the queue seam, as the runner sees it (its namespace is the Redis key prefix).
    const connection = await openQueueConnection(cluster.redis.url);
    const queue = connection.queue('storycore');
    try {
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'waiting-children');
      expect(counts).toEqual({ waiting: 0, prioritized: 0, delayed: 0, 'waiting-children': 0 });
      // The one shot that was running stops within the status poll (1 s), and nothing else starts.
      let active = await queue.getActiveCount();
      for (let i = 0; i < 100 && active > 0; i++) {
        await sleep(100);
        active = await queue.getActiveCount();
      }
      expect(active).toBe(0);
    } finally {
      await connection.close();
    }
    const submittedAfter = shotsOnDouble();
    await sleep(3000);
    expect(shotsOnDouble()).toBe(submittedAfter);
    expect(submittedAfter).toBeLessThan(6);
  }, 180_000);

  it('survives kill -9 and a restart of redis mid-run: the run completes, every step journaled once', async () => {
    if (cluster.workers.length === 0)
      cluster.workers.push(
        await startWorker(cluster.shared, [...cluster.backendArgs(), '--concurrency', '1']),
      );
    const project = await writeTestProject(join(cluster.dir, 'r'), {
      ...testProject({ id: 'redis-restart', shots: 4, width: 160, height: 96 }),
      qa: { regenerateBudget: 0 },
    });
    const before = shotsOnDouble();
    const coordinator = startCoordinator(
      project,
      cluster.shared,
      cluster.backendArgs(),
      cluster.dir,
      180_000,
    );
    await until('a shot on the double', () => shotsOnDouble() > before);
    await cluster.redis.kill9();
    await sleep(1000);
    await cluster.redis.restart();
    const exit = await coordinator.exited;
    expect(exit.code, coordinator.stderr()).toBe(0);
    const run = journal(cluster.shared.store!).runs.find((r) => r.project_id === 'redis-restart')!;
    expect(run.status).toBe('succeeded');
    const steps = journal(cluster.shared.store!).steps.filter((s) => s.run_id === run.id);
    expect(steps).toHaveLength(9 + 1 + 4 * 3 + 2);
    expect(new Set(steps.map((s) => s.step_id)).size).toBe(steps.length);
    expect(steps.every((s) => s.status === 'done')).toBe(true);
  }, 240_000);
});
