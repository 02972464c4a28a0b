import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import { stableManifestView, type ExportManifest } from '../../src/stages/export/index.js';
import type { ExecutionRecord } from '../../src/store/index.js';
import { REPO_ROOT } from './cli.js';

/** What the crash loop checks after each round: the export against the reference, and the journal's promises. */

/** Where two JSON values first differ (`$.frames[2].seed: 1 ≠ 2`), or undefined when they are equal. */
export function firstDifference(actual: unknown, expected: unknown, path = '$'): string | undefined {
  if (isDeepStrictEqual(actual, expected)) return undefined;
  if (typeof actual === 'object' && actual !== null && typeof expected === 'object' && expected !== null) {
    const keys = new Set([...Object.keys(actual), ...Object.keys(expected)]);
    for (const key of keys) {
      const diff = firstDifference(
        (actual as Record<string, unknown>)[key],
        (expected as Record<string, unknown>)[key],
        Array.isArray(actual) ? `${path}[${key}]` : `${path}.${key}`,
      );
      if (diff !== undefined) return diff;
    }
  }
  return `${path}: ${JSON.stringify(actual)?.slice(0, 120)} ≠ ${JSON.stringify(expected)?.slice(0, 120)}`;
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

export async function frameHashes(exportDir: string): Promise<Record<string, string>> {
  const names = (await readdir(join(exportDir, 'shots'))).sort();
  const out: Record<string, string> = {};
  for (const name of names) out[name] = await sha256File(join(exportDir, 'shots', name));
  return out;
}

export async function manifestView(exportDir: string): Promise<unknown> {
  const manifest = JSON.parse(await readFile(join(exportDir, 'manifest.json'), 'utf8')) as ExportManifest;
  return stableManifestView(manifest);
}

/** The journal's promises, checked on the executions table of one workspace. */
export function journalProblems(executions: readonly ExecutionRecord[]): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, ExecutionRecord[]>();
  for (const e of executions) {
    const key = `${e.stepId}@${e.inputHash.slice(0, 12)}`;
    byKey.set(key, [...(byKey.get(key) ?? []), e]);
  }
  for (const [key, list] of byKey) {
    const done = list.filter((e) => e.outcome === 'done');
    if (done.length > 1)
      problems.push(`${key} finished ${done.length} times (executions ${done.map((e) => e.id).join(', ')})`);
    const first = done[0];
    if (first?.finishedAt === undefined) continue;
    for (const e of list) {
      if (e.id > first.id || e.startedAt > first.finishedAt) {
        problems.push(
          `${key} ran again (execution ${e.id}, started ${e.startedAt}) after it finished at ${first.finishedAt}`,
        );
      }
    }
  }
  for (const e of executions) {
    if (e.outcome === 'running')
      problems.push(`execution ${e.id} of ${e.stepId} is still 'running' with every process gone`);
  }
  return problems;
}

/**
 * Size and mtime of every compiled file the CLI runs. A rebuild in the middle of a crash run would compare two
 * versions of the code against each other, so it is detected and reported instead of blamed on resume.
 */
export async function distFingerprint(): Promise<string> {
  const root = join(REPO_ROOT, 'dist');
  const entries = await readdir(root, { recursive: true });
  const hash = createHash('sha256');
  for (const name of entries.filter((n) => n.endsWith('.js')).sort()) {
    const info = await stat(join(root, name));
    hash.update(`${name}:${info.size}:${info.mtimeMs};`);
  }
  return hash.digest('hex');
}

export function integrity(dbPath: string): string {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.pragma('integrity_check') as Array<{ integrity_check: string }>)
      .map((r) => r.integrity_check)
      .join('; ');
  } finally {
    db.close();
  }
}
