import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { NotFoundError, isStoryCoreError } from '../core/errors.js';
import { migrate } from './migrations.js';
import { runFromRow } from './rows.js';
import type { RunRow } from './rows.js';
import type { RunRecord } from './run-store.js';
import { storeErrorFrom } from './sqlite-errors.js';

export interface SqliteConnectionOptions {
  /** Path of the database file (created with its folder when missing), e.g. `<workspace>/storycore.db`. */
  path: string;
  /** How long a write waits for another process's write lock before failing with a "locked" StoreError. @default 5000 */
  busyTimeoutMs?: number;
}

/**
 * One open, migrated database with a prepared-statement cache. Every access goes through `read` or
 * `write`, which turn driver failures into StoreError naming the file and the operation.
 */
export class SqliteConnection {
  readonly path: string;
  readonly busyTimeoutMs: number;
  readonly hostname = hostname();
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  private constructor(db: Database.Database, path: string, busyTimeoutMs: number) {
    this.#db = db;
    this.path = path;
    this.busyTimeoutMs = busyTimeoutMs;
  }

  static open(options: SqliteConnectionOptions): SqliteConnection {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(options.path), { recursive: true });
      db = new Database(options.path, { timeout: busyTimeoutMs });
      db.pragma('journal_mode = WAL');
      // Durability trade-off: in WAL mode, synchronous=NORMAL fsyncs only at checkpoints, not at every
      // commit. A committed transaction is already in the WAL file (handed to the OS by write()), so it
      // survives the process being killed (kill -9, crash, OOM) at any instant, which is what resume
      // needs. Only an OS crash or power loss can drop the last few commits, and even then the database
      // stays consistent; the steps lost are simply recomputed. FULL would fsync on every event append.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      migrate(db, options.path);
      return new SqliteConnection(db, options.path, busyTimeoutMs);
    } catch (error) {
      db?.close();
      throw isStoryCoreError(error) ? error : storeErrorFrom(error, 'open', options.path, busyTimeoutMs);
    }
  }

  /** A cached prepared statement: preparing once is what keeps frequent calls (event appends) cheap. */
  sql(text: string): Database.Statement {
    let statement = this.#statements.get(text);
    if (statement === undefined) {
      statement = this.#db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  read<T>(operation: string, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (isStoryCoreError(error)) throw error;
      throw storeErrorFrom(error, operation, this.path, this.busyTimeoutMs);
    }
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction: the write lock is taken at BEGIN, so a busy database
   * fails (after busy_timeout) before any work, never half-way through, and everything commits or nothing does.
   */
  write<T>(operation: string, fn: () => T): T {
    return this.read(operation, () => this.#db.transaction(fn).immediate());
  }

  requireRun(id: string): RunRecord {
    const row = this.sql('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    if (row === undefined) {
      throw new NotFoundError(`run ${id} not found in ${this.path}`, { details: { runId: id } });
    }
    return runFromRow(row);
  }

  close(): void {
    if (!this.#db.open) return;
    try {
      this.#db.pragma('optimize');
    } catch {
      // Only an optimisation hint; a busy database must not prevent closing.
    }
    this.#db.close();
  }
}
