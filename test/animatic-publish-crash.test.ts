import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostTag } from '../src/core/process-liveness.js';
import { projectSchema } from '../src/project/schema.js';
import { verifyExport, verifyZip } from '../src/stages/export/index.js';
import { publish, type PublishStep } from '../src/stages/export/temp-sweep.js';
import { runOn } from './helpers/pipeline-harness.js';
import { makeProjectInput } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

/**
 * A run killed while the animatic step renames its files into the export (player, timelines and video first, then
 * the manifest, then the zip) left an export whose manifest or zip no longer described its files: the next run
 * judged the export damaged and wrote it again — a finished step executed twice (crash-resume.test.ts caught it,
 * rarely, under load). The publish now logs its renames first and the next run finishes them.
 */

const withDurations = (seconds: number) => {
  const input = makeProjectInput({ id: 'publish-crash', shots: 3 });
  return projectSchema.parse({
    ...input,
    shots: input.shots.map((s) => ({ ...s, durationSeconds: seconds })),
  });
};

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const name of await readdir(dir, { recursive: true, withFileTypes: false })) {
    const bytes = await readFile(path.join(dir, name)).catch(() => undefined);
    if (bytes !== undefined) out.set(name, bytes);
  }
  return out;
}

describe('an animatic killed half-way through publishing into its export', () => {
  it('is finished by the next run, which then reuses the export instead of writing it again', async () => {
    ws = await createTempWorkspace();
    const first = await runOn(ws, withDurations(2));
    expect(first.result?.status).toBe('succeeded');
    const { dir, zipPath } = first.result!.export!;
    const outDir = path.dirname(dir);
    const stash = path.join(ws.root, 'stash');
    await cp(dir, path.join(stash, 'old'), { recursive: true });
    await copyFile(zipPath, path.join(stash, 'old.zip'));

    // A duration change reruns the animatic alone, in place: the new files are what the killed run was publishing.
    const second = await runOn(ws, withDurations(3));
    expect(second.result!.executedSteps).toEqual(['animatic']);
    expect(second.result!.export!.dir).toBe(dir);
    const oldFiles = await filesOf(path.join(stash, 'old'));
    const newFiles = await filesOf(dir);
    const changed = [...newFiles.keys()].filter((f) => !oldFiles.get(f)?.equals(newFiles.get(f)!)).sort();
    expect(changed).toEqual(expect.arrayContaining(['manifest.json', 'timeline.otio', 'qa_report.html']));
    const newZip = await readFile(zipPath);

    // The state the killed run left: its work folder (named for a process that is gone) holding the new files and
    // the log, the export with the old files, and every rename before the manifest's already done.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    const work = path.join(outDir, `.tmp-${hostTag()}-${deadPid}-${randomBytes(8).toString('hex')}`);
    await mkdir(work);
    await rm(dir, { recursive: true });
    await cp(path.join(stash, 'old'), dir, { recursive: true });
    await copyFile(path.join(stash, 'old.zip'), zipPath);
    const steps: PublishStep[] = [];
    for (const rel of [...changed.filter((f) => f !== 'manifest.json'), 'manifest.json']) {
      const temp = rel.replaceAll('/', '_');
      await writeFile(path.join(work, temp), newFiles.get(rel)!);
      steps.push({ rename: temp, to: `${path.basename(dir)}/${rel}` });
    }
    await writeFile(path.join(work, 'package.zip'), newZip);
    steps.push({ rename: 'package.zip', to: path.basename(zipPath) });
    // The real publish, stopped where a kill would stop it: the manifest's target is in the way (a folder).
    await rm(path.join(dir, 'manifest.json'));
    await mkdir(path.join(dir, 'manifest.json', 'blocker'), { recursive: true });
    await expect(publish(outDir, work, steps)).rejects.toThrow();
    await rm(path.join(dir, 'manifest.json'), { recursive: true });
    await copyFile(path.join(stash, 'old', 'manifest.json'), path.join(dir, 'manifest.json'));
    // Half-published: new player and timelines, the old manifest — which no longer describes them.
    expect((await verifyExport(dir)).length).toBeGreaterThan(0);

    const resumed = await runOn(ws, withDurations(3));
    expect(resumed.result?.status).toBe('succeeded');
    expect(resumed.result!.executedSteps).toEqual([]);
    expect(resumed.result!.export!.dir).toBe(dir);
    expect(await verifyExport(dir, { hashes: true })).toEqual([]);
    expect(await verifyZip(zipPath, { hashes: true })).toEqual([]);
    expect(await filesOf(dir)).toEqual(newFiles);
    expect((await readdir(outDir)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });
});
