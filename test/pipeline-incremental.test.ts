import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDraftBackend } from '../src/backends/index.js';
import type { PipelineResult } from '../src/pipeline/orchestrator.js';
import type { Project } from '../src/project/schema.js';
import { stableManifestView } from '../src/stages/export/index.js';
import type { ExportManifest } from '../src/stages/export/manifest.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';
import { executedSince, lastExecutionId, runOn } from './helpers/pipeline-harness.js';
import {
  makeProject,
  shotId,
  withPanelPrompt,
  withShotPrompt,
  withShotSeed,
  withStylePrompt,
} from './helpers/project-factory.js';
import { allStepIds, sheetStepIds, shotStepIds, sorted } from './helpers/step-ids.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

const base = makeProject({ id: 'incremental', shots: 6 });
/** The same project with the sheet's nine panel prompts written out, so one of them can be edited. */
const withOwnPanels = makeProject({
  id: 'incremental',
  shots: 6,
  panels: Array.from({ length: 9 }, (_, i) => `study ${i + 1} of the lighthouse, its keeper and the sea`),
});
const allShots = base.shots.map((s) => s.id);
/** Shot 3 pins its own seed (the case a user edits by hand to get another take). */
const pinned = withShotSeed(base, shotId(3), 4242);

const workspaces: TempWorkspace[] = [];
afterEach(async () => {
  await Promise.all(workspaces.splice(0).map((w) => w.dispose()));
});
async function workspace(): Promise<TempWorkspace> {
  const w = await createTempWorkspace();
  workspaces.push(w);
  return w;
}

async function succeed(
  ws: TempWorkspace,
  project: Project,
  backend = new FaultInjectingBackend(),
  fresh = false,
): Promise<PipelineResult> {
  const run = await runOn(ws, project, { backend, fresh });
  expect(run.error).toBeUndefined();
  expect(run.result?.status).toBe('succeeded');
  return run.result!;
}

interface Change {
  change: string;
  /** The project of the first run. @default base */
  from?: Project;
  edit: (p: Project) => Project;
  fresh?: boolean;
  expected: string[];
}

const changes: Change[] = [
  { change: 'nothing', edit: (p) => p, expected: [] },
  {
    change: 'the prompt of shot 2',
    edit: (p) => withShotPrompt(p, shotId(2), 'The keeper drops the logbook as thunder shakes the tower'),
    expected: [...shotStepIds([shotId(2)]), 'export', 'animatic'],
  },
  {
    change: 'the prompt of shot 1',
    edit: (p) =>
      withShotPrompt(p, shotId(1), 'A lone lighthouse at dawn under a clearing sky, gulls circling'),
    expected: [...shotStepIds([shotId(1)]), 'export', 'animatic'],
  },
  {
    change: 'the pinned seed of shot 3',
    from: pinned,
    edit: (p) => withShotSeed(p, shotId(3), 4243),
    expected: [...shotStepIds([shotId(3)]), 'export', 'animatic'],
  },
  {
    // A new sheet means a new reference and palette for every shot: all of them are redrawn.
    change: 'the prompt of sheet panel 3',
    from: withOwnPanels,
    edit: (p) => withPanelPrompt(p, 3, 'portrait study of the keeper in an oilskin coat'),
    expected: ['sheet:panel-3', 'sheet:compose', ...shotStepIds(allShots), 'export', 'animatic'],
  },
  {
    change: 'the style',
    edit: (p) => withStylePrompt(p, 'flat graphic novel inks, crimson and charcoal palette, hard shadows'),
    expected: allStepIds(base),
  },
  { change: 'nothing, but fresh: true is set', edit: (p) => p, fresh: true, expected: allStepIds(base) },
];

describe('rerunning a project after a change', () => {
  it.each(changes)(
    'after changing $change recomputes exactly what depends on it',
    async ({ from, edit, fresh, expected }) => {
      const ws = await workspace();
      const original = from ?? base;
      const first = await succeed(ws, original);
      const edited = edit(original);
      const bookmark = lastExecutionId(ws);
      const backend = new FaultInjectingBackend();
      const second = await succeed(ws, edited, backend, fresh ?? false);

      expect(sorted(second.executedSteps)).toEqual(sorted(expected));
      expect(sorted(executedSince(ws, second.runId, bookmark))).toEqual(sorted(expected));
      expect(sorted(second.reusedSteps)).toEqual(
        sorted(allStepIds(base).filter((s) => !expected.includes(s))),
      );
      // Generation work is what the backend was asked for: nothing when nothing changed.
      const generated = expected.filter((s) => s.startsWith('generate:') || s.startsWith('sheet:panel-'));
      expect(backend.calls.filter((c) => c.purpose !== 'regenerate')).toHaveLength(generated.length);
      // Frames of shots that were not recomputed are the very same artifacts.
      for (const shot of second.shots) {
        const before = first.shots.find((s) => s.shotId === shot.shotId)!;
        if (!expected.includes(`qa:${shot.shotId}`)) expect(shot.frameSha256).toBe(before.frameSha256);
      }
      if (expected.includes('export') && !fresh) expect(second.export!.dir).not.toBe(first.export!.dir);
      // What the manifest reports is what was drawn: every shot's seed is the edited project's.
      if (second.export) {
        const manifest = await manifestOf(second.export.dir);
        const reported = Object.fromEntries(manifest.seeds.shots.map((s) => [s.shotId, s.seed]));
        for (const shot of second.shots) expect(reported[shot.shotId]).toBe(shot.seed);
      }
    },
  );

  it('after an edited shot prompt gives that shot, and only that shot, a new frame', async () => {
    const ws = await workspace();
    const first = await succeed(ws, base);
    const second = await succeed(
      ws,
      withShotPrompt(base, shotId(2), 'The keeper drops the logbook as thunder shakes the tower'),
    );
    const changed = second.shots
      .filter((s, i) => s.frameSha256 !== first.shots[i]!.frameSha256)
      .map((s) => s.shotId);
    expect(changed).toEqual([shotId(2)]);
    expect(second.sheet.sha256).toBe(first.sheet.sha256);
  });

  it('after its export folder was deleted rewrites only the export', async () => {
    const ws = await workspace();
    const first = await succeed(ws, base);
    await rm(first.export!.dir, { recursive: true });
    const second = await succeed(ws, base);
    expect(second.executedSteps).toEqual(['export', 'animatic']);
    expect(sorted(second.reusedSteps)).toEqual(sorted([...sheetStepIds(), ...shotStepIds(allShots)]));
  });
});

describe('a new output size with a backend that generates at a capped size', () => {
  it('reuses every generated frame, re-promotes each from the store, and stores the frames a fresh run does', async () => {
    // The draft renderer with a generation cap, as a ComfyUI backend has: 320x180 and 384x216 both generate at
    // 160x90, so only promotion (streamed from the stored frame), QA and the export depend on the new size.
    const capped = () => Object.assign(createDraftBackend({ capacity: 2 }), { maxGenerationSide: 160 });
    const ok = async (w: TempWorkspace, project: Project): Promise<PipelineResult> => {
      const run = await runOn(w, project, { backend: capped() });
      expect(run.result?.status).toBe('succeeded');
      return run.result!;
    };
    const small = makeProject({ id: 'resize', shots: 3, width: 320, height: 180 });
    const large = makeProject({ id: 'resize', shots: 3, width: 384, height: 216 });
    const ws = await workspace();
    await ok(ws, small);
    const rerun = await ok(ws, large);
    const ids = large.shots.map((s) => s.id);
    expect(sorted(rerun.executedSteps)).toEqual(
      sorted([...ids.flatMap((id) => [`promote:${id}`, `qa:${id}`]), 'export', 'animatic']),
    );

    const fresh = await ok(await workspace(), large);
    expect(rerun.shots.map((s) => s.frameSha256)).toEqual(fresh.shots.map((s) => s.frameSha256));
    expect(await frameHashes(rerun.export!.dir)).toEqual(await frameHashes(fresh.export!.dir));
  });
});

async function frameHashes(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(join(dir, 'shots'))).filter((n) => n.endsWith('.png')).sort();
  const out: Record<string, string> = {};
  for (const name of names) {
    out[name] = createHash('sha256')
      .update(await readFile(join(dir, 'shots', name)))
      .digest('hex');
  }
  return out;
}

async function manifestOf(dir: string): Promise<ExportManifest> {
  return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ExportManifest;
}

describe('two fresh runs of the same project in separate workspaces', () => {
  it('produce byte-identical frames and the same stable manifest, whatever the concurrency', async () => {
    const [a, b] = [await workspace(), await workspace()];
    const runA = await runOn(a, base, { concurrency: 1 });
    const runB = await runOn(b, base, { concurrency: 2 });
    expect(runA.result?.status).toBe('succeeded');
    expect(runB.result?.status).toBe('succeeded');
    const dirA = runA.result!.export!.dir;
    const dirB = runB.result!.export!.dir;

    const framesA = await frameHashes(dirA);
    expect(Object.keys(framesA)).toHaveLength(base.shots.length);
    expect(await frameHashes(dirB)).toEqual(framesA);
    expect(stableManifestView(await manifestOf(dirB))).toEqual(stableManifestView(await manifestOf(dirA)));
    expect(runB.result!.sheet.sha256).toBe(runA.result!.sheet.sha256);
  });
});
