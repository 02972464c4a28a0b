import { afterEach, describe, expect, it } from 'vitest';
import { rm, stat, writeFile } from 'node:fs/promises';
import { ErrorCode, StoreError } from '../src/core/errors.js';
import { createDraftBackend } from '../src/backends/draft/index.js';
import type { ImageBackend } from '../src/backends/types.js';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';
import { executedSince, lastExecutionId, runOn } from './helpers/pipeline-harness.js';
import { makeProject, shotId } from './helpers/project-factory.js';
import { shotStepIds, sorted } from './helpers/step-ids.js';
import { createTempWorkspace, quickRetryPolicy, type TempWorkspace } from './helpers/temp-workspace.js';

const project = makeProject({ id: 'faults', shots: 6 });
const others = (failed: string): string[] => project.shots.map((s) => s.id).filter((id) => id !== failed);

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

type StepFailed = Extract<PipelineEvent, { type: 'step-failed' }>;
const failuresOf = (events: PipelineEvent[], stepId: string): StepFailed[] =>
  events.filter((e): e is StepFailed => e.type === 'step-failed' && e.stepId === stepId);

/** The draft renderer, except that one shot's request dies of the backend's own internal abort (a request timeout). */
function abortingInside(label: string): ImageBackend {
  const draft = createDraftBackend({ capacity: 2 });
  return {
    name: draft.name,
    version: draft.version,
    capacity: draft.capacity,
    canRegenerate: draft.canRegenerate,
    async generate(request, options) {
      if (request.label === label) {
        throw new Error('request to the GPU server failed', {
          cause: new DOMException('This operation was aborted', 'AbortError'),
        });
      }
      return draft.generate(request, options);
    },
  };
}

describe('an abort from inside a backend, with no cancel', () => {
  it('is that shot failing (journaled, listed, no export), never a silent cancel that drops the shot', async () => {
    ws = await createTempWorkspace();
    const broken = shotId(2);
    const run = await runOn(ws, project, {
      backend: abortingInside(broken),
      retryPolicy: quickRetryPolicy({ maxAttempts: 2 }),
    });
    expect(run.error).toBeUndefined();
    const result = run.result!;
    expect(result.status).toBe('failed');
    expect(result.export).toBeUndefined();
    expect(result.failures.map((f) => [f.shotId, f.stage, f.error.code])).toEqual([
      [broken, 'comfyui', ErrorCode.TIMEOUT],
    ]);
    expect(result.shots.map((s) => s.shotId)).toEqual(others(broken));
    // Retried as a timeout, then given up — both journaled.
    expect(failuresOf(run.events, `generate:${broken}`).map((e) => e.next)).toEqual(['retry', 'give-up']);
    expect(ws.store().runs.getRun(result.runId)?.status).toBe('failed');
  });
});

describe('the QA report of a run with shots that failed', () => {
  it('counts every shot without a frame as failed with score 0, so a run where every shot failed is not "100, passed"', async () => {
    ws = await createTempWorkspace();
    const backend = new FaultInjectingBackend().setFailureStage('comfyui', { kind: 'rejected' });
    const run = await runOn(ws, project, { backend, retryPolicy: quickRetryPolicy({ maxAttempts: 1 }) });
    const report = run.result!.qaReport;
    expect(report.overallScore).toBe(0);
    expect(report.passed).toBe(false);
    expect(report.shots).toEqual([]);
    expect(report.shotScores.map((s) => [s.shotId, s.score, s.passed, s.noFrame?.stage])).toEqual(
      project.shots.map((s) => [s.id, 0, false, 'comfyui']),
    );
    expect(report.shotsWithoutFrame.map((s) => s.shotId)).toEqual(project.shots.map((s) => s.id));
    expect(report.shotsWithoutFrame[0]!.reason).toContain('value not in list');
  });

  it('averages the measured shots with the failed one at 0, in project order', async () => {
    ws = await createTempWorkspace();
    const broken = shotId(2);
    const backend = new FaultInjectingBackend().failShot(broken, { kind: 'rejected' });
    const run = await runOn(ws, project, { backend, retryPolicy: quickRetryPolicy({ maxAttempts: 1 }) });
    const report = run.result!.qaReport;
    const measured = run.result!.shots.map((s) => s.qa.score);
    expect(measured).toHaveLength(project.shots.length - 1);
    const mean = measured.reduce((a, b) => a + b, 0) / project.shots.length;
    expect(report.overallScore).toBeCloseTo(mean, 1);
    expect(report.passed).toBe(false);
    expect(report.shotScores.map((s) => s.shotId)).toEqual(project.shots.map((s) => s.id));
    expect(report.shotScores[1]).toMatchObject({ shotId: broken, score: 0, passed: false });
  });
});

describe('a shot that fails for good', () => {
  it('is reported with its root cause while the other shots finish, and a rerun retries only that shot', async () => {
    ws = await createTempWorkspace();
    const broken = shotId(3);
    const backend = new FaultInjectingBackend().failShot(broken, { kind: 'rejected' });
    const run = await runOn(ws, project, { backend, retryPolicy: quickRetryPolicy({ maxAttempts: 3 }) });

    const result = run.result!;
    expect(result.status).toBe('failed');
    expect(result.failures).toEqual([
      {
        shotId: broken,
        stage: 'comfyui',
        error: expect.objectContaining({
          code: ErrorCode.BACKEND_REJECTED,
          retryable: false,
          message: `backend rejected the request for ${broken}`,
          rootCause: 'node 3 (KSampler): value not in list: sampler_name',
        }),
      },
    ]);
    expect(result.shots.map((s) => s.shotId)).toEqual(others(broken));
    expect(result.export).toBeUndefined();
    // A rejection is permanent: one attempt, although the policy allowed three.
    expect(backend.callsFor(broken, 'shot')).toHaveLength(1);
    expect(failuresOf(run.events, `generate:${broken}`).map((e) => e.next)).toEqual(['give-up']);
    const stored = ws.store().runs.getRun(result.runId)!;
    expect(stored.status).toBe('failed');
    expect(stored.error?.message).toContain(
      `${broken} (comfyui: node 3 (KSampler): value not in list: sampler_name)`,
    );
    const journal = ws.store().runs.listSteps(result.runId);
    expect(journal.find((s) => s.stepId === `generate:${broken}`)?.status).toBe('failed');
    expect(journal.filter((s) => s.stepId.startsWith(`promote:${broken}`) || s.stepId === 'export')).toEqual(
      [],
    );

    const bookmark = lastExecutionId(ws);
    const healed = new FaultInjectingBackend();
    const rerun = await runOn(ws, project, { backend: healed });
    expect(rerun.result?.status).toBe('succeeded');
    const expected = [...shotStepIds([broken]), 'export', 'animatic'];
    expect(sorted(rerun.result!.executedSteps)).toEqual(sorted(expected));
    expect(sorted(executedSince(ws, rerun.runId!, bookmark))).toEqual(sorted(expected));
    expect(healed.calls.filter((c) => c.purpose !== 'regenerate').map((c) => c.label)).toEqual([broken]);
  });

  it('stops the run at once with failFast: no later shot is started and nothing is exported', async () => {
    ws = await createTempWorkspace();
    const broken = shotId(2);
    const backend = new FaultInjectingBackend().failShot(broken, { kind: 'rejected' });
    const run = await runOn(ws, project, { backend, failFast: true, concurrency: 1 });

    expect(run.error).toBeUndefined();
    expect(run.result?.status).toBe('failed');
    expect(run.result!.failures.map((f) => [f.shotId, f.error.code])).toEqual([
      [broken, ErrorCode.BACKEND_REJECTED],
    ]);
    expect(run.result!.shots.map((s) => s.shotId)).toEqual([shotId(1)]);
    const drawn = new Set(backend.calls.filter((c) => c.purpose === 'shot').map((c) => c.label));
    expect([...drawn]).toEqual([shotId(1), broken]);
    expect(run.result!.export).toBeUndefined();
    expect(ws.store().runs.getRun(run.runId!)?.status).toBe('failed');
  });
});

describe('a sheet panel that fails for good', () => {
  it('fails the whole run, since no shot can be drawn without the sheet, and names the panel', async () => {
    ws = await createTempWorkspace();
    const backend = new FaultInjectingBackend().setFailureStage('grid');
    const run = await runOn(ws, project, { backend });

    expect(run.result).toBeUndefined();
    expect(run.error).toMatchObject({
      code: ErrorCode.BACKEND_REJECTED,
      message: 'backend rejected the request for panel-1',
    });
    expect(backend.calls.filter((c) => c.purpose === 'shot')).toEqual([]);
    const stored = ws.store().runs.getRun(run.runId!)!;
    expect(stored.status).toBe('failed');
    expect(stored.error).toMatchObject({
      code: ErrorCode.BACKEND_REJECTED,
      rootCause: 'node 3 (KSampler): value not in list: sampler_name',
    });
    expect(run.events.at(-1)).toMatchObject({ type: 'run-finished', status: 'failed' });
  });
});

describe('retries', () => {
  it('are per step: a shot that fails once is retried alone and the run succeeds', async () => {
    ws = await createTempWorkspace();
    const flaky = shotId(4);
    const backend = new FaultInjectingBackend().failShot(flaky, { kind: 'unreachable', times: 1 });
    const run = await runOn(ws, project, { backend, retryPolicy: quickRetryPolicy({ maxAttempts: 2 }) });

    expect(run.result?.status).toBe('succeeded');
    expect(backend.callsFor(flaky, 'shot').map((c) => c.outcome)).toEqual(['failed', 'ok']);
    for (const id of others(flaky)) expect(backend.callsFor(id, 'shot')).toHaveLength(1);
    // The sheet was not redone for the shot's sake: each panel was drawn once.
    expect(backend.calls.filter((c) => c.purpose === 'sheet-panel')).toHaveLength(9);
    const step = ws
      .store()
      .runs.listSteps(run.runId!)
      .find((s) => s.stepId === `generate:${flaky}`);
    expect(step).toMatchObject({ status: 'done', attempts: 2 });
    expect(failuresOf(run.events, `generate:${flaky}`)).toEqual([
      expect.objectContaining({
        attempt: 1,
        next: 'retry',
        delayMs: 0,
        error: expect.objectContaining({ code: ErrorCode.BACKEND_UNREACHABLE }),
      }),
    ]);
  });

  it('stop after maxAttempts 2 with exactly two attempts, the configured delay between them, then give up', async () => {
    ws = await createTempWorkspace();
    const down = shotId(5);
    const backend = new FaultInjectingBackend().failShot(down, { kind: 'unreachable' });
    const delayMs = 150;
    const run = await runOn(ws, project, {
      backend,
      retryPolicy: quickRetryPolicy({ maxAttempts: 2, initialDelayMs: delayMs }),
    });

    const attempts = backend.callsFor(down, 'shot');
    expect(attempts.map((c) => c.outcome)).toEqual(['failed', 'failed']);
    // Timers may fire a hair early relative to performance.now(); 5 ms of slack, no more.
    expect(attempts[1]!.startedAt - attempts[0]!.settledAt!).toBeGreaterThanOrEqual(delayMs - 5);
    expect(failuresOf(run.events, `generate:${down}`).map((e) => [e.attempt, e.next, e.delayMs])).toEqual([
      [1, 'retry', delayMs],
      [2, 'give-up', undefined],
    ]);
    expect(run.result?.failures).toEqual([
      {
        shotId: down,
        stage: 'comfyui',
        error: expect.objectContaining({
          code: ErrorCode.BACKEND_UNREACHABLE,
          rootCause: 'connect ECONNREFUSED 127.0.0.1:8188',
        }),
      },
    ]);
    expect(
      ws
        .store()
        .runs.listSteps(run.runId!)
        .find((s) => s.stepId === `generate:${down}`),
    ).toMatchObject({
      status: 'failed',
      attempts: 2,
    });
  });
});

describe('a stored frame damaged on disk', () => {
  it('fails the export naming the shot, is removed, and the next run recomputes only that shot', async () => {
    ws = await createTempWorkspace();
    const first = (await runOn(ws, project)).result!;
    expect(first.status).toBe('succeeded');
    await rm(first.export!.dir, { recursive: true });
    const victim = first.shots[3]!;
    const file = ws.store().artifacts.localPath(victim.frameSha256);
    await writeFile(file, Buffer.alloc((await stat(file)).size, 0)); // same size, wrong bytes

    const broken = await runOn(ws, project);
    expect(broken.error).toBeInstanceOf(StoreError);
    expect(String(broken.error)).toContain(`stored frames of shot ${victim.shotId} were damaged on disk`);
    expect(await ws.store().artifacts.has(victim.frameSha256)).toBe(false);

    const healed = (await runOn(ws, project)).result!;
    expect(healed.status).toBe('succeeded');
    expect(healed.executedSteps).toContain('export');
    expect(
      healed.executedSteps
        .filter((id) => id !== 'export' && id !== 'animatic')
        .every((id) => id.endsWith(victim.shotId)),
    ).toBe(true);
    expect(healed.shots[3]!.frameSha256).toBe(victim.frameSha256); // deterministic: the same frame, recomputed
  });
});
