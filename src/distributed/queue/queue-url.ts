import { ValidationError } from '../../core/errors.js';

/**
 * Which server a queue URL names, read once at the edge: the backend it selects, and how to print it. Pure (no
 * driver imported), so a bad `--queue` value fails before bullmq, pg or ioredis are loaded.
 */

export type QueueBackendKind = 'postgres' | 'redis';

export interface QueueLocation {
  kind: QueueBackendKind;
  /** The URL as given (with its password): only ever handed to the driver. */
  url: string;
  /** `postgres://user@host:port/db` — no password, no query string (which may carry `password=` or key paths). */
  redacted: string;
  /** `host:port` */
  server: string;
}

const SCHEMES: Record<string, { kind: QueueBackendKind; defaultPort: number }> = {
  'postgres:': { kind: 'postgres', defaultPort: 5432 },
  'postgresql:': { kind: 'postgres', defaultPort: 5432 },
  'redis:': { kind: 'redis', defaultPort: 6379 },
  'rediss:': { kind: 'redis', defaultPort: 6379 },
};

function invalid(message: string): ValidationError {
  return new ValidationError(message, [{ path: 'queue', message }]);
}

/** Parses `postgres://`, `postgresql://`, `redis://` or `rediss://`; anything else is a ValidationError. */
export function parseQueueUrl(url: string): QueueLocation {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(
      `queue URL ${redactLoose(url)} is not a URL: expected postgres://user:password@host:5432/database or redis://host:6379`,
    );
  }
  const scheme = SCHEMES[parsed.protocol];
  if (!scheme) {
    throw invalid(
      `queue URL scheme "${parsed.protocol}" is not supported: use postgres:// (or postgresql://) for PostgreSQL, ` +
        'redis:// (or rediss:// for TLS) for Redis',
    );
  }
  if (parsed.hostname === '') throw invalid(`queue URL ${redactLoose(url)} names no host`);
  const path = parsed.pathname.replace(/^\//, '');
  if (scheme.kind === 'redis' && path !== '' && !/^\d+$/.test(path)) {
    throw invalid(`queue URL ${redactLoose(url)}: a Redis URL's path is a database number, not "${path}"`);
  }
  const server = `${parsed.hostname}:${parsed.port === '' ? scheme.defaultPort : parsed.port}`;
  const user = parsed.username === '' ? '' : `${decodeURIComponent(parsed.username)}@`;
  return {
    kind: scheme.kind,
    url,
    redacted: `${parsed.protocol}//${user}${server}${path === '' ? '' : `/${path}`}`,
    server,
  };
}

/** For a string that is not even a URL: drop anything between `//` and `@`, and the query string. */
function redactLoose(text: string): string {
  return JSON.stringify(text.replace(/\/\/[^@/]*@/, '//…@').replace(/\?.*$/, ''));
}
