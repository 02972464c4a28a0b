import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runOn } from './helpers/pipeline-harness.js';
import { makeProject } from './helpers/project-factory.js';
import { allStepIds, sorted } from './helpers/step-ids.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

const project = makeProject({ id: 'ordering', shots: 2 });

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

/**
 * A real fault at the artifact write: every shard folder of the content-addressed store is taken by a plain file,
 * so every put fails (ENOTDIR/EEXIST from the file system, no mock), after the step computed its result and
 * before anything could be journaled as done.
 */
async function breakArtifactWrites(workspace: string): Promise<void> {
  const root = join(workspace, 'artifacts');
  await mkdir(root, { recursive: true });
  for (let i = 0; i < 256; i++) await writeFile(join(root, i.toString(16).padStart(2, '0')), 'not a folder');
}

async function repairArtifactWrites(workspace: string): Promise<void> {
  const root = join(workspace, 'artifacts');
  for (const name of await readdir(root)) await rm(join(root, name), { force: true });
}

describe('the crash-safety ordering (artifacts stored, then the step journaled as done)', () => {
  it('journals nothing as done when storing the artifacts fails, so no done record ever lacks its artifacts', async () => {
    ws = await createTempWorkspace();
    // The store must exist (migrated, empty) before its artifact folder is sabotaged.
    ws.store();
    await breakArtifactWrites(ws.workspace);
    const broken = await runOn(ws, project);
    expect(broken.result?.status ?? 'failed').toBe('failed');
    const runs = ws.store().runs;
    const runId = broken.runId!;
    const steps = runs.listSteps(runId);
    expect(steps.length).toBeGreaterThan(0); // steps did execute and reach the store…
    expect(steps.filter((s) => s.status === 'done')).toEqual([]); // …and none is journaled as done
    for (const stepId of allStepIds(project)) {
      for (const step of steps.filter((s) => s.stepId === stepId)) {
        expect(runs.findCompletedStep(project.id, stepId, step.inputHash)).toBeUndefined();
      }
    }
    expect(runs.listExecutions({ runId }).filter((e) => e.outcome === 'done')).toEqual([]);

    // Once writes work again, nothing is "reused" from the failed run: every step runs and the run succeeds.
    await repairArtifactWrites(ws.workspace);
    const healed = await runOn(ws, project);
    expect(healed.result?.status).toBe('succeeded');
    expect(healed.result!.reusedSteps).toEqual([]);
    expect(sorted(healed.result!.executedSteps)).toEqual(sorted(allStepIds(project)));
  });
});
