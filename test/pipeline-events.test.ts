import { afterEach, describe, expect, it } from 'vitest';
import { makeProject } from './helpers/project-factory.js';
import { runOn, stepCompleted } from './helpers/pipeline-harness.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

describe('the run event log', () => {
  it('journals every event of a run in order, progress at whole percents, from run-started to run-finished', async () => {
    ws = await createTempWorkspace();
    const run = await runOn(ws, makeProject({ shots: 3 }));
    expect(run.result?.status).toBe('succeeded');
    const logged = ws.store().runs.listEvents(run.runId!, { limit: 10_000 });

    expect(logged.map((e) => e.seq)).toEqual(logged.map((_, i) => i + 1));
    expect(logged[0]?.type).toBe('run-started');
    expect(logged.at(-1)?.type).toBe('run-finished');
    // Everything but progress is logged exactly as the caller received it.
    const delivered = run.events.filter((e) => e.type !== 'progress');
    expect(logged.filter((e) => e.type !== 'progress').map((e) => e.payload)).toEqual(delivered);
    expect(
      logged.filter((e) => e.type === 'stage-completed').map((e) => (e.payload as { stage: string }).stage),
    ).toEqual(['grid', 'comfyui', 'promotion', 'qa', 'export']);
    const percents = logged
      .filter((e) => e.type === 'progress')
      .map((e) => Math.floor((e.payload as { progress: number }).progress));
    expect(new Set(percents).size).toBe(percents.length);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents.at(-1)).toBe(100);
  });

  it('logs nothing after a cancel but the run-finished that says so', async () => {
    ws = await createTempWorkspace();
    const run = await runOn(ws, makeProject({ shots: 4 }), { cancelWhen: stepCompleted('generate:shot-02') });
    const logged = ws.store().runs.listEvents(run.runId!, { limit: 10_000 });
    const cancelAt = logged.findIndex(
      (e) => e.type === 'step-completed' && (e.payload as { stepId: string }).stepId === 'generate:shot-02',
    );
    expect(cancelAt).toBeGreaterThan(0);
    expect(logged.slice(cancelAt + 1).map((e) => e.type)).toEqual(['run-finished']);
    expect(logged.at(-1)?.payload).toMatchObject({ status: 'cancelled' });
  });

  it('survives a listener that throws: the run, its steps and its export are unaffected', async () => {
    ws = await createTempWorkspace();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const run = await runOn(ws, makeProject({ shots: 2 }), {
        onEvent: (e) => {
          if (e.type === 'progress' || e.type === 'stage-completed' || e.type === 'run-finished') {
            throw new Error('listener bug');
          }
        },
      });
      expect(run.error).toBeUndefined();
      expect(run.result?.status).toBe('succeeded');
      expect(run.result?.failures).toEqual([]);
      expect(run.result?.export).toBeDefined();
      expect(ws.store().runs.getRun(run.result!.runId)?.status).toBe('succeeded');
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.includes('an event listener threw: listener bug'))).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
