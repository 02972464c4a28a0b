import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';

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

let namespace: string | null | undefined;

/**
 * The pid namespace this process lives in (`pid:[4026531836]` on Linux), or null where there is none to read. Two
 * processes can compare pids only inside one namespace: a container, or `unshare -p`, numbers its processes from 1
 * again on the same hostname.
 */
export function pidNamespace(): string | null {
  if (namespace !== undefined) return namespace;
  try {
    namespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    namespace = null;
  }
  return namespace;
}

/**
 * 8 hex digits naming where pids of this process mean something: the hostname and the pid namespace. Temporaries
 * carry it, so a sweep knows which dead-pid temporaries are certainly its own host's.
 */
export function hostTag(): string {
  return createHash('sha256')
    .update(`${hostname()}\0${pidNamespace() ?? ''}`)
    .digest('hex')
    .slice(0, 8);
}
