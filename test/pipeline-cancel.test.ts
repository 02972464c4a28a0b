import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, isCancellation } from '../src/core/errors.js';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';
import { executedSince, lastExecutionId, runOn, type HarnessRun } from './helpers/pipeline-harness.js';
import { makeProject, shotId } from './helpers/project-factory.js';
import { allStepIds, sorted } from './helpers/step-ids.js';
import { createTempWorkspace, quickRetryPolicy, type TempWorkspace } from './helpers/temp-workspace.js';

const project = makeProject({ id: 'cancel-me', shots: 6 });
const CANCEL_BUDGET_MS = 1000;

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

/** Events the caller received after the abort (the harness records exactly what onEvent was given). */
function eventsAfterAbort(run: HarnessRun, trigger: (e: PipelineEvent) => boolean): PipelineEvent[] {
  const at = run.events.findIndex(trigger);
  expect(at).toBeGreaterThanOrEqual(0);
  return run.events.slice(at + 1);
}

/** A cancelled run: typed error, journaled as cancelled, and nothing but the final run-finished after the abort. */
function expectCleanCancel(run: HarnessRun, trigger: (e: PipelineEvent) => boolean): void {
  expect(run.error).toBeInstanceOf(CancelledError);
  expect(ws!.store().runs.getRun(run.runId!)?.status).toBe('cancelled');
  const after = eventsAfterAbort(run, trigger);
  expect(after.filter((e) => e.type === 'progress')).toEqual([]);
  expect(after.map((e) => e.type)).toEqual(['run-finished']);
  expect(after[0]).toMatchObject({ type: 'run-finished', status: 'cancelled' });
  // Steps in flight at the cancel are closed: nothing of a finished run stays 'running' in the journal.
  const runs = ws!.store().runs;
  expect(runs.listExecutions({ runId: run.runId! }).filter((e) => e.outcome === 'running')).toEqual([]);
  expect(runs.listSteps(run.runId!).filter((s) => s.status === 'running')).toEqual([]);
  // …and what was in flight is journaled as interrupted, never as failed: a cancel is not a failure (a 'failed' row
  // would be listed as a shot error and retried as one).
  expect(runs.listSteps(run.runId!).filter((s) => s.status === 'failed')).toEqual([]);
  const executions = runs.listExecutions({ runId: run.runId! });
  expect(executions.filter((e) => e.outcome === 'failed')).toEqual([]);
  expect(executions.filter((e) => e.outcome === 'interrupted').length).toBeGreaterThan(0);
}

async function resumeToCompletion(runId: string): Promise<string[]> {
  const bookmark = lastExecutionId(ws!);
  const resumed = await runOn(ws!, project, { runId });
  expect(resumed.result?.status).toBe('succeeded');
  expect(sorted(executedSince(ws!, runId, bookmark))).toEqual(sorted(resumed.result!.executedSteps));
  return resumed.result!.executedSteps;
}

describe('cancelling a run', () => {
  it('while shots are being drawn settles within 1 s, says nothing more, and a resume finishes the rest', async () => {
    ws = await createTempWorkspace();
    const trigger = (e: PipelineEvent): boolean =>
      e.type === 'step-started' && e.stepId === `generate:${shotId(2)}`;
    const run = await runOn(ws, project, { cancelWhen: trigger });

    const latency = run.settledAt - run.abortedAt!;
    expect(latency).toBeLessThan(CANCEL_BUDGET_MS);
    expectCleanCancel(run, trigger);

    const finishedBefore = ws
      .store()
      .runs.listSteps(run.runId!)
      .filter((s) => s.status === 'done')
      .map((s) => s.stepId);
    expect(finishedBefore).toContain('sheet:compose');
    const executed = await resumeToCompletion(run.runId!);
    expect(executed).toContain('export');
    expect(executed.filter((s) => finishedBefore.includes(s))).toEqual([]);
    expect(sorted([...finishedBefore, ...executed])).toEqual(sorted(allStepIds(project)));
  });

  it('while the backend hangs reaches the backend call itself, settles within 1 s and relays no late progress', async () => {
    ws = await createTempWorkspace();
    const backend = new FaultInjectingBackend().inject({
      purpose: 'shot',
      fault: { kind: 'hang', chatter: true },
    });
    const controller = new AbortController();
    let abortedAt = 0;
    const lateEvents: PipelineEvent[] = [];
    const running = runOn(ws, project, {
      backend,
      signal: controller.signal,
      onEvent: (e) => {
        if (abortedAt > 0) lateEvents.push(e);
      },
    });
    // Abort once two shot requests are stuck inside the backend.
    while (backend.calls.filter((c) => c.purpose === 'shot' && c.outcome === 'running').length < 2) {
      await new Promise((r) => setTimeout(r, 10));
    }
    abortedAt = performance.now();
    controller.abort();
    const run = await running;
    expect(backend.calls.some((c) => c.purpose === 'shot')).toBe(true);
    expect(lateEvents.map((e) => e.type)).toEqual(['run-finished']);

    expect(run.settledAt - abortedAt).toBeLessThan(CANCEL_BUDGET_MS);
    expect(isCancellation(run.error)).toBe(true);
    const shotCalls = backend.calls.filter((c) => c.purpose === 'shot');
    expect(shotCalls.length).toBe(2);
    for (const call of shotCalls) {
      expect(call.outcome).toBe('cancelled');
      expect(call.settledAt! - abortedAt).toBeLessThan(CANCEL_BUDGET_MS);
    }
    expect(ws.store().runs.getRun(run.runId!)?.status).toBe('cancelled');
  });

  it('during a 10 s retry backoff settles within 1 s instead of waiting it out', async () => {
    ws = await createTempWorkspace();
    const backend = new FaultInjectingBackend().failShot(shotId(1), { kind: 'unreachable' });
    const trigger = (e: PipelineEvent): boolean => e.type === 'step-failed' && e.next === 'retry';
    const run = await runOn(ws, project, {
      backend,
      retryPolicy: quickRetryPolicy({ maxAttempts: 3, initialDelayMs: 10_000 }),
      cancelWhen: trigger,
    });

    expect(run.settledAt - run.abortedAt!).toBeLessThan(CANCEL_BUDGET_MS);
    expectCleanCancel(run, trigger);
    // Cancelled in the wait: the second attempt never happened.
    expect(backend.callsFor(shotId(1), 'shot')).toHaveLength(1);
  });

  it('while the export is being written leaves no package behind, and a resume writes only the export', async () => {
    ws = await createTempWorkspace();
    // The first progress report from inside exportPackage: files are being written to the temp folder.
    const trigger = (e: PipelineEvent): boolean =>
      e.type === 'progress' && e.stage === 'export' && e.stageProgress > 0;
    const run = await runOn(ws, project, { cancelWhen: trigger });

    expect(run.settledAt - run.abortedAt!).toBeLessThan(CANCEL_BUDGET_MS);
    expectCleanCancel(run, trigger);
    const leftovers = await readdir(ws.outDir).catch(() => []);
    expect(leftovers).toEqual([]);
    expect(await resumeToCompletion(run.runId!)).toEqual(['export', 'animatic']);
  });
});
