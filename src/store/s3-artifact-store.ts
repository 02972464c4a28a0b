import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type * as S3SdkModule from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { cancellationFrom, throwIfAborted } from '../core/abort.js';
import { classifyError } from '../core/error-classify.js';
import {
  CancelledError,
  NotFoundError,
  StoreError,
  ValidationError,
  errorMessage,
  isCancellation,
} from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import {
  assertSha256,
  type ArtifactCallOptions,
  type ArtifactGetOptions,
  type ArtifactStore,
} from './artifact-store.js';

type S3Sdk = typeof S3SdkModule;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3ArtifactStoreOptions {
  bucket: string;
  /** Key prefix the artifacts live under (`<prefix>/ab/cdef…`); no leading or trailing slash. @default '' */
  prefix?: string;
  /** An S3-compatible endpoint (MinIO, Ceph, s3rver): `http://127.0.0.1:4569`. @default AWS S3 of the region */
  endpoint?: string;
  /** @default AWS_REGION, else us-east-1 */
  region?: string;
  /** `http://endpoint/bucket/key` instead of `http://bucket.endpoint/key` (what most S3-compatible servers need). @default false */
  forcePathStyle?: boolean;
  /** @default the SDK's chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), profiles, roles */
  credentials?: S3Credentials;
  /** Attempts per request inside the SDK (our steps retry on top). @default 3 */
  maxAttempts?: number;
  /** Longest wait for a connection. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Longest silence on an open connection: a server that stops answering fails (retryably) instead of hanging a
   * step. Silence, not total time, so a large transfer that keeps moving is never cut. @default 60000
   */
  idleTimeoutMs?: number;
}

/** What a HEAD says about a stored object: enough to tell, without downloading it, whether it holds given bytes. */
interface Head {
  size: number;
  etag?: string;
  checksumSha256?: string;
}

type Outcome = 'intact' | 'damaged' | 'missing';

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// The server found the bytes it received differ from the checksum sent with them: damaged in transit, worth a retry.
const DIGEST_ERRORS = new Set([
  'BadDigest',
  'InvalidDigest',
  'XAmzContentSHA256Mismatch',
  'XAmzContentChecksumMismatch',
]);
const THROTTLED = new Set([
  'SlowDown',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'ServiceUnavailable',
  'InternalError',
]);

/**
 * Artifacts in an S3-compatible bucket, under `<prefix>/ab/cdef…` (the sha256 of the bytes), so every worker of a
 * studio reads and writes the same artifacts. An S3 PUT is atomic (an object is visible whole or not at all) and
 * carries the bytes' sha256 (`x-amz-checksum-sha256`, which the content address gives for free), so a server that
 * checks it (AWS, MinIO) rejects a torn or damaged upload instead of storing it. A put of bytes already stored is
 * one HEAD; two workers storing the same bytes at once write the same object, which is harmless.
 *
 * The SDK is loaded by `open`, not by importing this module: `storycore --version` and every embedded run stay free
 * of it.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly #sdk: S3Sdk;
  readonly #client: S3Client;

  /** Loads the SDK and makes the client. Contacts nothing: the first call does (`check` reports a bad bucket early). */
  static async open(options: S3ArtifactStoreOptions): Promise<S3ArtifactStore> {
    checkOptions(options);
    // A notice that SDK releases of 2027 will need Node 22: this version is pinned, so it is not the user's concern
    // and must not be printed into a CLI's output. Only when the user did not choose.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const sdk = await import('@aws-sdk/client-s3');
    return new S3ArtifactStore(sdk, options);
  }

  private constructor(sdk: S3Sdk, options: S3ArtifactStoreOptions) {
    this.#sdk = sdk;
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.endpoint = options.endpoint === undefined ? undefined : withoutUserInfo(options.endpoint);
    this.#client = new sdk.S3Client({
      region: options.region ?? process.env['AWS_REGION'] ?? 'us-east-1',
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      maxAttempts: options.maxAttempts ?? 3,
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 5000,
        socketTimeout: options.idleTimeoutMs ?? 60_000,
      },
      // We send the sha256 ourselves and verify every read against it: the SDK's own CRC32s would be extra work.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  describe(): string {
    return `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''} at ${this.endpoint ?? 'AWS S3'}`;
  }

  urlOf(sha: string): string {
    return `s3://${this.bucket}/${this.#key(sha)}`;
  }

  close(): void {
    this.#client.destroy();
  }

  /** Fails with a clear StoreError when the bucket is missing, unreachable or not ours to use. */
  async check(options: ArtifactCallOptions = {}): Promise<void> {
    const command = new this.#sdk.HeadBucketCommand({ Bucket: this.bucket });
    try {
      await this.#call(options.signal, 'check the bucket', undefined, (client, o) => client.send(command, o));
    } catch (error) {
      // A HEAD has no body to say NoSuchBucket: its 404 is the bucket's.
      if (!(error instanceof NotFoundError)) throw error;
      throw new StoreError(`bucket "${this.bucket}" does not exist at ${this.endpoint ?? 'AWS S3'}`, {
        cause: error,
        details: error.details,
      });
    }
  }

  async put(bytes: Uint8Array, options: ArtifactCallOptions = {}): Promise<string> {
    const { signal } = options;
    throwIfAborted(signal);
    const sha = sha256Hex(bytes);
    const head = await this.#head(sha, signal);
    // Already there and the same bytes: nothing to send. Other bytes under this name (damaged) are overwritten,
    // which is how a recomputed step heals the store.
    if (head !== undefined && holds(head, bytes, sha)) return sha;
    throwIfAborted(signal);
    const put = new this.#sdk.PutObjectCommand({
      Bucket: this.bucket,
      Key: this.#key(sha),
      Body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      ContentLength: bytes.byteLength,
      ContentType: 'application/octet-stream',
      ChecksumSHA256: Buffer.from(sha, 'hex').toString('base64'),
    });
    await this.#call(signal, `store artifact ${sha}`, sha, (client, o) => client.send(put, o));
    return sha;
  }

  async get(sha: string, options: ArtifactGetOptions = {}): Promise<Buffer> {
    const { signal } = options;
    throwIfAborted(signal);
    const chunks: Buffer[] = [];
    const found = await this.#read(sha, signal, (chunk) => chunks.push(chunk));
    if (!found) {
      throw new NotFoundError(`artifact ${sha} not found (expected at ${this.urlOf(sha)})`, {
        details: { sha256: sha, url: this.urlOf(sha) },
      });
    }
    const bytes = Buffer.concat(chunks);
    if (options.verify !== false) {
      const actual = sha256Hex(bytes);
      if (actual !== sha) {
        // Removed, as from a folder: the journal only reuses artifacts that exist, so the step that made this one
        // runs again instead of failing on the same damaged object forever.
        await this.#delete(sha, undefined).catch(() => undefined);
        throw new StoreError(
          `artifact ${sha} at ${this.urlOf(sha)} was damaged (its ${bytes.length} bytes hash to ${actual}); ` +
            'it has been removed, and the next run recomputes it',
          { details: { sha256: sha, actual, url: this.urlOf(sha), size: bytes.length } },
        );
      }
    }
    return bytes;
  }

  async has(sha: string, options: ArtifactCallOptions = {}): Promise<boolean> {
    return (await this.#head(sha, options.signal)) !== undefined;
  }

  async sizeOf(sha: string, options: ArtifactCallOptions = {}): Promise<number | undefined> {
    return (await this.#head(sha, options.signal))?.size;
  }

  async verify(sha: string, options: ArtifactCallOptions = {}): Promise<boolean> {
    return (await this.#check(sha, options.signal)) === 'intact';
  }

  async removeDamaged(shas: Iterable<string>, options: ArtifactCallOptions = {}): Promise<string[]> {
    const removed: string[] = [];
    for (const sha of new Set(shas)) {
      if ((await this.#check(sha, options.signal)) !== 'damaged') continue;
      await this.#delete(sha, options.signal);
      removed.push(sha);
    }
    return removed;
  }

  #key(sha: string): string {
    assertSha256(sha);
    const name = `${sha.slice(0, 2)}/${sha.slice(2)}`;
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  /** Streams the object through a hash (never whole in memory). */
  async #check(sha: string, signal: AbortSignal | undefined): Promise<Outcome> {
    throwIfAborted(signal);
    const hash = createHash('sha256');
    const found = await this.#read(sha, signal, (chunk) => hash.update(chunk));
    if (!found) return 'missing';
    return hash.digest('hex') === sha ? 'intact' : 'damaged';
  }

  async #head(sha: string, signal: AbortSignal | undefined): Promise<Head | undefined> {
    throwIfAborted(signal);
    try {
      // ChecksumMode: servers that keep the uploaded checksum return it, so `put` can compare without a download.
      const command = new this.#sdk.HeadObjectCommand({
        Bucket: this.bucket,
        Key: this.#key(sha),
        ChecksumMode: 'ENABLED',
      });
      const head = await this.#call(signal, `look up artifact ${sha}`, sha, (client, o) =>
        client.send(command, o),
      );
      return {
        size: head.ContentLength ?? 0,
        ...(head.ETag === undefined ? {} : { etag: head.ETag }),
        ...(head.ChecksumSHA256 === undefined ? {} : { checksumSha256: head.ChecksumSHA256 }),
      };
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  /** Feeds the object's bytes to `onChunk`; false when there is no such object. */
  async #read(
    sha: string,
    signal: AbortSignal | undefined,
    onChunk: (chunk: Buffer) => void,
  ): Promise<boolean> {
    let body: Readable;
    try {
      const command = new this.#sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.#key(sha) });
      const response = await this.#call(signal, `read artifact ${sha}`, sha, (client, o) =>
        client.send(command, o),
      );
      body = response.Body as Readable;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
    // The request's signal no longer reaches a body being streamed: an abort destroys the stream itself.
    const onAbort = (): void => {
      body.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of body) onChunk(chunk as Buffer);
    } catch (error) {
      throw this.#failure(error, signal, `read artifact ${sha}`, sha);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    throwIfAborted(signal);
    return true;
  }

  async #delete(sha: string, signal: AbortSignal | undefined): Promise<void> {
    const command = new this.#sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(sha) });
    await this.#call(signal, `remove damaged artifact ${sha}`, sha, (client, o) => client.send(command, o));
  }

  /** One SDK call with the caller's signal, its failure turned into our hierarchy. */
  async #call<Output>(
    signal: AbortSignal | undefined,
    doing: string,
    sha: string | undefined,
    send: (client: S3Client, options: { abortSignal?: AbortSignal }) => Promise<Output>,
  ): Promise<Output> {
    try {
      // Every command gets the caller's signal: an abort cancels the HTTP request itself, not only our wait.
      return await send(this.#client, signal === undefined ? {} : { abortSignal: signal });
    } catch (error) {
      throw this.#failure(error, signal, doing, sha);
    }
  }

  /**
   * Turns what the SDK threw into our hierarchy. Messages name the bucket, the key and the endpoint — never the
   * credentials, which the SDK keeps out of its errors too.
   */
  #failure(error: unknown, signal: AbortSignal | undefined, doing: string, sha: string | undefined): Error {
    if (signal?.aborted) return cancellationFrom(signal);
    if (isCancellation(error)) return new CancelledError('user', { cause: error });
    const where = this.describe();
    const details: Record<string, unknown> = {
      bucket: this.bucket,
      ...(this.endpoint === undefined ? {} : { endpoint: this.endpoint }),
      ...(sha === undefined ? {} : { sha256: sha, url: this.urlOf(sha) }),
    };
    const service = serviceErrorOf(error);
    if (service === undefined) {
      // No answer from a server: refused, reset, timed out, name not resolved. The endpoint may be back soon.
      const retryable = classifyError(error).retryable;
      return new StoreError(
        `cannot ${doing}: ${retryable ? 'no answer from' : 'failed talking to'} ${where}: ${errorMessage(error)}`,
        { cause: error, details, retryable },
      );
    }
    const { name, status } = service;
    if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket')) {
      return new NotFoundError(`cannot ${doing}: not found in ${where}`, { cause: error, details });
    }
    if (name === 'NoSuchBucket') {
      return new StoreError(
        `cannot ${doing}: bucket "${this.bucket}" does not exist at ${this.endpoint ?? 'AWS S3'}`,
        {
          cause: error,
          details,
        },
      );
    }
    if (status === 401 || status === 403) {
      return new StoreError(
        `cannot ${doing}: ${where} refused the credentials (${name}); ` +
          'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy',
        { cause: error, details },
      );
    }
    if (DIGEST_ERRORS.has(name)) {
      return new StoreError(
        `cannot ${doing}: ${where} received bytes that do not match their checksum (${name}: damaged in transit)`,
        { cause: error, details, retryable: true },
      );
    }
    const retryable = THROTTLED.has(name) || status === 429 || status >= 500;
    return new StoreError(`cannot ${doing}: ${where} answered ${name} (HTTP ${status})`, {
      cause: error,
      details: { ...details, status },
      retryable,
    });
  }
}

/** An S3 service error: the server answered (with a status), as opposed to no answer at all. */
function serviceErrorOf(error: unknown): { name: string; status: number } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = e.$metadata?.httpStatusCode;
  if (typeof status !== 'number') return undefined;
  return { name: typeof e.name === 'string' ? e.name : 'Error', status };
}

/**
 * Whether the object a HEAD describes holds exactly these bytes: its stored sha256 when the server keeps one, else
 * its ETag when that is the MD5 of a single-part upload (S3 without KMS, MinIO, s3rver), else its size. A HEAD is
 * enough to heal an object damaged by a rewrite; bit rot inside the server is for `verify`.
 */
function holds(head: Head, bytes: Uint8Array, sha: string): boolean {
  if (head.size !== bytes.byteLength) return false;
  if (head.checksumSha256 !== undefined && !head.checksumSha256.includes('-')) {
    return head.checksumSha256 === Buffer.from(sha, 'hex').toString('base64');
  }
  const etag = head.etag?.replace(/"/g, '');
  if (etag !== undefined && /^[0-9a-f]{32}$/.test(etag)) {
    return etag === createHash('md5').update(bytes).digest('hex');
  }
  return true;
}

function withoutUserInfo(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.href.replace(/\/$/, '');
  } catch {
    return endpoint;
  }
}

function checkOptions(options: S3ArtifactStoreOptions): void {
  if (!BUCKET_NAME.test(options.bucket) || options.bucket.includes('..')) {
    throw new ValidationError(`invalid S3 bucket name ${JSON.stringify(options.bucket)}`, [
      {
        path: 'bucket',
        message: '3 to 63 lowercase letters, digits, dots or hyphens, starting and ending alphanumeric',
      },
    ]);
  }
  if (options.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(options.endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new ValidationError(`invalid S3 endpoint ${JSON.stringify(withoutUserInfo(options.endpoint))}`, [
        { path: 'endpoint', message: 'expected an http:// or https:// URL' },
      ]);
    }
    if (url.username !== '' || url.password !== '') {
      // Not echoed: that part of the URL is a secret.
      throw new ValidationError('the S3 endpoint must not carry credentials', [
        { path: 'endpoint', message: 'give them as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY instead' },
      ]);
    }
  }
  for (const [name, value] of [
    ['maxAttempts', options.maxAttempts],
    ['connectTimeoutMs', options.connectTimeoutMs],
    ['idleTimeoutMs', options.idleTimeoutMs],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new ValidationError(`invalid S3 option ${name}: ${value}`, [
        { path: name, message: 'expected a positive integer' },
      ]);
    }
  }
}
