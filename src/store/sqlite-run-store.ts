import { randomBytes } from 'node:crypto';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { isProcessAlive } from '../core/process-liveness.js';
import { runFromRow, toJson } from './rows.js';
import type { RunRow } from './rows.js';
import { TERMINAL_RUN_STATUSES } from './run-store.js';
import type {
  CreateRunInput,
  EventRecord,
  ExecutionFilter,
  ExecutionRecord,
  ListEventsOptions,
  ListExecutionsOptions,
  ListRunsOptions,
  NewEvent,
  RunRecord,
  RunStatus,
  RunStore,
  SetRunStatusOptions,
  StepDoneInput,
  StepFailedInput,
  StepRecord,
} from './run-store.js';
import { SqliteConnection } from './sqlite-connection.js';
import type { SqliteConnectionOptions } from './sqlite-connection.js';
import { SqliteEventLog } from './sqlite-event-log.js';
import { SqliteStepJournal } from './sqlite-step-journal.js';

export type SqliteRunStoreOptions = SqliteConnectionOptions;

const RESUMABLE: readonly RunStatus[] = ['interrupted', 'cancelled', 'failed'];

/** `run-20261125-213000-123-ab12`: UTC to the millisecond, so ids sort by creation time, plus a random tail. */
function newRunId(now: Date): string {
  const iso = now.toISOString(); // 2026-11-25T21:30:00.123Z
  const day = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 19).replaceAll(':', '');
  return `run-${day}-${time}-${iso.slice(20, 23)}-${randomBytes(2).toString('hex')}`;
}

/**
 * The embedded run store: one SQLite file (WAL) holding runs, the step memo and journal, executions
 * and events. Every method is one short synchronous transaction; failures surface as StoreError
 * naming the file and the operation, with the driver error as cause.
 */
export class SqliteRunStore implements RunStore {
  readonly path: string;
  readonly #db: SqliteConnection;
  readonly #steps: SqliteStepJournal;
  readonly #events: SqliteEventLog;

  private constructor(db: SqliteConnection) {
    this.#db = db;
    this.path = db.path;
    this.#steps = new SqliteStepJournal(db);
    this.#events = new SqliteEventLog(db);
  }

  /** Opens (creating and migrating when needed) the database file. */
  static open(options: SqliteRunStoreOptions): SqliteRunStore {
    return new SqliteRunStore(SqliteConnection.open(options));
  }

  createRun(input: CreateRunInput): RunRecord {
    return this.#db.write('createRun', () => {
      const now = new Date();
      const at = now.toISOString();
      const insert = this.#db.sql(
        `INSERT INTO runs (id, project_id, project_name, project_hash, backend, options, status, created_at, updated_at,
                           pid, hostname)
         VALUES (@id, @projectId, @projectName, @projectHash, @backend, @options, 'running', @at, @at, @pid, @hostname)
         ON CONFLICT (id) DO NOTHING`,
      );
      const { projectId, projectName, projectHash, backend } = input;
      this.#assertNoLiveRun(projectId);
      const row = { projectId, projectName, projectHash, backend, options: toJson(input.options), at };
      for (;;) {
        const id = newRunId(now); // a clash needs two runs in the same millisecond and the same 16 random bits
        if (insert.run({ ...row, id, pid: process.pid, hostname: this.#db.hostname }).changes === 1) {
          return this.#db.requireRun(id);
        }
      }
    });
  }

  getRun(id: string): RunRecord | undefined {
    return this.#db.read('getRun', () => {
      const row = this.#db.sql('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
      return row && runFromRow(row);
    });
  }

  listRuns(options: ListRunsOptions = {}): RunRecord[] {
    return this.#db.read('listRuns', () => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (options.projectId !== undefined) {
        where.push('project_id = ?');
        params.push(options.projectId);
      }
      if (options.status !== undefined) {
        const statuses = typeof options.status === 'string' ? [options.status] : [...options.status];
        where.push(`status IN (${statuses.map(() => '?').join(', ') || 'NULL'})`);
        params.push(...statuses);
      }
      const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      const rows = this.#db
        .sql(`SELECT * FROM runs ${filter} ORDER BY seq DESC LIMIT ?`)
        .all(...params, options.limit ?? 50) as RunRow[];
      return rows.map(runFromRow);
    });
  }

  setRunStatus(id: string, status: RunStatus, options: SetRunStatusOptions = {}): RunRecord {
    return this.#db.write('setRunStatus', () => {
      const at = new Date().toISOString();
      const error = options.error === undefined ? null : toJson(options.error);
      const result = options.result === undefined ? null : toJson(options.result);
      const params = { id, status, at, error, result, pid: process.pid, hostname: this.#db.hostname };
      if (status === 'running') {
        const row = this.#db.sql('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
        // Resuming claims the run: not while its own process (or another run of the project) is still live.
        if (row) this.#assertNoLiveRun(row.project_id);
      }
      const sql = TERMINAL_RUN_STATUSES.includes(status)
        ? `UPDATE runs SET status = @status, updated_at = @at, finished_at = @at, error = @error,
             result = COALESCE(@result, result) WHERE id = @id`
        : // Resuming a run claims it for this process and clears the previous ending.
          `UPDATE runs SET status = @status, updated_at = @at, finished_at = NULL, error = NULL,
             result = COALESCE(@result, result), pid = @pid, hostname = @hostname WHERE id = @id`;
      if (this.#db.sql(sql).run(params).changes === 0) {
        throw new NotFoundError(`run ${id} not found in ${this.path}`, { details: { runId: id } });
      }
      if (TERMINAL_RUN_STATUSES.includes(status)) {
        // Steps still in flight when a run ends (a cancel, a fail-fast stop) did not finish: close their executions
        // as interrupted and drop their 'running' journal rows, so no run shows work that will never complete.
        this.#db
          .sql(
            `UPDATE executions SET outcome = 'interrupted', finished_at = ? WHERE run_id = ? AND outcome = 'running'`,
          )
          .run(at, id);
        this.#db.sql(`DELETE FROM run_steps WHERE run_id = ? AND status = 'running'`).run(id);
      }
      return this.#db.requireRun(id);
    });
  }

  markStaleRunsInterrupted(): string[] {
    return this.#db.write('markStaleRunsInterrupted', () => {
      const running = this.#db.sql(`SELECT * FROM runs WHERE status = 'running'`).all() as RunRow[];
      const stale = running.filter((row) => this.#isStale(row)).map((row) => row.id);
      const at = new Date().toISOString();
      const error = toJson({
        code: 'interrupted',
        message: 'the process running this run ended without finishing it',
      });
      for (const id of stale) {
        this.#db
          .sql(
            `UPDATE runs SET status = 'interrupted', updated_at = ?, finished_at = ?, error = ? WHERE id = ?`,
          )
          .run(at, at, error, id);
        this.#db
          .sql(
            `UPDATE executions SET outcome = 'interrupted', finished_at = ? WHERE run_id = ? AND outcome = 'running'`,
          )
          .run(at, id);
        this.#db.sql(`DELETE FROM run_steps WHERE run_id = ? AND status = 'running'`).run(id);
      }
      return stale;
    });
  }

  findLatestResumable(projectId: string): RunRecord | undefined {
    return this.#db.read('findLatestResumable', () => {
      const rows = this.#db
        .sql('SELECT * FROM runs WHERE project_id = ? ORDER BY seq DESC')
        .iterate(projectId) as IterableIterator<RunRow>;
      for (const row of rows) {
        // A newer success supersedes anything older: there is nothing left to resume.
        if (row.status === 'succeeded') return undefined;
        if (RESUMABLE.includes(row.status) || (row.status === 'running' && this.#isStale(row))) {
          return runFromRow(row);
        }
      }
      return undefined;
    });
  }

  findCompletedStep(projectId: string, stepId: string, inputHash: string): StepRecord | undefined {
    return this.#steps.findCompleted(projectId, stepId, inputHash);
  }
  recordStepStart(runId: string, stepId: string, inputHash: string): number {
    return this.#steps.start(runId, stepId, inputHash);
  }
  recordStepDone(runId: string, step: StepDoneInput): StepRecord {
    return this.#steps.done(runId, step);
  }
  recordStepReused(runId: string, stepId: string, inputHash: string): StepRecord {
    return this.#steps.reused(runId, stepId, inputHash);
  }
  recordStepFailed(runId: string, step: StepFailedInput): StepRecord {
    return this.#steps.failed(runId, step);
  }
  listSteps(runId: string): StepRecord[] {
    return this.#steps.list(runId);
  }
  countExecutions(filter: ExecutionFilter = {}): number {
    return this.#steps.countExecutions(filter);
  }
  listExecutions(options: ListExecutionsOptions = {}): ExecutionRecord[] {
    return this.#steps.listExecutions(options);
  }

  appendEvent(runId: string, type: string, payload: unknown): number {
    return this.#events.append(runId, [{ type, payload }])[0] as number;
  }
  appendEvents(runId: string, events: readonly NewEvent[]): number[] {
    return this.#events.append(runId, events);
  }
  listEvents(runId: string, options: ListEventsOptions = {}): EventRecord[] {
    return this.#events.list(runId, options);
  }
  pruneEvents(runId: string, keepLast: number): number {
    return this.#events.prune(runId, keepLast);
  }

  close(): void {
    this.#db.close();
  }

  /**
   * One live run per project per workspace: two processes generating the same project would each do the same
   * steps (correct, since steps are memoised by input, but wasted GPU time and a second export). Checked inside the
   * IMMEDIATE transaction that creates or resumes the run, so two processes starting at once cannot both pass.
   * A 'running' run whose process is gone does not count: it was interrupted.
   */
  #assertNoLiveRun(projectId: string): void {
    const rows = this.#db
      .sql(`SELECT * FROM runs WHERE project_id = ? AND status = 'running'`)
      .all(projectId) as RunRow[];
    const live = rows.find((row) => !this.#isStale(row));
    if (live) {
      throw new ConflictError(
        `project "${projectId}" is already being generated by run ${live.id} (pid ${live.pid ?? '?'}` +
          `${live.hostname ? ` on ${live.hostname}` : ''}); wait for it to finish or cancel it, then run again`,
        { details: { projectId, runId: live.id, pid: live.pid } },
      );
    }
  }

  #isStale(row: RunRow): boolean {
    // A pid only means something on the machine that wrote it; a run from another host is left alone.
    if (row.hostname !== null && row.hostname !== this.#db.hostname) return false;
    return row.pid === null || !isProcessAlive(row.pid);
  }
}
