import { stat } from 'node:fs/promises';

/** True when a process with this pid exists (EPERM means it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temporaries younger than this are never swept, whatever their pid says. */
export const ABANDONED_AFTER_MS = 10 * 60 * 1000;

/**
 * Whether a pid-tagged temporary may be removed once its pid is dead here: only when it has not been touched for
 * ABANDONED_AFTER_MS. A pid is only meaningful on this host; on a folder shared between machines the same pid may
 * be another host's live writer, whose file keeps changing.
 */
export async function isAbandoned(path: string, now = Date.now()): Promise<boolean> {
  try {
    return now - (await stat(path)).mtimeMs > ABANDONED_AFTER_MS;
  } catch {
    return false;
  }
}
