import { randomBytes } from 'node:crypto';
import { readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectGarbage, openWorkspaceStore } from '../src/store/index.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';
import { runOn } from './helpers/pipeline-harness.js';
import { makeProject, shotId, withShotPrompt } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

/** Sets every artifact's mtime an hour back: a workspace whose files were all written long ago. */
async function ageArtifacts(workspace: string): Promise<void> {
  const root = join(workspace, 'artifacts');
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const shard of await readdir(root)) {
    for (const name of await readdir(join(root, shard)))
      await utimes(join(root, shard, name), hourAgo, hourAgo);
  }
}

const EDITED = 'A lighthouse keeper climbs the spiral stairs with a lantern, edited for the second cut';

describe('gc', () => {
  it('drops the runs not kept and what only they used; a rerun of the kept state reuses everything', async () => {
    ws = await createTempWorkspace();
    const v1 = makeProject({ id: 'gc-me', shots: 3 });
    const v2 = withShotPrompt(v1, shotId(1), EDITED);
    expect((await runOn(ws, v1)).result?.status).toBe('succeeded');
    expect((await runOn(ws, v2)).result?.status).toBe('succeeded');
    await ageArtifacts(ws.workspace);

    const r = await collectGarbage(ws.store(), { keepRuns: 1 });
    expect(r.droppedRuns).toHaveLength(1);
    expect(r.freedFiles).toBeGreaterThan(0);
    expect(r.freedBytes).toBeGreaterThan(0);
    const rerun = await runOn(ws, v2);
    expect(rerun.result?.executedSteps).toEqual([]);
    const back = await runOn(ws, v1); // the dropped version's shot is computed again, nothing else
    expect(back.result?.executedSteps.filter((s) => s !== 'export' && s !== 'animatic').sort()).toEqual(
      [`generate:${shotId(1)}`, `promote:${shotId(1)}`, `qa:${shotId(1)}`].sort(),
    );
  });

  it('drops exactly the runs named (a user deleting them), newest success included, and no other project’s results', async () => {
    ws = await createTempWorkspace();
    const mine = makeProject({ id: 'delete-me', shots: 2 });
    const other = makeProject({ id: 'keep-me', shots: 2 });
    const a = await runOn(ws, mine);
    const b = await runOn(ws, other);
    await ageArtifacts(ws.workspace);
    const r = await collectGarbage(ws.store(), { dropRuns: [a.result!.runId] });
    expect(r.droppedRuns).toEqual([a.result!.runId]);
    expect(r.freedFiles).toBeGreaterThan(0);
    expect(ws.store().runs.getRun(b.result!.runId)?.status).toBe('succeeded');
    expect((await runOn(ws, other)).result?.executedSteps).toEqual([]); // the other project: all reused
    expect((await runOn(ws, mine)).result?.executedSteps.length).toBeGreaterThan(0); // this one: computed again
  });

  it('never removes an artifact a step stores again meanwhile (a put touches it), even when nothing references it yet', async () => {
    ws = await createTempWorkspace();
    const artifacts = ws.store().artifacts;
    const bytes = randomBytes(4096);
    const sha = await artifacts.put(bytes);
    await ageArtifacts(ws.workspace); // an orphan from long ago…
    await artifacts.put(bytes); // …that a live step has just computed again and is about to journal
    const r = await collectGarbage(ws.store(), { keepRuns: 0 });
    expect(r.freedFiles).toBe(0);
    expect(await artifacts.verify(sha)).toBe(true);

    await ageArtifacts(ws.workspace); // nobody stored it again: now it goes
    expect(await collectGarbage(ws.store(), { keepRuns: 0 })).toMatchObject({
      freedFiles: 1,
      freedBytes: 4096,
    });
    expect(await artifacts.has(sha)).toBe(false);
  });

  it('while another run of the project is live, keeps every result it may still reuse, and the run finishes intact', async () => {
    ws = await createTempWorkspace();
    const v1 = makeProject({ id: 'gc-live', shots: 3 });
    const v2 = withShotPrompt(withShotPrompt(v1, shotId(1), EDITED), shotId(3), `${EDITED}, shot three`);
    expect((await runOn(ws, v1)).result?.status).toBe('succeeded'); // run A: the only one holding v1's shot 3
    expect((await runOn(ws, v2)).result?.status).toBe('succeeded'); // run B: the newest success
    // Run C goes back to v1 with shot 2 edited, one shot at a time: shot 1 reused, shot 2 hangs in the backend, and
    // shot 3 (v1's, which only run A made) is still to be looked up when gc runs.
    const v3 = withShotPrompt(v1, shotId(2), `${EDITED}, shot two`);
    const backend = new FaultInjectingBackend().failShot(shotId(2), { kind: 'hang', times: 1 });
    const controller = new AbortController();
    let hung!: () => void;
    const hanging = new Promise<void>((resolve) => (hung = resolve));
    const live = runOn(ws, v3, {
      backend,
      concurrency: 1,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'step-started' && e.stepId === `generate:${shotId(2)}`) hung();
      },
    });
    await hanging;
    const orphan = await ws.store().artifacts.put(randomBytes(1024));
    await ageArtifacts(ws.workspace);

    // gc from its own connection, as another process would run it, keeping no run but the newest success.
    const other = openWorkspaceStore(ws.workspace);
    try {
      const r = await collectGarbage(other, { keepRuns: 0 });
      expect(r.liveProjects).toEqual(['gc-live']);
      expect(r.droppedRuns).toEqual([]);
      expect(r).toMatchObject({ freedFiles: 1, freedBytes: 1024 }); // only what nothing references
      expect(await other.artifacts.has(orphan)).toBe(false);
    } finally {
      other.close();
    }

    controller.abort();
    const cancelled = await live;
    const resumed = await runOn(ws, v3, { runId: cancelled.runId!, concurrency: 1 });
    expect(resumed.result?.status).toBe('succeeded');
    expect(resumed.result!.reusedSteps).toEqual(
      expect.arrayContaining([`qa:${shotId(1)}`, `qa:${shotId(3)}`]),
    );
    expect(resumed.result!.executedSteps.filter((s) => s.endsWith(shotId(3)))).toEqual([]);
    for (const step of ws.store().runs.listSteps(resumed.runId!)) {
      for (const sha of Object.values(step.artifacts))
        expect(await ws.store().artifacts.verify(sha)).toBe(true);
    }
  });

  it('a dry run reports what a real one frees and changes nothing', async () => {
    ws = await createTempWorkspace();
    const v1 = makeProject({ id: 'gc-dry', shots: 2 });
    await runOn(ws, v1);
    await runOn(ws, withShotPrompt(v1, shotId(1), EDITED));
    await ageArtifacts(ws.workspace);
    const runsBefore = ws.store().runs.listRuns().length;
    const dry = await collectGarbage(ws.store(), { keepRuns: 1, dryRun: true });
    expect(ws.store().runs.listRuns()).toHaveLength(runsBefore);
    const real = await collectGarbage(ws.store(), { keepRuns: 1 });
    expect({ ...real, dryRun: true }).toEqual({ ...dry, sweptTemps: real.sweptTemps });
    await expect(collectGarbage(ws.store(), { keepRuns: -1 })).rejects.toThrow(
      /keepRuns must be an integer ≥ 0/,
    );
  });
});
