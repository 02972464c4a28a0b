import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from './abort.js';

/** Writes `data` and flushes it to the disk before returning, so a later rename publishes complete bytes. */
export async function writeFileDurable(filePath: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(filePath, 'w', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes a directory's entries (new names, renames) to disk. Some platforms cannot open a directory for
 * syncing (Windows, some network file systems); there the rename is as durable as the OS makes it, so we go on.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch {
    // EINVAL/EISDIR/EPERM on platforms without directory fsync: nothing more we can do.
  } finally {
    await handle.close();
  }
}

/** A name for a temporary sibling of `target`: same folder (so rename stays on one file system), hidden, unique. */
export function tempSiblingPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${randomBytes(6).toString('hex')}`);
}

export interface WriteFileAtomicOptions {
  signal?: AbortSignal;
}

/**
 * Replaces `filePath` with `data` so that readers (and a crash) see either the old file or the whole new one:
 * temp file in the same folder, fsync, rename over the target, fsync the folder. The temp file is removed on failure.
 */
export async function writeFileAtomic(
  filePath: string,
  data: Uint8Array | string,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  throwIfAborted(options.signal);
  const temp = tempSiblingPath(filePath);
  try {
    await writeFileDurable(temp, data);
    throwIfAborted(options.signal);
    await rename(temp, filePath);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(path.dirname(filePath));
}
