import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertCliBuilt,
  parseJsonLines,
  tempDir,
  testProject,
  writeTestProject,
  type RunningCli,
} from '../helpers/cli.js';
import { startComfyDouble, type ComfyDouble } from '../support/comfyui-double/index.js';
import {
  artifactFiles,
  comfyBackendArgs,
  isShotPrompt,
  journal,
  startCoordinator,
  startRedis,
  startWorker,
  stopWorker,
  until,
  type RedisServer,
  type Shared,
} from './cluster.js';

/**
 * Chaos: a worker's only ComfyUI server hangs — it accepts the shot's prompt, starts it, and then neither progresses
 * nor finishes while still answering HTTP (the double's `stall-jobs`: a GPU stuck in a kernel). With
 * `--job-timeout 3` the job times out on that worker, whose pool quarantines the server (its probes answer, so only
 * the timeout can see it); the worker, left without a usable server, stops taking jobs and hands its shot back to the
 * queue, where the other worker (its own healthy double) runs it. The run completes with every step journaled once.
 * When the hung server answers again, the hung prompt is interrupted there rather than finishing for nobody, and the
 * worker takes jobs again.
 */

const CKPT = 'sd_xl_base_1.0.safetensors';
const JOB_TIMEOUT_S = 3;
const SHOTS = 4;

let tmp: { path: string; remove: () => Promise<void> };
let redis!: RedisServer;
let hanging!: ComfyDouble;
let healthy!: ComfyDouble;
let shared!: Shared;
const workers: RunningCli[] = [];

beforeAll(async () => {
  assertCliBuilt();
  tmp = await tempDir('comfyui-hang');
  redis = await startRedis();
  const options = { models: { checkpoints: [CKPT] }, samplerStepMs: 40, previews: false };
  [hanging, healthy] = await Promise.all([startComfyDouble(options), startComfyDouble(options)]);
  shared = { queue: redis.url, store: join(tmp.path, 'store'), artifacts: join(tmp.path, 'artifacts') };
});
afterAll(async () => {
  await Promise.all(workers.map(stopWorker));
  await Promise.all([hanging?.close(), healthy?.close()]);
  await redis?.stop();
  await tmp?.remove();
});

const backendArgs = (double: ComfyDouble): string[] => [
  ...comfyBackendArgs(double.url),
  '--job-timeout',
  String(JOB_TIMEOUT_S),
];

const shotPrompts = (double: ComfyDouble): Array<{ promptId: string; at: number }> =>
  double.submitted
    .map((s, i) => ({ ...s, i }))
    .filter(isShotPrompt)
    .map((s) => ({ promptId: s.promptId, at: submittedAt.get(`${double.url} ${s.i}`) ?? Date.now() }));
/** When each submission was first seen by the test's poll (the double keeps no times). */
const submittedAt = new Map<string, number>();
function noteSubmissions(): void {
  for (const double of [hanging, healthy]) {
    double.submitted.forEach((_, i) => {
      const key = `${double.url} ${i}`;
      if (!submittedAt.has(key)) submittedAt.set(key, Date.now());
    });
  }
}

/** `until`, noting when each submission was first seen on the way. */
const waitFor = (what: string, check: () => boolean, ms?: number): Promise<void> =>
  until(
    what,
    () => {
      noteSubmissions();
      return check();
    },
    ms,
    25,
  );

describe('a worker whose ComfyUI server hangs', () => {
  it('has its shot rescheduled on another worker within the job timeout; the server is quarantined, the run completes', async () => {
    const args = (double: ComfyDouble): string[] => [...backendArgs(double), '--concurrency', '1'];
    const stuck = await startWorker(shared, args(hanging));
    const other = await startWorker(shared, args(healthy));
    workers.push(stuck, other);
    const project = await writeTestProject(join(tmp.path, 'p'), {
      ...testProject({ id: 'hang', shots: SHOTS, width: 160, height: 96 }),
      qa: { regenerateBudget: 0 },
    });
    const coordinator = startCoordinator(project, shared, backendArgs(healthy), tmp.path, 150_000);
    // The first shot on the server about to hang: it stalls at its next sampler step and never finishes.
    await waitFor('a shot on the server that will hang', () => shotPrompts(hanging).length > 0);
    hanging.inject({ kind: 'stall-jobs' });
    const hungAt = Date.now();
    const hungId = shotPrompts(hanging)[0]!.promptId;

    // The same work (same prompt id: it is derived from the work, not the server) reaches the healthy server.
    await waitFor('the hung shot on the healthy server', () =>
      shotPrompts(healthy).some((s) => s.promptId === hungId),
    );
    const rescheduledMs = shotPrompts(healthy).find((s) => s.promptId === hungId)!.at - hungAt;

    const exit = await coordinator.exited;
    const logs = `${coordinator.stderr()}\n--- stuck worker:\n${stuck.stderr()}\n--- other:\n${other.stderr()}`;
    expect(exit.code, logs).toBe(0);
    const result = parseJsonLines(coordinator.stdout()).at(-1)!;
    expect(result, logs).toMatchObject({ type: 'result', success: true });
    const runId = result['runId'] as string;

    // Rescheduled once the job timed out (measured from the job's start, which the test saw a moment before),
    // not after the 30 s lock or a 60 s outage wait.
    expect(rescheduledMs).toBeLessThan(JOB_TIMEOUT_S * 1000 + 5000);
    // Quarantined: the stuck worker said so and handed its job back instead of failing it.
    expect(stuck.stderr()).toMatch(
      /has no usable ComfyUI server \(127\.0\.0\.1:\d+ down \(hung: .*ran longer/,
    );
    expect(stuck.stderr()).toMatch(/left to other workers: no usable ComfyUI server here/);
    expect(stuck.child.exitCode).toBeNull();

    const { runs, steps, executions } = journal(shared.store!);
    expect(runs.find((r) => r.id === runId)?.status).toBe('succeeded');
    const mine = steps.filter((s) => s.run_id === runId);
    expect(mine).toHaveLength(9 + 1 + SHOTS * 3 + 2);
    expect(new Set(mine.map((s) => s.step_id)).size).toBe(mine.length);
    expect(mine.every((s) => s.status === 'done')).toBe(true);
    // No step failed: the hung one was handed over, not journaled as a failure.
    expect(executions.filter((e) => e.run_id === runId && e.outcome === 'failed')).toEqual([]);
    const files = await artifactFiles(shared.artifacts);
    expect(new Set(files).size).toBe(files.length);
    // Every shot ran once, the hung one twice (once hung, once on the healthy server).
    const all = [...shotPrompts(hanging), ...shotPrompts(healthy)];
    expect(new Set(all.map((s) => s.promptId)).size).toBe(SHOTS);
    expect(all.length).toBeLessThanOrEqual(SHOTS + 1);

    // The hung server answers again: the hung prompt is interrupted there (the cancel was sent when it timed out,
    // and again by each probe while it ran), not run to the end for nobody; the worker takes jobs again.
    expect(hanging.queueSnapshot().running).toEqual([hungId]);
    hanging.clearFaults();
    await waitFor('the hung prompt to leave the server', () => {
      const q = hanging.queueSnapshot();
      return q.running.length + q.pending.length === 0;
    });
    const history = (await (await fetch(`${hanging.url}/history/${hungId}`)).json()) as Record<
      string,
      { status: { status_str: string; messages: Array<[string, unknown]> } }
    >;
    expect(history[hungId]?.status.status_str).toBe('error');
    expect(history[hungId]?.status.messages.map((m) => m[0])).toContain('execution_interrupted');
    await waitFor(
      'the stuck worker to take jobs again',
      () => /usable again; taking jobs/.test(stuck.stderr()),
      20_000,
    );
    console.log(
      `hung shot rescheduled on the healthy server ${rescheduledMs} ms after the hang (job timeout ${JOB_TIMEOUT_S} s); ${all.length} shot executions for ${SHOTS} shots`,
    );
  }, 180_000);
});
