import { randomBytes } from 'node:crypto';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { isProcessAlive } from '../core/process-liveness.js';
import { liveRunConflict, unlockRefused } from './holder-errors.js';
import { runFromRow, toJson } from './rows.js';
import type { RunRow } from './rows.js';
import { DEFAULT_LEASE, TERMINAL_RUN_STATUSES } from './run-store.js';
import type {
  CreateRunInput,
  LeasePolicy,
  PruneRunsOptions,
  PruneRunsResult,
  RunHolder,
  UnlockOptions,
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
import { pruneRuns } from './sqlite-prune.js';
import { SqliteStepJournal } from './sqlite-step-journal.js';

export interface SqliteRunStoreOptions extends SqliteConnectionOptions {
  /** How runs prove they are alive. @default DEFAULT_LEASE (renewed every 5 s, stale after 20 s) */
  lease?: Partial<LeasePolicy>;
}

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
  readonly lease: LeasePolicy;
  readonly #db: SqliteConnection;
  readonly #steps: SqliteStepJournal;
  readonly #events: SqliteEventLog;

  private constructor(db: SqliteConnection, lease: LeasePolicy) {
    this.#db = db;
    this.path = db.path;
    this.lease = lease;
    this.#steps = new SqliteStepJournal(db);
    this.#events = new SqliteEventLog(db);
  }

  /** Opens (creating and migrating when needed, unless `readonly`) the database file. */
  static open(options: SqliteRunStoreOptions): SqliteRunStore {
    const lease = { ...DEFAULT_LEASE, ...options.lease };
    if (!(lease.heartbeatMs > 0 && lease.staleAfterMs > 2 * lease.heartbeatMs)) {
      // A lease that expires before a couple of beats could renew it would declare live runs dead.
      throw new ValidationError(
        `lease.staleAfterMs (${lease.staleAfterMs}) must exceed twice lease.heartbeatMs (${lease.heartbeatMs}), both > 0`,
        [{ path: 'lease', message: 'staleAfterMs must be > 2 × heartbeatMs' }],
      );
    }
    return new SqliteRunStore(SqliteConnection.open(options), lease);
  }

  createRun(input: CreateRunInput): RunRecord {
    return this.#db.write('createRun', () => {
      const now = new Date();
      const at = now.toISOString();
      const insert = this.#db.sql(
        `INSERT INTO runs (id, project_id, project_name, project_hash, backend, options, status, created_at, updated_at,
                           pid, hostname, pid_namespace, heartbeat_at)
         VALUES (@id, @projectId, @projectName, @projectHash, @backend, @options, 'running', @at, @at, @pid, @hostname,
                 @pidNamespace, @beat)
         ON CONFLICT (id) DO NOTHING`,
      );
      const { projectId, projectName, projectHash, backend } = input;
      this.#assertNoLiveRun(projectId);
      const row = { projectId, projectName, projectHash, backend, options: toJson(input.options), at };
      for (;;) {
        const id = newRunId(now); // a clash needs two runs in the same millisecond and the same 16 random bits
        if (insert.run({ ...row, id, ...this.#owner(now.getTime()) }).changes === 1) {
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

  getRunStatus(id: string): RunStatus | undefined {
    return this.#db.read('getRunStatus', () => {
      const row = this.#db.sql('SELECT status FROM runs WHERE id = ?').get(id) as
        { status: RunStatus } | undefined;
      return row?.status;
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
      const params = { id, status, at, error, result, ...this.#owner(Date.parse(at)) };
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
             result = COALESCE(@result, result), pid = @pid, hostname = @hostname, pid_namespace = @pidNamespace,
             heartbeat_at = @beat WHERE id = @id`;
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
      this.#interrupt(stale, 'the process running this run ended without finishing it');
      return stale;
    });
  }

  renewLease(runId: string): boolean {
    return this.#db.write('renewLease', () => {
      const { changes } = this.#db
        .sql(
          `UPDATE runs SET heartbeat_at = @beat WHERE id = @id AND status = 'running' AND pid = @pid
             AND hostname = @hostname AND pid_namespace IS @pidNamespace`,
        )
        .run({ id: runId, ...this.#owner(Date.now()) });
      return changes === 1;
    });
  }

  runHolders(projectId: string): RunHolder[] {
    return this.#db.read('runHolders', () => {
      const rows = this.#db
        .sql(`SELECT * FROM runs WHERE project_id = ? AND status = 'running' ORDER BY seq`)
        .all(projectId) as RunRow[];
      const now = Date.now();
      return rows.map((row) => ({
        run: runFromRow(row),
        live: !this.#isStale(row, now),
        heartbeatAgeMs: Math.max(0, now - heartbeatOf(row)),
      }));
    });
  }

  unlockProject(projectId: string, options: UnlockOptions = {}): RunRecord[] {
    return this.#db.write('unlockProject', () => {
      const holders = this.runHolders(projectId);
      const live = holders.filter((h) => h.live);
      if (live.length > 0 && !options.force) {
        throw unlockRefused(projectId, live[0]!);
      }
      const ids = holders.map((h) => h.run.id);
      this.#interrupt(ids, 'unlocked by `storycore unlock`: its process was taken to be gone');
      return ids.map((id) => this.#db.requireRun(id));
    });
  }

  pruneRuns(options: PruneRunsOptions): PruneRunsResult {
    return this.#db.write('pruneRuns', () => {
      const running = this.#db.sql(`SELECT * FROM runs WHERE status = 'running'`).all() as RunRow[];
      const live = running.filter((row) => !this.#isStale(row));
      return pruneRuns(this.#db, {
        ...options,
        liveProjects: new Set(live.map((row) => row.project_id)),
        liveRuns: new Set(live.map((row) => row.id)),
      });
    });
  }

  /** Ends runs as interrupted: their in-flight executions closed, their 'running' journal rows dropped. */
  #interrupt(ids: readonly string[], message: string): void {
    const at = new Date().toISOString();
    const error = toJson({ code: 'interrupted', message });
    for (const id of ids) {
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
    const now = Date.now();
    const live = rows.find((row) => !this.#isStale(row, now));
    if (live) {
      const holder: RunHolder = {
        run: runFromRow(live),
        live: true,
        heartbeatAgeMs: now - heartbeatOf(live),
      };
      throw liveRunConflict(projectId, holder, this.lease.staleAfterMs);
    }
  }

  /**
   * Dead when its lease has not been renewed for staleAfterMs, whatever its pid says (a reused pid looks alive,
   * another container's hostname looks foreign). While the lease is fresh, a pid can still prove the run dead
   * sooner, but only where it means something: the same hostname and pid namespace.
   */
  #isStale(row: RunRow, now = Date.now()): boolean {
    if (now - heartbeatOf(row) > this.lease.staleAfterMs) return true;
    const here = row.hostname === this.#db.hostname && (row.pid_namespace ?? null) === this.#db.pidNamespace;
    return here && (row.pid === null || !isProcessAlive(row.pid));
  }

  /** The columns that say which process holds a run, and its lease renewed now. */
  #owner(beat: number): { pid: number; hostname: string; pidNamespace: string | null; beat: number } {
    return { pid: process.pid, hostname: this.#db.hostname, pidNamespace: this.#db.pidNamespace, beat };
  }
}

/** A run's last renewal; rows from before the lease (schema v1) count from their last update. */
function heartbeatOf(row: RunRow): number {
  return typeof row.heartbeat_at === 'number' ? row.heartbeat_at : Date.parse(row.updated_at);
}
