import { mkdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { NotFoundError, StoreError, isStoryCoreError } from '../core/errors.js';
import { pidNamespace } from '../core/process-liveness.js';
import { SCHEMA_VERSION, migrate } from './migrations.js';
import { runFromRow } from './rows.js';
import type { RunRow } from './rows.js';
import type { RunRecord } from './run-store.js';
import { storeErrorFrom } from './sqlite-errors.js';

/** How long `writeSoon` batches writes before committing them. */
const BATCH_MS = 25;

export interface SqliteConnectionOptions {
  /** Path of the database file (created with its folder when missing), e.g. `<workspace>/storycore.db`. */
  path: string;
  /** How long a write waits for another process's write lock before failing with a "locked" StoreError. @default 5000 */
  busyTimeoutMs?: number;
  /**
   * Open an existing file for reading only: nothing is created, migrated or written (NotFoundError when the file
   * is missing). What `storycore runs` and `status` use, so a mistyped workspace never becomes a new one.
   * @default false
   */
  readonly?: boolean;
  /** Told about something worth a line to the user that is not an error (a 0-byte database started afresh). */
  onWarning?: (message: string) => void;
  /**
   * Batch event appends and reuse rows into one transaction per BATCH_MS (`writeSoon`). Right for a file one
   * process writes; wrong for a file several processes write at once (a distributed run's shared journal), since
   * a batch holds the write lock for its whole window and every other writer sleeps in SQLite's busy handler —
   * blocking its event loop — meanwhile. @default true
   */
  batchWrites?: boolean;
}

/**
 * One open, migrated database with a prepared-statement cache. Every access goes through `read` or
 * `write`, which turn driver failures into StoreError naming the file and the operation.
 */
export class SqliteConnection {
  readonly path: string;
  readonly busyTimeoutMs: number;
  readonly hostname = hostname();
  readonly pidNamespace = pidNamespace();
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #onWarning: ((message: string) => void) | undefined;
  /** The commit timer of the open `writeSoon` batch. */
  #batch: NodeJS.Timeout | undefined;
  #batchWrites = true;

  private constructor(
    db: Database.Database,
    path: string,
    busyTimeoutMs: number,
    onWarning?: (message: string) => void,
  ) {
    this.#db = db;
    this.path = path;
    this.busyTimeoutMs = busyTimeoutMs;
    this.#onWarning = onWarning;
  }

  static open(options: SqliteConnectionOptions): SqliteConnection {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    if (options.readonly) return SqliteConnection.#openReadonly(options.path, busyTimeoutMs);
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(options.path), { recursive: true });
      if (fileSize(options.path) === 0) {
        // SQLite treats an empty file as a new database, which is right, but a journal that was there and is now
        // empty (a copy cut short, a full disk) is worth saying, or its loss goes unnoticed.
        (options.onWarning ?? process.emitWarning)(
          `${options.path} is an empty file (0 bytes); starting a new run journal in it`,
        );
      }
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
      // Bounds the ANALYZE that `PRAGMA optimize` may run at close (SQLite's recommended setting): a short command
      // such as an unchanged rerun paid up to 15 ms for it.
      db.pragma('analysis_limit = 400');
      // A header that SQLite can read says nothing about the pages behind it: 4 KB of garbage in the middle of the
      // file goes unnoticed until a query touches it, and runs keep writing into it meanwhile. quick_check reads
      // every page (without the index cross-checks of integrity_check): 20 ms on a 10k-step, 15 MB journal
      // (`npm run bench store`), under the 50 ms budget, so it runs on every open for writing rather than only
      // after an unclean shutdown, which cannot see damage done by anything but a crash.
      quickCheck(db, options.path);
      migrate(db, options.path);
      const connection = new SqliteConnection(db, options.path, busyTimeoutMs, options.onWarning);
      connection.#batchWrites = options.batchWrites ?? true;
      return connection;
    } catch (error) {
      db?.close();
      throw isStoryCoreError(error) ? error : storeErrorFrom(error, 'open', options.path, busyTimeoutMs);
    }
  }

  static #openReadonly(path: string, busyTimeoutMs: number): SqliteConnection {
    const size = fileSize(path);
    if (size === undefined || size === 0) {
      const why = size === undefined ? `no ${path}` : `${path} is empty`;
      throw new NotFoundError(`no workspace at ${dirname(path)} (${why})`, { details: { path } });
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version < 1) {
        // A database never migrated: created by a process killed at start-up, before it wrote anything.
        throw new NotFoundError(`no workspace at ${dirname(path)} (${path} holds no journal yet)`, {
          details: { path },
        });
      }
      if (version > SCHEMA_VERSION) {
        throw new StoreError(
          `run store ${path} has schema version ${version}, newer than this StoryCore build understands (${SCHEMA_VERSION}); upgrade StoryCore`,
          { details: { path, schemaVersion: version } },
        );
      }
      return new SqliteConnection(db, path, busyTimeoutMs);
    } catch (error) {
      db?.close();
      throw isStoryCoreError(error) ? error : storeErrorFrom(error, 'open', path, busyTimeoutMs);
    }
  }

  /**
   * A cached prepared statement: preparing once is what keeps frequent calls (event appends) cheap.
   * @internal — typed with better-sqlite3's types, which consumers do not install: kept out of the declarations.
   */
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
   * It is durable when this returns: writes batched by `writeSoon` before it commit with it.
   */
  write<T>(operation: string, fn: () => T): T {
    if (this.#batch === undefined) return this.read(operation, () => this.#db.transaction(fn).immediate());
    // Inside the open batch (a savepoint), then the batch commits: this write must not wait for the timer.
    const result = this.read(operation, () => this.#db.transaction(fn)());
    this.flush();
    return result;
  }

  /**
   * Like `write`, for writes whose loss in a crash costs nothing but a line of history — the events of a run, a
   * step journaled as reused (a resume reuses it again): they join one transaction that commits BATCH_MS after the
   * first of them, at the next `write`, or at `flush`/`close`. An unchanged rerun reuses ~50 steps and emits ~100
   * events; one commit each was a tenth of its time. Reads on this connection see them at once; other processes
   * (which wait for the write lock meanwhile, as for any transaction) see them when the batch commits.
   */
  writeSoon<T>(operation: string, fn: () => T): T {
    if (!this.#batchWrites) return this.write(operation, fn);
    if (this.#batch === undefined) {
      this.read(operation, () => this.sql('BEGIN IMMEDIATE').run());
      this.#batch = setTimeout(() => this.flush(), BATCH_MS);
      this.#batch.unref();
    }
    // A savepoint, so a failing `fn` undoes only itself and the batch goes on.
    return this.read(operation, () => this.#db.transaction(fn)());
  }

  /** Commits the writes batched by `writeSoon`, if any. */
  flush(): void {
    if (this.#batch === undefined) return;
    clearTimeout(this.#batch);
    this.#batch = undefined;
    try {
      this.sql('COMMIT').run();
    } catch (error) {
      // Only events and reuse rows were pending (see writeSoon); the store goes on without them.
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      (this.#onWarning ?? process.emitWarning)(
        `${this.path}: could not save recent events (${storeErrorFrom(error, 'commit', this.path, this.busyTimeoutMs).message})`,
      );
    }
  }

  /**
   * The run's id and project, for the step journal's writes: without parsing its snapshot (`options`), which for a
   * 1,000-shot project is the largest value in the row and was read on every step start and finish.
   */
  requireRunProject(id: string): { id: string; projectId: string } {
    const row = this.sql('SELECT project_id FROM runs WHERE id = ?').get(id) as
      { project_id: string } | undefined;
    if (row === undefined) {
      throw new NotFoundError(`run ${id} not found in ${this.path}`, { details: { runId: id } });
    }
    return { id, projectId: row.project_id };
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
    this.flush();
    try {
      this.#db.pragma('optimize');
    } catch {
      // Only an optimisation hint; a busy database must not prevent closing.
    }
    this.#db.close();
  }
}

/** The file's size, or undefined when there is no file. */
function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

function quickCheck(db: Database.Database, path: string): void {
  const rows = db.pragma('quick_check') as Array<{ quick_check: string }>;
  const found = rows.map((r) => r.quick_check);
  if (found.length === 1 && found[0] === 'ok') return;
  throw new StoreError(
    `run store ${path}: file is corrupt (quick_check: ${found.slice(0, 3).join('; ')}${found.length > 3 ? '; …' : ''}); ` +
      'move it aside to start a fresh journal (the artifacts folder can stay)',
    { details: { path, operation: 'open', problems: found.slice(0, 20) } },
  );
}
