import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../core/errors.js';
import type { ArtifactStore } from './artifact-store.js';
import { LocalArtifactStore } from './local-artifact-store.js';
import type { S3ArtifactStoreOptions } from './s3-artifact-store.js';

export interface OpenArtifactStoreOptions extends Pick<
  S3ArtifactStoreOptions,
  'credentials' | 'maxAttempts' | 'connectTimeoutMs' | 'idleTimeoutMs'
> {
  /** What relative folder paths resolve from. @default process.cwd() */
  cwd?: string;
}

const S3_PARAMETERS = new Set(['endpoint', 'region', 'forcePathStyle']);

/**
 * The artifact store a location names:
 * - `s3://bucket/prefix?endpoint=http://127.0.0.1:4569&region=us-east-1&forcePathStyle=true` — a bucket (the query
 *   is for S3-compatible servers; credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the SDK's
 *   other sources, never from the location, which ends up in logs);
 * - a folder path or `file://` URL — a folder, local or shared (NFS) by every worker.
 * The S3 SDK is loaded only for an `s3://` location.
 */
export async function openArtifactStore(
  location: string,
  options: OpenArtifactStoreOptions = {},
): Promise<ArtifactStore> {
  if (typeof location !== 'string' || location.trim() === '') {
    throw new ValidationError('no artifact store given', [
      { path: 'artifacts', message: 'expected s3://bucket/prefix or a folder path' },
    ]);
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return new LocalArtifactStore(resolve(options.cwd ?? process.cwd(), location));
  if (scheme === 'file') return new LocalArtifactStore(fileURLToPath(location));
  if (scheme !== 's3') {
    throw new ValidationError(`unsupported artifact store ${JSON.stringify(scheme + '://…')}`, [
      { path: 'artifacts', message: 'expected s3://bucket/prefix, a file:// URL or a folder path' },
    ]);
  }
  const { S3ArtifactStore } = await import('./s3-artifact-store.js');
  return S3ArtifactStore.open({ ...parseS3Location(location), ...s3Options(options) });
}

/** `s3://bucket/prefix?endpoint=…&region=…&forcePathStyle=true` → the store's options (exported for tests and the CLI). */
export function parseS3Location(location: string): S3ArtifactStoreOptions {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new ValidationError(`invalid artifact store location ${JSON.stringify(redact(location))}`, [
      { path: 'artifacts', message: 'expected s3://bucket/prefix?endpoint=…' },
    ]);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ValidationError('the artifact store location must not carry credentials', [
      { path: 'artifacts', message: 'give them as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY instead' },
    ]);
  }
  const issues = [...url.searchParams.keys()]
    .filter((key) => !S3_PARAMETERS.has(key))
    .map((key) => ({
      path: `artifacts.${key}`,
      message: `unknown parameter (known: ${[...S3_PARAMETERS].join(', ')})`,
    }));
  const forcePathStyle = url.searchParams.get('forcePathStyle');
  if (forcePathStyle !== null && forcePathStyle !== 'true' && forcePathStyle !== 'false') {
    issues.push({
      path: 'artifacts.forcePathStyle',
      message: `expected true or false, got ${JSON.stringify(forcePathStyle)}`,
    });
  }
  if (issues.length > 0) {
    throw new ValidationError(`invalid artifact store location ${JSON.stringify(redact(location))}`, issues);
  }
  const endpoint = url.searchParams.get('endpoint');
  const region = url.searchParams.get('region');
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  return {
    bucket: url.hostname,
    ...(prefix === '' ? {} : { prefix }),
    ...(endpoint === null ? {} : { endpoint }),
    ...(region === null ? {} : { region }),
    ...(forcePathStyle === null ? {} : { forcePathStyle: forcePathStyle === 'true' }),
  };
}

function s3Options(options: OpenArtifactStoreOptions): Partial<S3ArtifactStoreOptions> {
  const { cwd: _cwd, ...rest } = options;
  return rest;
}

/** The location without anything that could be a secret (userinfo), for messages. */
function redact(location: string): string {
  return location.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}
