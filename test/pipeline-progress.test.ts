import { afterEach, describe, expect, it } from 'vitest';
import { PIPELINE_STAGES, type PipelineStage } from '../src/core/status-tracker.js';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { runOn } from './helpers/pipeline-harness.js';
import { makeProject } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

type Progress = Extract<PipelineEvent, { type: 'progress' }>;
const rank = (stage: PipelineStage): number => PIPELINE_STAGES.indexOf(stage);
/** The tracker's guess before anything is measured: 5 min + 30 s per shot. */
const defaultGuessMs = (shots: number): number => 300_000 + 30_000 * shots;

describe('progress of a pipelined run', () => {
  it('reports the earliest unfinished stage, which never goes back, and the running ones beside it', async () => {
    ws = await createTempWorkspace();
    const project = makeProject({ id: 'progress-stage', shots: 6 });
    const run = await runOn(ws, project, { concurrency: 2 });
    expect(run.result?.status).toBe('succeeded');
    const progress = run.events.filter((e): e is Progress => e.type === 'progress');
    expect(progress.length).toBeGreaterThan(20);

    const stages = progress.map((p) => p.stage);
    for (let i = 1; i < stages.length; i++)
      expect(rank(stages[i]!)).toBeGreaterThanOrEqual(rank(stages[i - 1]!));
    // Every stage is reported, in order, each once as a run of events.
    expect(stages.filter((s, i) => s !== stages[i - 1])).toEqual([...PIPELINE_STAGES]);
    // Pipelined shots: at some point several stages run at once, and `stage` is always the first of them.
    expect(Math.max(...progress.map((p) => p.activeStages.length))).toBeGreaterThan(1);
    for (const p of progress.slice(0, -1)) {
      if (p.activeStages.length > 0) expect(rank(p.stage)).toBeLessThanOrEqual(rank(p.activeStages[0]!));
      expect(p.activeStages).toEqual([...p.activeStages].sort((a, b) => rank(a) - rank(b)));
    }
    expect(progress.at(-1)).toMatchObject({ stage: 'export', progress: 100, activeStages: [] });
  });

  it('estimates the time left from measured step durations once one step has finished', async () => {
    ws = await createTempWorkspace();
    const shots = 6;
    const run = await runOn(ws, makeProject({ id: 'progress-eta', shots }), { concurrency: 2 });
    const duration = run.result!.durationMs;
    const firstDone = run.events.findIndex((e) => e.type === 'step-completed');
    expect(firstDone).toBeGreaterThanOrEqual(0);
    const before = run.events.slice(0, firstDone).filter((e): e is Progress => e.type === 'progress');
    const after = run.events.slice(firstDone).filter((e): e is Progress => e.type === 'progress');
    // Before anything is measured there is only the default guess, minutes for a run of seconds…
    for (const p of before) expect(p.etaMs).toBeGreaterThan(duration * 10);
    // …after the first step, the estimate is of the run's own order (here: within 10× the real duration, where
    // the default guess of 8 min is ~100× off), and the default is never seen again.
    expect(after.length).toBeGreaterThan(0);
    for (const p of after) {
      expect(p.etaMs).toBeLessThan(Math.max(10 * duration, 5000));
      expect(p.etaMs).toBeLessThan(defaultGuessMs(shots) / 10);
    }
  });
});
