import { ValidationError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';

export interface ArtifactCallOptions {
  signal?: AbortSignal;
}

export interface ArtifactGetOptions extends ArtifactCallOptions {
  /**
   * Recompute the sha256 of the bytes read and fail on a mismatch, so a damaged file never reaches
   * a decoder as "valid" input. Hashing costs ~2 ms per MB.
   * @default true
   */
  verify?: boolean;
}

/**
 * The artifact seam: content-addressed bytes, wherever they are kept. `LocalArtifactStore` is a folder (the embedded
 * default, and a shared NFS folder); `S3ArtifactStore` is an S3-compatible bucket. The pipeline, the server and the
 * CLI use only this, so a worker on another machine reads and writes the same artifacts as the one that started
 * the run.
 *
 * What every implementation keeps (the contract suite, test/helpers/artifact-store-contract.ts, checks each):
 * - an artifact's name is the sha256 of its bytes, so storing the same bytes twice, or from two workers at once,
 *   leaves one artifact, and a duplicate write is harmless;
 * - an artifact is visible under its name only when complete (a crashed or aborted put leaves nothing under it),
 *   which is what lets the journal record a step after its artifacts are stored and trust them after any crash;
 * - bytes that no longer match their name (damaged behind the store's back) never pass for the artifact: `get`
 *   fails naming the sha and removes them, `verify` answers false, `removeDamaged` removes them, and a `put` of
 *   the right bytes heals them — so the step that made them runs again instead of failing the same way forever;
 * - failures are errors of our hierarchy: a missing artifact is a `NotFoundError` naming the sha, a store that
 *   cannot be reached a retryable `StoreError` naming where it is (never credentials), a cancel a `CancelledError`.
 */
export interface ArtifactStore {
  /** Stores the bytes and returns their sha256. Storing bytes that are already there writes nothing. */
  put(bytes: Uint8Array, options?: ArtifactCallOptions): Promise<string>;
  /** The artifact's bytes; NotFoundError when missing, StoreError when they no longer match their hash. */
  get(sha: string, options?: ArtifactGetOptions): Promise<Buffer>;
  has(sha: string, options?: ArtifactCallOptions): Promise<boolean>;
  /** Size in bytes, or undefined when the artifact is missing. */
  sizeOf(sha: string, options?: ArtifactCallOptions): Promise<number | undefined>;
  /** Reads the stored bytes and recomputes their hash: true when present and intact. */
  verify(sha: string, options?: ArtifactCallOptions): Promise<boolean>;
  /**
   * Verifies each artifact and removes the damaged ones (so the steps that made them run again next time).
   * Returns the hashes removed. For after a failure: hashing every artifact on every reuse would cost more than
   * the reuse saves.
   */
  removeDamaged(shas: Iterable<string>, options?: ArtifactCallOptions): Promise<string[]>;
  /** Where the store is, for messages: `artifact folder /srv/ws/artifacts`, `s3://bucket/prefix at http://…`. */
  describe(): string;
  /** A URL naming where one artifact lives (`file:///…/ab/cdef…`, `s3://bucket/prefix/ab/cdef…`). */
  urlOf(sha: string): string;
  /**
   * The fast path of a store on a file system: the file holding the artifact (whether or not it exists yet), so an
   * export can copy it in the kernel and the server can stream it. Absent on stores that are not files.
   */
  localPath?(sha: string): string;
  /** Releases connections (an S3 client's sockets). Absent when there is nothing to release. */
  close?(): void;
}

const SHA256 = /^[0-9a-f]{64}$/;

export { sha256Hex };

/** Throws ValidationError unless `sha` is 64 lowercase hex digits, which is what keeps paths and keys inside the store. */
export function assertSha256(sha: string): void {
  if (typeof sha !== 'string' || !SHA256.test(sha)) {
    throw new ValidationError(`not a sha256 hex digest: ${JSON.stringify(sha)}`, [
      { path: 'sha256', message: 'expected 64 lowercase hex characters' },
    ]);
  }
}

/** Whether `sha` is 64 lowercase hex digits. */
export function isSha256(sha: string): boolean {
  return SHA256.test(sha);
}
