import { hostname } from 'node:os';
import type pg from 'pg';
import { cancellationFrom, throwIfAborted } from '../../core/abort.js';
import { NotFoundError, StoreError, ValidationError } from '../../core/errors.js';
import { pidNamespace } from '../../core/process-liveness.js';
import { runFromRow } from '../rows.js';
import type { RunRow } from '../rows.js';
import type { RunRecord } from '../run-store.js';
import { redactUrl, storeErrorFromPg } from './postgres-errors.js';
import type { PostgresPlace } from './postgres-errors.js';
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from './postgres-migrations.js';

export interface PostgresConnectionOptions {
  /** Schema holding the tables (created when missing). @default 'storycore' */
  schema?: string;
  /** Connections kept by this process. @default 10 */
  poolSize?: number;
  /** How long connecting may take before the call fails (retryably). @default 10000 */
  connectTimeoutMs?: number;
  /** How long a statement may go unanswered before it fails (retryably). @default 60000 */
  queryTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Statements of one call: `rows` returns the rows, `run` the number of rows changed. */
export interface Sql {
  rows<R>(text: string, params?: readonly unknown[]): Promise<R[]>;
  run(text: string, params?: readonly unknown[]): Promise<number>;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

/**
 * One pool of connections to the store's schema, migrated. Every access goes through `read` or `write`, which turn
 * driver failures into our errors naming the server (never the password) and the operation.
 */
export class PostgresConnection {
  readonly place: PostgresPlace;
  readonly hostname = hostname();
  readonly pidNamespace = pidNamespace();
  readonly #pool: pg.Pool;
  #closed = false;

  private constructor(pool: pg.Pool, place: PostgresPlace) {
    this.#pool = pool;
    this.place = place;
  }

  static async open(url: string, options: PostgresConnectionOptions = {}): Promise<PostgresConnection> {
    const schema = options.schema ?? 'storycore';
    if (!SCHEMA_NAME.test(schema)) {
      throw new ValidationError(
        `schema ${JSON.stringify(schema)} is not a plain lowercase PostgreSQL identifier`,
        [{ path: 'schema', message: 'expected [a-z_][a-z0-9_]*, at most 63 characters' }],
      );
    }
    const place = placeOf(url, schema);
    throwIfAborted(options.signal);
    // Loaded here, not at the top: `storycore --version` and every embedded run never pay for the driver.
    const { default: driver } = await import('pg');
    const pool = new driver.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      keepAlive: true,
      // A server that froze (SIGSTOP, a hung host) or vanished without closing the socket answers nothing and the
      // socket stays open: without a bound a call would wait for ever. pg rejects the statement ("Query read
      // timeout", retryable: see postgres-errors) and the failed connection is destroyed, not reused; an idle
      // connection to a vanished host is probed after 10 s instead of the OS's two hours.
      query_timeout: options.queryTimeoutMs ?? 60_000,
      keepAliveInitialDelayMillis: 10_000,
      // Every statement names its tables unqualified; the search path puts them in the store's schema.
      options: `-c search_path=${schema}`,
      application_name: 'storycore',
      // bigint columns (ids, ms timestamps) stay far below 2^53: numbers, not strings.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID
            ? Number
            : driver.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
      },
    });
    // An idle connection the server drops (a restart, kill -9) emits 'error' on the pool; without a listener that
    // would crash the process. The pool discards that connection and the next call opens a fresh one.
    pool.on('error', () => {});
    const connection = new PostgresConnection(pool, place);
    // pg takes no AbortSignal: an abort settles the open at once (a server that accepts and never answers would
    // otherwise hold it for connectTimeoutMs) and ends the pool behind it.
    const { signal } = options;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(cancellationFrom(signal as AbortSignal));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([connection.#migrate(schema), aborted]);
      return connection;
    } catch (error) {
      void pool.end().catch(() => {});
      throw storeErrorFromPg(error, 'open', place);
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Brings the schema to POSTGRES_SCHEMA_VERSION in one transaction under an advisory lock, so several processes
   * opening the store at once migrate it exactly once (the others wait, then find nothing to do). DDL is
   * transactional in PostgreSQL: a migration interrupted half-way leaves the previous version intact.
   */
  async #migrate(schema: string): Promise<void> {
    await this.write('migrate', async (sql) => {
      await sql.run('SELECT pg_advisory_xact_lock(hashtext($1))', [`storycore:migrate:${schema}`]);
      await sql.run(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await sql.run(
        `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const [row] = await sql.rows<{ version: number | null }>(
        'SELECT max(version) AS version FROM schema_migrations',
      );
      const current = row?.version ?? 0;
      if (current > POSTGRES_SCHEMA_VERSION) {
        throw new StoreError(
          `run store postgres at ${this.place.server} schema ${schema} has version ${current}, newer than this ` +
            `StoryCore build understands (${POSTGRES_SCHEMA_VERSION}); upgrade StoryCore or use another schema`,
          { details: { ...this.place, schemaVersion: current, supportedVersion: POSTGRES_SCHEMA_VERSION } },
        );
      }
      for (let version = current; version < POSTGRES_SCHEMA_VERSION; version++) {
        await sql.run(POSTGRES_MIGRATIONS[version] as string);
        await sql.run('INSERT INTO schema_migrations (version) VALUES ($1)', [version + 1]);
      }
    });
  }

  /** Statements outside a transaction (each one atomic by itself). */
  async read<T>(operation: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
    this.#assertOpen(operation);
    try {
      return await fn(sqlOn(this.#pool));
    } catch (error) {
      throw storeErrorFromPg(error, operation, this.place);
    }
  }

  /**
   * Runs `fn` in one transaction on one connection, with the server's clock (ms) read at its start: every time the
   * store writes or judges (leases, timestamps) comes from that one clock, so machines whose clocks disagree still
   * agree on which lease is stale. `rollback: true` undoes everything at the end (a dry run). A connection that
   * failed mid-way is destroyed, never handed to the next call.
   */
  async write<T>(
    operation: string,
    fn: (sql: Sql, now: number) => Promise<T>,
    options: { rollback?: boolean } = {},
  ): Promise<T> {
    this.#assertOpen(operation);
    let client: pg.PoolClient | undefined;
    let broken: unknown;
    try {
      client = await this.#pool.connect();
      // A checked-out client has no 'error' listener of the pool's: a server dying mid-transaction would emit an
      // unhandled 'error' (and crash the process) besides failing the query, which is what reports it here.
      client.on('error', ignore);
      // One round trip: BEGIN and the clock together (the simple protocol takes several statements).
      const results = (await client.query(
        'BEGIN; SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now',
      )) as unknown as pg.QueryResult[];
      const now = (results[1]?.rows[0] as { now: number }).now;
      const value = await fn(sqlOn(client), now);
      await client.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
      return value;
    } catch (error) {
      if (client !== undefined) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError;
        }
      }
      throw storeErrorFromPg(error, operation, this.place);
    } finally {
      client?.removeListener('error', ignore);
      client?.release(broken === undefined ? undefined : true);
    }
  }

  async requireRun(sql: Sql, id: string): Promise<RunRecord> {
    const [row] = await sql.rows<RunRow>('SELECT * FROM runs WHERE id = $1', [id]);
    if (row === undefined) throw this.runNotFound(id);
    return runFromRow(row);
  }

  runNotFound(id: string): NotFoundError {
    return new NotFoundError(`run ${id} not found in the run store at ${this.place.server}`, {
      details: { runId: id },
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  #assertOpen(operation: string): void {
    if (this.#closed) {
      throw new StoreError(
        `run store postgres at ${this.place.server}: store is closed (during ${operation})`,
        {
          details: { ...this.place, operation },
        },
      );
    }
  }
}

function ignore(): void {}

function sqlOn(queryable: pg.Pool | pg.PoolClient): Sql {
  return {
    rows: async <R>(text: string, params: readonly unknown[] = []) =>
      (await queryable.query(text, params as unknown[])).rows as R[],
    run: async (text: string, params: readonly unknown[] = []) =>
      (await queryable.query(text, params as unknown[])).rowCount ?? 0,
  };
}

/** Host, port and database of a URL, for messages; the URL itself (with its password) is never kept. */
function placeOf(url: string, schema: string): PostgresPlace {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // No cause: URL's TypeError carries the input, password and all.
    throw new ValidationError(`the run store URL ${redactUrl(url)} is not a URL`, [
      { path: 'url', message: 'expected postgres://user:password@host:port/database' },
    ]);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ValidationError(`the run store URL ${redactUrl(url)} is not a postgres:// URL`, [
      { path: 'url', message: `expected postgres:// or postgresql://, got ${parsed.protocol}//` },
    ]);
  }
  const host = parsed.hostname === '' ? 'localhost' : parsed.hostname;
  const database =
    decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username);
  return { server: `${host}:${parsed.port || '5432'}`, database: database || 'postgres', schema };
}
