import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDraftBackend } from '../src/backends/draft/index.js';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { createRunContext, runPipeline, runPipelineWith } from '../src/pipeline/orchestrator.js';
import { runPipelineBody, scopeExecutes, type PipelineScope } from '../src/pipeline/pipeline-body.js';
import { asyncRunStore } from '../src/store/async-run-store.js';
import { TEST_PANEL_SIZE } from './helpers/pipeline-harness.js';
import { makeProject } from './helpers/project-factory.js';
import { createTempWorkspace, quickRetryPolicy, type TempWorkspace } from './helpers/temp-workspace.js';

/**
 * The body's scopes, in one process over a real SQLite workspace: a run made of a sheet part, one part per shot and
 * a finish part — each with its own step runner, as a distributed worker runs them — executes every step once,
 * journals each once, and reads back (`observe`) the very result an embedded run gives.
 */

let ws: TempWorkspace;
let reference: TempWorkspace;
beforeEach(async () => {
  [ws, reference] = await Promise.all([createTempWorkspace(), createTempWorkspace()]);
});
afterEach(async () => {
  await Promise.all([ws.dispose(), reference.dispose()]);
});

const project = makeProject({ shots: 3, width: 160, height: 90 });

/** What every part of the run is given: the same store, artifacts and settings, as workers of one run are. */
function commonOptions() {
  return {
    backend: createDraftBackend(),
    store: asyncRunStore(ws.store().runs),
    artifacts: ws.store().artifacts,
    outDir: ws.outDir,
    retryPolicy: quickRetryPolicy(),
    panelSize: TEST_PANEL_SIZE,
  };
}

describe('a run split into scopes', () => {
  it('executes each step once across its parts and reads back the embedded result', async () => {
    const common = commonOptions();
    const parts: PipelineScope[] = [
      { kind: 'sheet' },
      ...project.shots.map((s) => ({ kind: 'shot', shotId: s.id }) as const),
      { kind: 'finish' },
    ];
    const events: PipelineEvent[] = [];
    const result = await runPipelineWith(project, common, {
      executes: () => false,
      drive: async (session) => {
        for (const scope of parts) {
          // A fresh step runner per part, as each job on a worker has.
          const { ctx } = createRunContext(project, common, {
            runId: session.run.id,
            emit: (e) => events.push(e),
            executes: (stepId) => scopeExecutes(scope, stepId),
          });
          await runPipelineBody({ ...session.body, ctx }, scope);
        }
        return runPipelineBody(session.body, { kind: 'observe' });
      },
    });
    const steps = ws.store().runs.listSteps(result.runId);
    expect(steps).toHaveLength(9 + 1 + 3 * 3 + 2);
    expect(steps.every((s) => s.status === 'done')).toBe(true);
    expect(ws.store().runs.countExecutions({ runId: result.runId })).toBe(steps.length);
    // Steps outside a part's scope were read from the memo silently: only the executing part told.
    const started = events
      .filter((e) => e.type === 'step-started')
      .map((e) => (e as { stepId: string }).stepId);
    expect(started.sort()).toEqual(steps.map((s) => s.stepId).sort());

    const embedded = await runPipeline(project, {
      ...common,
      store: asyncRunStore(reference.store().runs),
      artifacts: reference.store().artifacts,
      outDir: reference.outDir,
    });
    expect(result.status).toBe('succeeded');
    expect(result.shots.map((s) => [s.shotId, s.frameSha256, s.seed])).toEqual(
      embedded.shots.map((s) => [s.shotId, s.frameSha256, s.seed]),
    );
    expect(result.sheet.sha256).toBe(embedded.sheet.sha256);
    expect(result.qaReport).toEqual(embedded.qaReport);
  }, 120_000);

  it('a shot part before its sheet exists is not ready (retryable), not a shot failure', async () => {
    const common = commonOptions();
    await expect(
      runPipelineWith(project, common, {
        drive: async (session) => {
          const scope: PipelineScope = { kind: 'shot', shotId: project.shots[0]!.id };
          const { ctx } = createRunContext(project, common, {
            runId: session.run.id,
            emit: () => undefined,
            executes: (stepId) => scopeExecutes(scope, stepId),
          });
          await runPipelineBody({ ...session.body, ctx }, scope);
          throw new Error('unreachable');
        },
      }),
    ).rejects.toMatchObject({
      name: 'StepNotReadyError',
      retryable: true,
      stepId: expect.stringMatching(/^sheet:/) as unknown,
    });
    expect(ws.store().runs.countExecutions()).toBe(0);
  }, 60_000);
});
