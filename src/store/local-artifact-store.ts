import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cancellationFrom, throwIfAborted } from '../core/abort.js';
import { hashFile, sha256Hex } from '../core/hash.js';
import { NotFoundError, StoreError, errorMessage } from '../core/errors.js';
import { isAbandoned, isProcessAlive } from '../core/process-liveness.js';
import {
  assertSha256,
  isSha256,
  type ArtifactCallOptions,
  type ArtifactGetOptions,
  type ArtifactStore,
} from './artifact-store.js';

/**
 * `<62 hex>.tmp-<pid>-<hex>`: a put's temporary file, tagged with the writing process; `<62 hex>.gc-<pid>`: an
 * artifact a gc had set aside for removal when it died.
 */
const TEMP_NAME = /^[0-9a-f]{62}\.(?:tmp-(\d+)-[0-9a-f]+|gc-(\d+))$/;

/**
 * Content-addressed artifact folder: the bytes with sha256 `abcdef…` live at `<root>/ab/cdef…`.
 * Writes are atomic (temp file in the same folder, fsync, rename, fsync of the folder), so a file
 * under its final name is always complete; that is what lets the journal record a step only after
 * its artifacts are stored and trust them after any crash.
 *
 * The same class serves a folder shared by several machines (NFS): a rename within one directory is atomic there
 * too, so readers see a whole file or none; temporaries carry the writer's pid and a random suffix, so two hosts
 * never write the same temporary; and two workers storing the same artifact at once write the same bytes under
 * the same name, so whichever rename lands last changes nothing. (Sweeping another host's temporaries waits until
 * they are old: a pid means nothing across hosts.)
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** The file that holds the artifact (whether or not it exists yet). */
  localPath(sha: string): string {
    assertSha256(sha);
    return join(this.root, sha.slice(0, 2), sha.slice(2));
  }

  describe(): string {
    return `artifact folder ${this.root}`;
  }

  urlOf(sha: string): string {
    return pathToFileURL(this.localPath(sha)).href;
  }

  /** Stores the bytes and returns their sha256. Storing bytes that are already there is a no-op. */
  async put(bytes: Uint8Array, options: ArtifactCallOptions = {}): Promise<string> {
    throwIfAborted(options.signal);
    const sha = sha256Hex(bytes);
    const path = this.localPath(sha);
    // Already there: touched, so that a `gc` running meanwhile sees a fresh file and leaves it to the step that is
    // about to journal it (see collectUnreferenced). If gc took it between the check and the touch, write it again.
    if ((await this.#holds(path, bytes)) && (await touch(path))) return sha;
    throwIfAborted(options.signal);
    const dir = join(this.root, sha.slice(0, 2));
    const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(dir, { recursive: true });
      const handle = await open(temp, 'wx');
      try {
        // The signal stops a large write between chunks; the temporary is removed below, so nothing is left.
        await handle.writeFile(bytes, options.signal === undefined ? {} : { signal: options.signal });
        await handle.sync();
      } finally {
        await handle.close();
      }
      throwIfAborted(options.signal);
      await rename(temp, path);
      await syncDir(dir);
    } catch (error) {
      await rm(temp, { force: true });
      if (options.signal?.aborted) throw cancellationFrom(options.signal);
      throw new StoreError(`cannot store artifact ${sha} at ${path}: ${errorMessage(error)}`, {
        cause: error,
        details: { sha256: sha, path },
      });
    }
    return sha;
  }

  /**
   * Removes temporary files of puts whose process died mid-write (`<sha>.tmp-<pid>-<hex>` beside the artifact):
   * a `kill -9` between open and rename leaves one. Temporaries of live processes are kept, so concurrent runs in
   * one workspace never lose an artifact being written; so are recent ones, since a pid means nothing on another
   * host sharing the workspace. Returns how many were removed.
   */
  async sweepAbandonedTemps(options: ArtifactCallOptions = {}): Promise<number> {
    let shards: string[];
    try {
      shards = await readdir(this.root);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const shard of shards) {
      throwIfAborted(options.signal);
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await readdir(join(this.root, shard))) {
        const match = TEMP_NAME.exec(name);
        if (!match || isProcessAlive(Number(match[1] ?? match[2]))) continue;
        const path = join(this.root, shard, name);
        if (!(await isAbandoned(path))) continue;
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  /**
   * Removes every artifact not in `referenced` whose file was last written before `writtenBefore` (ms since the
   * epoch). Returns how many files and bytes went (or would go, with `dryRun`).
   *
   * Safe beside live runs: a run stores an artifact (put) and only then journals it, so an artifact a live run is
   * about to journal is unreferenced for a moment. Every put writes or touches the file, and gc only removes files
   * older than `writtenBefore`; a file is first renamed aside and its age checked again, so a put that touched it in
   * between is seen (the file is put back), and a put that comes after the rename finds no file and writes it anew.
   */
  async collectUnreferenced(
    referenced: ReadonlySet<string>,
    options: ArtifactCallOptions & { writtenBefore: number; dryRun?: boolean },
  ): Promise<{ files: number; bytes: number }> {
    let shards: string[];
    try {
      shards = await readdir(this.root);
    } catch {
      return { files: 0, bytes: 0 };
    }
    let files = 0;
    let bytes = 0;
    for (const shard of shards.sort()) {
      throwIfAborted(options.signal);
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await readdir(join(this.root, shard))) {
        const sha = shard + name;
        if (!isSha256(sha) || referenced.has(sha)) continue;
        const path = join(this.root, shard, name);
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile() || info.mtimeMs >= options.writtenBefore) continue;
        if (options.dryRun) {
          files++;
          bytes += info.size;
          continue;
        }
        const aside = `${path}.gc-${process.pid}`;
        try {
          await rename(path, aside);
        } catch {
          continue; // gone already (another gc, a damaged-file removal)
        }
        const again = await stat(aside);
        if (again.mtimeMs >= options.writtenBefore) {
          // A put touched it in the meantime: it is being journaled, put it back (unless the put rewrote it).
          await rename(aside, path).catch(() => rm(aside, { force: true }));
          continue;
        }
        await rm(aside, { force: true });
        files++;
        bytes += again.size;
      }
    }
    return { files, bytes };
  }

  /** The artifact's bytes; NotFoundError when missing, StoreError when the file no longer matches its hash. */
  async get(sha: string, options: ArtifactGetOptions = {}): Promise<Buffer> {
    throwIfAborted(options.signal);
    const path = this.localPath(sha);
    let bytes: Buffer;
    try {
      bytes = await readFile(path, options.signal === undefined ? {} : { signal: options.signal });
    } catch (error) {
      throwIfAborted(options.signal);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`artifact ${sha} not found (expected at ${path})`, {
          cause: error,
          details: { sha256: sha, path },
        });
      }
      throw new StoreError(`cannot read artifact ${sha} at ${path}: ${errorMessage(error)}`, {
        cause: error,
        details: { sha256: sha, path },
      });
    }
    if (options.verify !== false) {
      const actual = sha256Hex(bytes);
      if (actual !== sha) {
        // Removed, not kept: the journal only reuses artifacts that exist, so the step that made this one runs
        // again on the next run instead of failing on the same damaged file forever.
        await rm(path, { force: true });
        throw new StoreError(
          `artifact ${sha} at ${path} was damaged (its ${bytes.length} bytes hash to ${actual}); ` +
            'it has been removed, and the next run recomputes it',
          { details: { sha256: sha, actual, path, size: bytes.length } },
        );
      }
    }
    return bytes;
  }

  async has(sha: string, options: ArtifactCallOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal);
    const path = this.localPath(sha);
    // A synchronous stat: microseconds on a local (or attribute-cached NFS) folder, where the promise version's
    // round trip through libuv's thread pool costs ~0.3 ms — which, over the hundred memo checks of an unchanged
    // rerun, was a tenth of its time.
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  }

  /** Size in bytes, or undefined when the artifact is missing. */
  async sizeOf(sha: string, options: ArtifactCallOptions = {}): Promise<number | undefined> {
    throwIfAborted(options.signal);
    try {
      const info = await stat(this.localPath(sha));
      return info.isFile() ? info.size : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Verifies each artifact and removes the damaged ones (so the steps that made them run again next time).
   * Returns the hashes removed. For after a failure: hashing every artifact on every reuse would cost more than
   * the reuse saves.
   */
  async removeDamaged(shas: Iterable<string>, options: ArtifactCallOptions = {}): Promise<string[]> {
    const removed: string[] = [];
    for (const sha of new Set(shas)) {
      if ((await this.has(sha, options)) && !(await this.verify(sha, options))) {
        await rm(this.localPath(sha), { force: true });
        removed.push(sha);
      }
    }
    return removed;
  }

  /** Re-reads the file and recomputes its hash: true when it is present and intact. Streams, so any size is fine. */
  async verify(sha: string, options: ArtifactCallOptions = {}): Promise<boolean> {
    const path = this.localPath(sha);
    throwIfAborted(options.signal);
    let actual: string;
    try {
      actual = (await hashFile(path, options.signal)).sha256;
    } catch (error) {
      throwIfAborted(options.signal);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new StoreError(`cannot read artifact ${sha} at ${path}: ${errorMessage(error)}`, {
        cause: error,
        details: { sha256: sha, path },
      });
    }
    return actual === sha;
  }

  /**
   * True when `path` already holds exactly these bytes. A same-named file with other bytes (damaged
   * on disk) is reported false so that `put` rewrites it, which is how a recomputed step heals the store.
   */
  async #holds(path: string, bytes: Uint8Array): Promise<boolean> {
    try {
      const info = await stat(path);
      if (!info.isFile() || info.size !== bytes.byteLength) return false;
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(await readFile(path));
    } catch {
      return false;
    }
  }
}

/** Sets the file's times to now; false when the file is gone. */
async function touch(path: string): Promise<boolean> {
  const now = new Date();
  try {
    await utimes(path, now, now);
    return true;
  } catch {
    return false;
  }
}

/** Makes the rename itself durable. Directories cannot be opened for fsync on Windows; there the rename is left to NTFS. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
