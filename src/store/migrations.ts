import type Database from 'better-sqlite3';
import { StoreError } from '../core/errors.js';

/**
 * Schema history. Entry `i` takes the database from `user_version = i` to `i + 1`; entries are only
 * ever appended, never edited, so every existing file can be brought forward step by step.
 */
export const MIGRATIONS: readonly string[] = [
  // v1: runs, step memo, step journal, executions, events.
  `
  CREATE TABLE runs (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    project_id     TEXT NOT NULL,
    project_name   TEXT NOT NULL,
    project_hash   TEXT NOT NULL,
    backend        TEXT NOT NULL,
    options        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('running','succeeded','failed','cancelled','interrupted')),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    finished_at    TEXT,
    error          TEXT,
    result         TEXT,
    pid            INTEGER,
    hostname       TEXT,
    last_event_seq INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX runs_by_project ON runs (project_id, seq);
  CREATE INDEX runs_by_status ON runs (status);

  -- One row per (project, step, inputs): what makes a rerun skip finished work, whichever run did it.
  CREATE TABLE step_memo (
    project_id   TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    input_hash   TEXT NOT NULL,
    run_id       TEXT NOT NULL REFERENCES runs (id),
    artifacts    TEXT NOT NULL,
    output       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    PRIMARY KEY (project_id, step_id, input_hash)
  ) WITHOUT ROWID;

  -- What each run did with each step (ran it, reused it, failed it).
  CREATE TABLE run_steps (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id       TEXT NOT NULL,
    input_hash    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running','done','reused','failed')),
    artifacts     TEXT NOT NULL DEFAULT '{}',
    output        TEXT NOT NULL DEFAULT 'null',
    attempts      INTEGER NOT NULL DEFAULT 0,
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    error         TEXT,
    source_run_id TEXT,
    first_seen    INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_id)
  ) WITHOUT ROWID;

  -- Every real execution, so "no finished step ran twice" is a COUNT away.
  CREATE TABLE executions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    input_hash  TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('running','done','failed','interrupted'))
  );
  CREATE INDEX executions_by_run ON executions (run_id, step_id);
  CREATE INDEX executions_by_project ON executions (project_id, step_id);

  CREATE TABLE events (
    run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    type    TEXT NOT NULL,
    payload TEXT NOT NULL,
    at      TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
  ) WITHOUT ROWID;
  `,
  // v2: the run lease. The live process renews `heartbeat_at` (ms since the epoch) every few seconds; a run whose
  // lease has not been renewed for a while is dead whatever its pid and hostname say (pids are reused, containers
  // get new hostnames). `pid_namespace` tells whether a pid may be checked here at all.
  `
  ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
  ALTER TABLE runs ADD COLUMN pid_namespace TEXT;
  `,
  // v3: a journal row's place in its run (`first_seen`) is the run's MAX + 1, looked up on every step write: without
  // this index that was a scan of the run's rows, quadratic over a 1,000-shot run (2.4 ms per write at 600 shots).
  `
  CREATE INDEX run_steps_by_first_seen ON run_steps (run_id, first_seen);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema to SCHEMA_VERSION. Each step runs in its own transaction together with its
 * `user_version` bump, so a crash mid-migration leaves the previous version intact.
 * @internal — typed with better-sqlite3's types, which consumers do not install: kept out of the declarations.
 */
export function migrate(db: Database.Database, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new StoreError(
      `run store ${path} has schema version ${current}, newer than this StoryCore build understands (${SCHEMA_VERSION}); upgrade StoryCore or use another workspace`,
      { details: { path, schemaVersion: current, supportedVersion: SCHEMA_VERSION } },
    );
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    const sql = MIGRATIONS[version];
    if (sql === undefined) break;
    // IMMEDIATE takes the write lock up front, so two processes opening a fresh file cannot both migrate.
    const step = db.transaction(() => {
      const now = db.pragma('user_version', { simple: true }) as number;
      if (now !== version) return; // another process migrated meanwhile
      db.exec(sql);
      db.pragma(`user_version = ${version + 1}`);
    });
    step.immediate();
  }
}
