import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { isAbandoned, isProcessAlive } from '../../core/process-liveness.js';
import { safeJoin } from '../../core/safe-path.js';

/** `.tmp-<pid>-<16 hex>` (the folder) and the same with `.zip`: the names an export builds under. */
const TEMP_NAME = /^\.tmp-(\d+)-[0-9a-f]{16}(\.zip)?$/;

/** Where an export in progress builds its folder and zip: hidden, and tagged with the pid that owns them. */
export function exportTempPaths(outDir: string): { tmpDir: string; tmpZip: string } {
  const base = `.tmp-${process.pid}-${randomBytes(8).toString('hex')}`;
  return { tmpDir: safeJoin(outDir, base), tmpZip: safeJoin(outDir, `${base}.zip`) };
}

/**
 * Removes the temporaries of exports whose process is gone (killed mid-export: `kill -9`, a power cut, a second
 * Ctrl-C). Those of a live process are left alone, so two exports into one folder never delete each other's work.
 * The pid test is local, so on an outDir shared between machines only temporaries untouched for ten minutes go,
 * and only names of exactly our pattern are touched. Returns the names removed.
 */
export async function sweepAbandonedTemps(outDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (!match || isProcessAlive(Number(match[1]))) continue;
    const path = safeJoin(outDir, name);
    if (!(await isAbandoned(path))) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
