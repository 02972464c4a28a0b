import { rm } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { ConflictError } from '../core/errors.js';
import type { SequenceGenerationService } from '../pipeline/sequence-generation-service.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import type { RunStore, StepRecord } from '../store/run-store.js';
import { collectGarbage } from '../store/workspace-gc.js';

export interface DeletedRuns {
  /** The runs whose records, journal and events are gone. */
  deleted: string[];
  /** Artifact files no remaining run references, removed, and their bytes. */
  freedFiles: number;
  freedBytes: number;
  /** Export folders and zips removed (only under the server's export folder, and only when no other run uses them). */
  removedExports: string[];
}

/**
 * Deletes runs of one project: their records, journals and events, the memoised results only they made (a later run
 * recomputes those), the artifacts nothing else references, and the exports they published in the server's export
 * folder that no remaining run reused. A live run — here or in another process (the CLI) — is refused with a 409
 * naming it, before anything is removed.
 */
export async function deleteProjectRuns(
  service: SequenceGenerationService,
  liveHere: (runId: string) => boolean,
  projectId: string,
  runIds: readonly string[],
  signal?: AbortSignal,
): Promise<DeletedRuns> {
  const workspace = service.getStore();
  const store = workspace.runs;
  const live = store.runHolders(projectId).filter((h) => h.live || liveHere(h.run.id));
  for (const id of runIds) {
    if (liveHere(id) || live.some((h) => h.run.id === id)) {
      throw new ConflictError(`run ${id} of project "${projectId}" is live: cancel it first`, {
        details: { projectId, runId: id },
      });
    }
  }
  // What the runs wrote or reused: the last run using an export (say an unchanged rerun) takes it along.
  const exports = runIds.flatMap((id) => exportsOf(store, id));
  const gc = await collectGarbage(workspace, { dropRuns: runIds, ...(signal ? { signal } : {}) });
  // A folder another run of the project wrote or reused is that run's export too.
  const stillUsed = new Set(runIdsOf(store, projectId).flatMap((id) => exportsOf(store, id)));
  const removedExports: string[] = [];
  for (const path of new Set(exports)) {
    if (stillUsed.has(path) || !inside(service.outDir, path)) continue;
    await rm(path, { recursive: true, force: true });
    removedExports.push(path);
  }
  return { deleted: gc.droppedRuns, freedFiles: gc.freedFiles, freedBytes: gc.freedBytes, removedExports };
}

/** Every run id of a project, newest first. */
export function runIdsOf(store: RunStore, projectId: string): string[] {
  return store.listRuns({ projectId, limit: Number.MAX_SAFE_INTEGER }).map((r) => r.id);
}

/** The export folder and zip a run's export step wrote or reused. */
function exportsOf(store: RunStore, runId: string): string[] {
  return exportPaths(store.listSteps(runId));
}

function exportPaths(steps: readonly StepRecord[]): string[] {
  const step = steps.find((s) => s.stepId === 'export' && (s.status === 'done' || s.status === 'reused'));
  const output = step?.output as { dir?: unknown; zipPath?: unknown } | null | undefined;
  return [output?.dir, output?.zipPath].filter((p): p is string => typeof p === 'string');
}

/** Whether `path` lies strictly inside `dir`: exports elsewhere (a CLI run's `--out`) are the user's files. */
function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * Deletes runs of one project from a shared run store (`serve --queue`): their records, journals and events and the
 * memoised results only they made, and the exports they published in the studio's export folder that no remaining
 * run uses. The artifacts stay: the shared folder or bucket may be referenced by journals this store cannot see, so
 * collecting it is left to the store's owner. A live run, here or anywhere, is refused with a 409 naming it.
 */
export async function deleteSharedRuns(
  store: AsyncRunStore,
  outDir: string,
  liveHere: (runId: string) => boolean,
  projectId: string,
  runIds: readonly string[],
): Promise<DeletedRuns> {
  const live = (await store.runHolders(projectId)).filter((h) => h.live || liveHere(h.run.id));
  for (const id of runIds) {
    if (liveHere(id) || live.some((h) => h.run.id === id)) {
      throw new ConflictError(`run ${id} of project "${projectId}" is live: cancel it first`, {
        details: { projectId, runId: id },
      });
    }
  }
  const exportsOfRun = async (id: string): Promise<string[]> => exportPaths(await store.listSteps(id));
  const exports = (await Promise.all(runIds.map(exportsOfRun))).flat();
  const pruned = await store.pruneRuns({ keepRuns: 0, dropRuns: runIds });
  const remaining = (await store.listRuns({ projectId, limit: Number.MAX_SAFE_INTEGER })).map((r) => r.id);
  const stillUsed = new Set((await Promise.all(remaining.map(exportsOfRun))).flat());
  const removedExports: string[] = [];
  for (const path of new Set(exports)) {
    if (stillUsed.has(path) || !inside(outDir, path)) continue;
    await rm(path, { recursive: true, force: true });
    removedExports.push(path);
  }
  return { deleted: pruned.droppedRuns, freedFiles: 0, freedBytes: 0, removedExports };
}
