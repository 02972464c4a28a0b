import { throwIfAborted } from '../core/abort.js';
import { ValidationError } from '../core/errors.js';
import { ABANDONED_AFTER_MS } from '../core/process-liveness.js';
import type { WorkspaceStore } from './workspace-store.js';

export interface CollectGarbageOptions {
  /** Newest runs kept per project; the newest succeeded run of each project is always kept. @default 5 */
  keepRuns?: number;
  /** Report what would be freed without removing anything. @default false */
  dryRun?: boolean;
  /** Drop exactly these runs (a user deleting them) instead of all but the newest `keepRuns`; live ones stay. */
  dropRuns?: readonly string[];
  signal?: AbortSignal;
}

export interface CollectGarbageResult {
  /** Runs whose journal rows were dropped. */
  droppedRuns: string[];
  /** Memoised results dropped (a rerun that needs one recomputes it). */
  droppedMemo: number;
  /** Artifact files removed, and their bytes. */
  freedFiles: number;
  freedBytes: number;
  /** Projects being generated while gc ran: nothing of theirs was dropped. */
  liveProjects: string[];
  /** Temporaries of dead writers removed along the way. */
  sweptTemps: number;
  dryRun: boolean;
}

/**
 * Filesystem timestamps come from the kernel's coarse clock, which may lag Date.now() by a tick: a file written
 * just after gc started must never look older than gc's start.
 */
const CLOCK_SLACK_MS = 1000;

/**
 * `storycore gc`: drops runs not kept and the memo rows no kept run uses (one transaction), then removes the artifacts
 * nothing kept references. Safe while another process generates: a live run's project keeps all its runs and memo
 * rows; artifacts written after gc began are never removed; and while some run is live, neither are artifacts written
 * in the ABANDONED_AFTER_MS before, which covers an artifact stored by a live step that has not journaled it yet.
 */
export async function collectGarbage(
  workspace: WorkspaceStore,
  options: CollectGarbageOptions = {},
): Promise<CollectGarbageResult> {
  const keepRuns = options.keepRuns ?? 5;
  if (!Number.isInteger(keepRuns) || keepRuns < 0) {
    throw new ValidationError(`keepRuns must be an integer ≥ 0, got ${keepRuns}`, [
      { path: 'keepRuns', message: 'expected an integer ≥ 0' },
    ]);
  }
  const dryRun = options.dryRun ?? false;
  throwIfAborted(options.signal);
  // Taken before the snapshot: whatever a run puts after it is newer than this, so it is never removed.
  const started = Date.now();
  workspace.runs.markStaleRunsInterrupted();
  const pruned = workspace.runs.pruneRuns({
    keepRuns,
    dryRun,
    ...(options.dropRuns ? { dropRuns: options.dropRuns } : {}),
  });
  const grace = pruned.liveProjects.length > 0 ? ABANDONED_AFTER_MS : 0;
  const sweptTemps = dryRun ? 0 : await workspace.artifacts.sweepAbandonedTemps(opts(options.signal));
  const freed = await workspace.artifacts.collectUnreferenced(pruned.referenced, {
    writtenBefore: started - CLOCK_SLACK_MS - grace,
    dryRun,
    ...opts(options.signal),
  });
  return {
    droppedRuns: pruned.droppedRuns,
    droppedMemo: pruned.droppedMemo,
    freedFiles: freed.files,
    freedBytes: freed.bytes,
    liveProjects: pruned.liveProjects,
    sweptTemps,
    dryRun,
  };
}

function opts(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}
