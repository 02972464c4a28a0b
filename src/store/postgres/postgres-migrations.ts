/**
 * The PostgreSQL schema history. Entry `i` takes a schema from version `i` to `i + 1`; entries are only appended,
 * never edited. The tables and columns are those of the embedded store (`../migrations.ts`), JSON kept as text and
 * times as ISO text, so both stores map rows to records with the same code (`../rows.ts`) and return identical
 * records. `heartbeat_at` is ms since the epoch by the database server's clock (see PostgresRunStore).
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // v1: runs (with the lease), step memo, step journal, executions, events.
  `
  CREATE TABLE runs (
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id             text PRIMARY KEY,
    project_id     text NOT NULL,
    project_name   text NOT NULL,
    project_hash   text NOT NULL,
    backend        text NOT NULL,
    options        text NOT NULL,
    status         text NOT NULL CHECK (status IN ('running','succeeded','failed','cancelled','interrupted')),
    created_at     text NOT NULL,
    updated_at     text NOT NULL,
    finished_at    text,
    error          text,
    result         text,
    pid            integer,
    hostname       text,
    pid_namespace  text,
    heartbeat_at   bigint,
    last_event_seq integer NOT NULL DEFAULT 0
  );
  CREATE INDEX runs_by_project ON runs (project_id, seq);
  CREATE INDEX runs_running ON runs (project_id) WHERE status = 'running';

  -- One row per (project, step, inputs): what makes a rerun skip finished work, whichever run or worker did it.
  CREATE TABLE step_memo (
    project_id   text NOT NULL,
    step_id      text NOT NULL,
    input_hash   text NOT NULL,
    run_id       text NOT NULL REFERENCES runs (id),
    artifacts    text NOT NULL,
    output       text NOT NULL,
    attempts     integer NOT NULL,
    duration_ms  bigint NOT NULL,
    started_at   text NOT NULL,
    finished_at  text NOT NULL,
    PRIMARY KEY (project_id, step_id, input_hash)
  );

  CREATE TABLE run_steps (
    run_id        text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id       text NOT NULL,
    input_hash    text NOT NULL,
    status        text NOT NULL CHECK (status IN ('running','done','reused','failed')),
    artifacts     text NOT NULL DEFAULT '{}',
    output        text NOT NULL DEFAULT 'null',
    attempts      integer NOT NULL DEFAULT 0,
    duration_ms   bigint NOT NULL DEFAULT 0,
    started_at    text NOT NULL,
    finished_at   text,
    error         text,
    source_run_id text,
    -- First-journaled order within the run (a global sequence orders the run's rows just as well).
    first_seen    bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (run_id, step_id)
  );

  CREATE TABLE executions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    project_id  text NOT NULL,
    step_id     text NOT NULL,
    input_hash  text NOT NULL,
    started_at  text NOT NULL,
    finished_at text,
    outcome     text NOT NULL CHECK (outcome IN ('running','done','failed','interrupted'))
  );
  CREATE INDEX executions_by_run ON executions (run_id, step_id);
  CREATE INDEX executions_by_project ON executions (project_id, step_id);

  CREATE TABLE events (
    run_id  text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    type    text NOT NULL,
    payload text NOT NULL,
    at      text NOT NULL,
    PRIMARY KEY (run_id, seq)
  );
  `,
];

export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;
