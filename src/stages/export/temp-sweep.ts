import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDirectory, writeFileDurable } from '../../core/fs-atomic.js';
import { hostTag, isAbandoned, isProcessAlive } from '../../core/process-liveness.js';
import { safeJoin } from '../../core/safe-path.js';

/**
 * `.tmp-<host tag>-<pid>-<16 hex>` (the folder) and the same with `.zip`: the names an export builds under. Names
 * without the host tag (`.tmp-<pid>-<16 hex>`) are those of older versions, still recognised.
 */
const TEMP_NAME = /^\.tmp-(?:([0-9a-f]{8})-)?(\d+)-[0-9a-f]{16}(\.zip)?$/;

/** Where an export in progress builds its folder and zip: hidden, and tagged with the host and pid that own them. */
export function exportTempPaths(outDir: string): { tmpDir: string; tmpZip: string } {
  const base = `.tmp-${hostTag()}-${process.pid}-${randomBytes(8).toString('hex')}`;
  return { tmpDir: safeJoin(outDir, base), tmpZip: safeJoin(outDir, `${base}.zip`) };
}

/**
 * Removes the temporaries of exports whose process is gone (killed mid-export: `kill -9`, a power cut, a second
 * Ctrl-C), at the start of the next export. Those of a live process are left alone, so two exports into one folder
 * never delete each other's work. A temporary tagged with this host (hostname and pid namespace) whose pid is dead
 * here is certainly abandoned, whatever its age: a `kill -9` leaves ~30 MB that go at once. One from another host
 * (an outDir shared between machines) or from an older version cannot be judged by its pid, so it goes only once
 * it has been untouched for ten minutes. Only names of exactly our pattern are touched. Returns the names removed.
 */
export async function sweepAbandonedTemps(outDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  const here = hostTag();
  const removed: string[] = [];
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (!match || isProcessAlive(Number(match[2]))) continue;
    const path = safeJoin(outDir, name);
    if (match[1] !== here && !(await isAbandoned(path))) continue;
    // A process killed half-way through publishing: finish it (every file it made is here), rather than leave the
    // export with some files new and some old, which its manifest or zip would no longer describe.
    if (match[3] === undefined) await rollForward(outDir, path);
    await rm(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** The roll-forward log of a publish, in its work folder. */
const PUBLISH_LOG = 'publish.json';

/** One step of a publish: a temporary (a name in the work folder) renamed to its place, or a file removed. */
export type PublishStep = { rename: string; to: string } | { remove: string };

/**
 * Puts several files in place as one change that a crash cannot leave half-done: the steps (paths relative to
 * `outDir`, temporaries as names in `work`) are written durably to a log in the work folder first, then done in
 * order, with the folders fsynced at the end. If the process dies between two renames, the next sweep of `outDir`
 * (`sweepAbandonedTemps`) finds the log and finishes the steps before removing the work folder. Before this, an
 * animatic killed between renaming the player and the manifest left an export its own manifest called damaged, and
 * the export step ran again on resume.
 */
export async function publish(outDir: string, work: string, steps: readonly PublishStep[]): Promise<void> {
  await writeFileDurable(safeJoin(work, PUBLISH_LOG), JSON.stringify(steps));
  await applySteps(outDir, work, steps);
}

async function applySteps(outDir: string, work: string, steps: readonly PublishStep[]): Promise<void> {
  const touched = new Set<string>();
  for (const step of steps) {
    if ('remove' in step) {
      await rm(safeJoin(outDir, ...step.remove.split('/')), { force: true });
      continue;
    }
    const to = safeJoin(outDir, ...step.to.split('/'));
    // Already renamed by the run that was killed (renames are done in order): nothing left to do for this one.
    if (!(await exists(safeJoin(work, step.rename)))) continue;
    await rename(safeJoin(work, step.rename), to);
    touched.add(dirname(to));
  }
  for (const dir of touched) await fsyncDirectory(dir);
}

async function rollForward(outDir: string, work: string): Promise<void> {
  let steps: PublishStep[];
  try {
    steps = JSON.parse(await readFile(safeJoin(work, PUBLISH_LOG), 'utf8')) as PublishStep[];
  } catch {
    return; // no log (killed before publishing) or a log cut short (killed while writing it: nothing renamed yet)
  }
  await applySteps(outDir, work, steps);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
