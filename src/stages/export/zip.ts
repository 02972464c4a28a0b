import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { throwIfAborted } from '../../core/abort.js';
import { compareCodeUnits } from './manifest.js';

export interface ZipEntrySource {
  /** Name inside the zip, `/`-separated. */
  name: string;
  /** File on disk to store. */
  file: string;
}

export interface WriteZipOptions {
  /** Timestamp of every entry, so the archive does not depend on when the files were written. */
  mtime: Date;
  signal?: AbortSignal;
}

/**
 * PNG (and JPEG/WebP) data is already compressed: deflating it again costs time and gains ~nothing, so those are
 * stored. Text (JSON, HTML) is deflated.
 */
export function shouldCompress(name: string): boolean {
  return !/\.(png|jpe?g|webp|zip|mp4|m4a)$/i.test(name);
}

/**
 * Writes a deterministic zip at `zipPath`: entries sorted by name, fixed mtime and mode, stored or deflated by type,
 * flushed to disk before returning. On failure the partial file is removed. Callers that publish the zip write it
 * under a temporary name and rename it (see exportPackage), so the final name never holds a partial archive.
 */
export async function writeZip(
  entries: ZipEntrySource[],
  zipPath: string,
  options: WriteZipOptions,
): Promise<void> {
  const { signal, mtime } = options;
  throwIfAborted(signal);
  const zip = new yazl.ZipFile();
  // yazl reports a file it cannot stat or read on the ZipFile itself, not on its output stream: unheard, that is
  // an uncaught exception that kills the process. Fail the output stream instead, so the pipeline below rejects.
  zip.on('error', (error: Error) => (zip.outputStream as Readable).destroy(error));
  for (const entry of [...entries].sort((a, b) => compareCodeUnits(a.name, b.name))) {
    zip.addFile(entry.file, entry.name, { mtime, mode: 0o100644, compress: shouldCompress(entry.name) });
  }
  zip.end();
  try {
    await pipeline(zip.outputStream, createWriteStream(zipPath, { mode: 0o644 }), signal ? { signal } : {});
    throwIfAborted(signal);
    const handle = await open(zipPath, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await rm(zipPath, { force: true });
    // pipeline rejects with a platform AbortError; callers expect our typed cancellation.
    throwIfAborted(signal);
    throw error;
  }
}
