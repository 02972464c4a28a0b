import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { parseJsonLines, testProject, writeTestProject } from '../helpers/cli.js';
import { artifactFiles, journal, startCoordinator, startWorker, useComfyCluster } from './cluster.js';

/**
 * kill -9 of a worker in the middle of a shot, on the ComfyUI double (a real HTTP + WebSocket server; each sampler
 * step takes 100 ms, so a shot takes 3 s): the shot's job is taken over by another worker once its lock lapsed
 * (lock 3 s, stalled check every 2 s), and the run completes with exactly one journal row per step, every artifact
 * stored once, and at most one extra execution on the backend (counted on the double).
 */

const cluster = useComfyCluster('takeover');

describe('a worker killed mid-shot', () => {
  it('has its shot taken over: one journal row and one artifact per step, at most one extra backend execution', async () => {
    const shots = 3;
    const project = await writeTestProject(join(cluster.dir, 'p'), {
      ...testProject({ id: 'takeover', shots, width: 160, height: 96 }),
      qa: { regenerateBudget: 0 },
    });
    const first = await startWorker(cluster.shared, [...cluster.backendArgs(), '--concurrency', '1']);
    cluster.workers.push(first);
    const coordinator = startCoordinator(
      project,
      cluster.shared,
      cluster.backendArgs(),
      cluster.dir,
      240_000,
    );
    // The first shot is on the double's sampler: kill its worker there.
    const deadline = Date.now() + 120_000;
    while (cluster.shotSubmissions().length === 0) {
      if (Date.now() > deadline)
        throw new Error(`no shot reached the double; coordinator: ${coordinator.stderr()}`);
      await sleep(50);
    }
    await sleep(500);
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startWorker(cluster.shared, [...cluster.backendArgs(), '--concurrency', '1']);
    cluster.workers.push(second);

    const exit = await coordinator.exited;
    expect(exit.code, coordinator.stderr()).toBe(0);
    const result = parseJsonLines(coordinator.stdout()).at(-1)!;
    expect(result).toMatchObject({ type: 'result', success: true });
    const runId = result['runId'] as string;
    const tookMs = Date.now() - killedAt;

    const { steps, executions } = journal(cluster.shared.store!);
    const mine = steps.filter((s) => s.run_id === runId);
    const expected = 9 + 1 + shots * 3 + 2;
    expect(mine).toHaveLength(expected);
    expect(new Set(mine.map((s) => s.step_id)).size).toBe(expected);
    expect(mine.every((s) => s.status === 'done')).toBe(true);
    // One finished execution per step; the killed worker's open one is all that may be left besides.
    const done = executions.filter((e) => e.run_id === runId && e.outcome === 'done');
    expect(new Set(done.map((e) => e.step_id)).size).toBe(done.length);
    expect(done).toHaveLength(expected);
    const files = await artifactFiles(cluster.shared.artifacts);
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(new Set(files).size).toBe(files.length);
    // The backend: every shot at least once, at most one extra (the killed worker's, when the taker-over could not
    // attach to it).
    const submitted = cluster.shotSubmissions();
    expect(new Set(submitted.map((s) => s.promptId)).size).toBe(shots);
    expect(submitted.length).toBeLessThanOrEqual(shots + 1);
    console.log(
      `kill -9 → run done in ${tookMs} ms; ${submitted.length} shot execution(s) on the double for ${shots} shots`,
    );
  }, 300_000);
});
