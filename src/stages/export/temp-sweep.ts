import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
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
    await rm(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
