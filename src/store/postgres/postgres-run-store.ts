import { randomBytes } from 'node:crypto';
import { ValidationError } from '../../core/errors.js';
import { isProcessAlive } from '../../core/process-liveness.js';
import type { AsyncRunStore } from '../async-run-store.js';
import { liveRunConflict, unlockRefused } from '../holder-errors.js';
import { eventFromRow, runFromRow, toJson } from '../rows.js';
import type { EventRow, RunRow } from '../rows.js';
import { DEFAULT_LEASE, TERMINAL_RUN_STATUSES } from '../run-store.js';
import type {
  CreateRunInput,
  EventRecord,
  ExecutionFilter,
  ExecutionRecord,
  LeasePolicy,
  ListEventsOptions,
  ListExecutionsOptions,
  ListRunsOptions,
  NewEvent,
  PruneRunsOptions,
  PruneRunsResult,
  RunHolder,
  RunRecord,
  RunStatus,
  SetRunStatusOptions,
  StepDoneInput,
  StepFailedInput,
  StepRecord,
  UnlockOptions,
} from '../run-store.js';
import { PostgresConnection } from './postgres-connection.js';
import type { Sql } from './postgres-connection.js';
import { pruneRunsPg } from './postgres-prune.js';
import { PostgresStepJournal } from './postgres-step-journal.js';

export interface PostgresRunStoreOptions {
  /** Schema holding the store's tables, created and migrated when missing. @default 'storycore' */
  schema?: string;
  /** How runs prove they are alive. @default DEFAULT_LEASE (renewed every 5 s, stale after 20 s) */
  lease?: Partial<LeasePolicy>;
  /** Connections this process keeps open. @default 10 */
  poolSize?: number;
  /** How long connecting may take before a call fails (retryably). @default 10000 */
  connectTimeoutMs?: number;
  /**
   * How long one statement may go unanswered before its call fails (retryably) and its connection is dropped: a
   * server that froze or vanished without closing the socket cannot hang a call for ever. @default 60000
   */
  queryTimeoutMs?: number;
  /** Aborts opening (connecting and migrating). */
  signal?: AbortSignal;
}

const RESUMABLE: readonly RunStatus[] = ['interrupted', 'cancelled', 'failed'];
const iso = (ms: number): string => new Date(ms).toISOString();

/** `run-20261125-213000-123-ab12`: UTC to the millisecond, so ids sort by creation time, plus a random tail. */
function newRunId(now: number): string {
  const at = iso(now);
  const day = at.slice(0, 10).replaceAll('-', '');
  const time = at.slice(11, 19).replaceAll(':', '');
  return `run-${day}-${time}-${at.slice(20, 23)}-${randomBytes(2).toString('hex')}`;
}

/**
 * The run store on PostgreSQL, shared by every process of a studio (orchestrators, workers, the server): the same
 * records and meanings as `SqliteRunStore`, every call a promise. Each call is one transaction on a pooled
 * connection; the pool reconnects by itself after the server restarts, and a call that meets a server that is
 * down fails with a retryable StoreError naming it.
 *
 * What being shared changes:
 * - Times come from the database server's clock (read at the start of each transaction), so hosts whose clocks
 *   disagree still agree on whose lease is stale.
 * - One live run per project is checked under a per-project advisory lock, so two orchestrators starting the same
 *   project at once cannot both pass.
 * - A pid proves a run dead only on the same hostname and pid namespace; elsewhere only the lease can.
 * - `recordStepDone` is idempotent and event seqs are allocated on the run row (see AsyncRunStore).
 */
export class PostgresRunStore implements AsyncRunStore {
  readonly lease: LeasePolicy;
  readonly #db: PostgresConnection;
  /** Per run, the settling of this process's last event append (see appendEvents). */
  readonly #eventTails = new Map<string, Promise<void>>();
  readonly #steps: PostgresStepJournal;

  private constructor(db: PostgresConnection, lease: LeasePolicy) {
    this.#db = db;
    this.lease = lease;
    this.#steps = new PostgresStepJournal(db);
  }

  /** `host:port` of the server, as errors name it. */
  get server(): string {
    return this.#db.place.server;
  }

  /**
   * Connects to `url` (`postgres://user:password@host:port/database`) and migrates the schema (under an advisory
   * lock: several processes may open at once). The password is never part of any message.
   */
  static async open(url: string, options: PostgresRunStoreOptions = {}): Promise<PostgresRunStore> {
    const lease = { ...DEFAULT_LEASE, ...options.lease };
    if (!(lease.heartbeatMs > 0 && lease.staleAfterMs > 2 * lease.heartbeatMs)) {
      // A lease that expires before a couple of beats could renew it would declare live runs dead.
      throw new ValidationError(
        `lease.staleAfterMs (${lease.staleAfterMs}) must exceed twice lease.heartbeatMs (${lease.heartbeatMs}), both > 0`,
        [{ path: 'lease', message: 'staleAfterMs must be > 2 × heartbeatMs' }],
      );
    }
    const db = await PostgresConnection.open(url, {
      ...(options.schema === undefined ? {} : { schema: options.schema }),
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: options.queryTimeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    return new PostgresRunStore(db, lease);
  }

  async createRun(input: CreateRunInput): Promise<RunRecord> {
    return this.#db.write('createRun', async (sql, now) => {
      const { projectId, projectName, projectHash, backend } = input;
      await this.#assertNoLiveRun(sql, projectId, now);
      const owner = this.#owner(now);
      for (;;) {
        const id = newRunId(now); // a clash needs two runs in the same millisecond and the same 16 random bits
        const [row] = await sql.rows<RunRow>(
          `INSERT INTO runs (id, project_id, project_name, project_hash, backend, options, status, created_at,
                             updated_at, pid, hostname, pid_namespace, heartbeat_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $7, $8, $9, $10, $11)
           ON CONFLICT (id) DO NOTHING RETURNING *`,
          [id, projectId, projectName, projectHash, backend, toJson(input.options), iso(now), ...owner],
        );
        if (row !== undefined) return runFromRow(row);
      }
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.#db.read('getRun', async (sql) => {
      const [row] = await sql.rows<RunRow>('SELECT * FROM runs WHERE id = $1', [id]);
      return row && runFromRow(row);
    });
  }

  async getRunStatus(id: string): Promise<RunStatus | undefined> {
    return this.#db.read('getRunStatus', async (sql) => {
      const [row] = await sql.rows<{ status: RunStatus }>('SELECT status FROM runs WHERE id = $1', [id]);
      return row?.status;
    });
  }

  async listRuns(options: ListRunsOptions = {}): Promise<RunRecord[]> {
    return this.#db.read('listRuns', async (sql) => {
      const statuses =
        options.status === undefined
          ? null
          : typeof options.status === 'string'
            ? [options.status]
            : [...options.status];
      const rows = await sql.rows<RunRow>(
        `SELECT * FROM runs WHERE ($1::text IS NULL OR project_id = $1) AND ($2::text[] IS NULL OR status = ANY($2))
         ORDER BY seq DESC LIMIT $3`,
        [options.projectId ?? null, statuses, options.limit ?? 50],
      );
      return rows.map(runFromRow);
    });
  }

  async setRunStatus(id: string, status: RunStatus, options: SetRunStatusOptions = {}): Promise<RunRecord> {
    return this.#db.write('setRunStatus', async (sql, now) => {
      const at = iso(now);
      const error = options.error === undefined ? null : toJson(options.error);
      const result = options.result === undefined ? null : toJson(options.result);
      const terminal = TERMINAL_RUN_STATUSES.includes(status);
      if (!terminal) {
        const [row] = await sql.rows<{ project_id: string }>('SELECT project_id FROM runs WHERE id = $1', [
          id,
        ]);
        // Resuming claims the run: not while its own process (or another run of the project) is still live.
        if (row) await this.#assertNoLiveRun(sql, row.project_id, now);
      }
      const [row] = terminal
        ? await sql.rows<RunRow>(
            `UPDATE runs SET status = $2, updated_at = $3, finished_at = $3, error = $4,
               result = COALESCE($5, result) WHERE id = $1 RETURNING *`,
            [id, status, at, error, result],
          )
        : // Resuming a run claims it for this process and clears the previous ending.
          await sql.rows<RunRow>(
            `UPDATE runs SET status = $2, updated_at = $3, finished_at = NULL, error = NULL,
               result = COALESCE($4, result), pid = $5, hostname = $6, pid_namespace = $7, heartbeat_at = $8
             WHERE id = $1 RETURNING *`,
            [id, status, at, result, ...this.#owner(now)],
          );
      if (row === undefined) throw this.#db.runNotFound(id);
      // Steps still in flight when a run ends did not finish: close their executions as interrupted and drop their
      // 'running' journal rows, so no run shows work that will never complete.
      if (terminal) await closeInFlight(sql, id, at);
      return runFromRow(row);
    });
  }

  async markStaleRunsInterrupted(): Promise<string[]> {
    return this.#db.write('markStaleRunsInterrupted', async (sql, now) => {
      // FOR UPDATE: a process renewing its lease meanwhile waits, then finds its run interrupted.
      const running = await sql.rows<RunRow>(`SELECT * FROM runs WHERE status = 'running' FOR UPDATE`);
      const stale = running.filter((row) => this.#isStale(row, now)).map((row) => row.id);
      await interrupt(sql, stale, now, 'the process running this run ended without finishing it');
      return stale;
    });
  }

  async renewLease(runId: string): Promise<boolean> {
    return this.#db.write('renewLease', async (sql, now) => {
      const [pid, hostname, pidNamespace, beat] = this.#owner(now);
      const changed = await sql.run(
        `UPDATE runs SET heartbeat_at = $5 WHERE id = $1 AND status = 'running' AND pid = $2 AND hostname = $3
           AND pid_namespace IS NOT DISTINCT FROM $4`,
        [runId, pid, hostname, pidNamespace, beat],
      );
      return changed === 1;
    });
  }

  async runHolders(projectId: string): Promise<RunHolder[]> {
    return this.#db.write('runHolders', (sql, now) => this.#holders(sql, projectId, now));
  }

  async unlockProject(projectId: string, options: UnlockOptions = {}): Promise<RunRecord[]> {
    return this.#db.write('unlockProject', async (sql, now) => {
      await lockProject(sql, projectId);
      const holders = await this.#holders(sql, projectId, now);
      const live = holders.filter((h) => h.live);
      if (live.length > 0 && !options.force) {
        throw unlockRefused(projectId, live[0]!);
      }
      const ids = holders.map((h) => h.run.id);
      await interrupt(sql, ids, now, 'unlocked by `storycore unlock`: its process was taken to be gone');
      const rows = await sql.rows<RunRow>('SELECT * FROM runs WHERE id = ANY($1) ORDER BY seq', [ids]);
      return rows.map(runFromRow);
    });
  }

  async pruneRuns(options: PruneRunsOptions): Promise<PruneRunsResult> {
    let result: PruneRunsResult | undefined;
    await this.#db.write(
      'pruneRuns',
      async (sql, now) => {
        const running = await sql.rows<RunRow>(`SELECT * FROM runs WHERE status = 'running'`);
        const live = running.filter((row) => !this.#isStale(row, now));
        result = await pruneRunsPg(sql, {
          ...options,
          liveProjects: new Set(live.map((row) => row.project_id)),
          liveRuns: new Set(live.map((row) => row.id)),
        });
      },
      // A dry run does everything and rolls it back, so it reports exactly what a real one would do.
      { rollback: options.dryRun === true },
    );
    return result as PruneRunsResult;
  }

  async findLatestResumable(projectId: string): Promise<RunRecord | undefined> {
    return this.#db.write('findLatestResumable', async (sql, now) => {
      const rows = await sql.rows<RunRow>('SELECT * FROM runs WHERE project_id = $1 ORDER BY seq DESC', [
        projectId,
      ]);
      for (const row of rows) {
        // A newer success supersedes anything older: there is nothing left to resume.
        if (row.status === 'succeeded') return undefined;
        if (RESUMABLE.includes(row.status) || (row.status === 'running' && this.#isStale(row, now))) {
          return runFromRow(row);
        }
      }
      return undefined;
    });
  }

  findCompletedStep(projectId: string, stepId: string, inputHash: string): Promise<StepRecord | undefined> {
    return this.#steps.findCompleted(projectId, stepId, inputHash);
  }
  recordStepStart(runId: string, stepId: string, inputHash: string): Promise<number> {
    return this.#steps.start(runId, stepId, inputHash);
  }
  recordStepDone(runId: string, step: StepDoneInput): Promise<StepRecord> {
    return this.#steps.done(runId, step);
  }
  recordStepReused(runId: string, stepId: string, inputHash: string): Promise<StepRecord> {
    return this.#steps.reused(runId, stepId, inputHash);
  }
  recordStepFailed(runId: string, step: StepFailedInput): Promise<StepRecord> {
    return this.#steps.failed(runId, step);
  }
  listSteps(runId: string): Promise<StepRecord[]> {
    return this.#steps.list(runId);
  }
  countExecutions(filter: ExecutionFilter = {}): Promise<number> {
    return this.#steps.countExecutions(filter);
  }
  listExecutions(options: ListExecutionsOptions = {}): Promise<ExecutionRecord[]> {
    return this.#steps.listExecutions(options);
  }

  async appendEvent(runId: string, type: string, payload: unknown): Promise<number> {
    return (await this.appendEvents(runId, [{ type, payload }]))[0] as number;
  }

  /**
   * The run row holds the counter: the UPDATE takes its row lock, so appenders in several processes are
   * serialised on it and each batch gets a contiguous block of seqs, never reused (not even after pruning).
   */
  async appendEvents(runId: string, events: readonly NewEvent[]): Promise<number[]> {
    if (events.length === 0) return [];
    // Appends this process makes in order are numbered in that order: on a pool, two transactions begun in order
    // can reach the run row's lock in either order, so each waits for the previous append of its run. (The
    // orchestrator and workers append as events happen, without waiting; a page replays the log by seq.)
    const previous = this.#eventTails.get(runId);
    const mine = (previous ?? Promise.resolve()).then(() => this.#appendNow(runId, events));
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#eventTails.set(runId, tail);
    void tail.then(() => {
      if (this.#eventTails.get(runId) === tail) this.#eventTails.delete(runId);
    });
    return mine;
  }

  /**
   * One statement, so one round trip and atomic without BEGIN/COMMIT: the counter's UPDATE and the INSERT that
   * numbers the batch from it. Four round trips each holding the run row's lock (BEGIN with the clock, UPDATE,
   * INSERT, COMMIT) serialised every worker's appends to a run behind each other's network waits. The time is the
   * server's clock at the statement, in the ISO form `iso` gives the store's other times (ms, UTC, `Z`).
   */
  async #appendNow(runId: string, events: readonly NewEvent[]): Promise<number[]> {
    return this.#db.read('appendEvents', async (sql) => {
      const rows = await sql.rows<{ seq: number }>(
        `WITH bumped AS (
           UPDATE runs SET last_event_seq = last_event_seq + $2 WHERE id = $1 RETURNING last_event_seq
         )
         INSERT INTO events (run_id, seq, type, payload, at)
         SELECT $1, bumped.last_event_seq - $2 + e.i, e.type, e.payload,
                to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
         FROM bumped, unnest($3::text[], $4::text[]) WITH ORDINALITY AS e(type, payload, i)
         RETURNING seq`,
        [runId, events.length, events.map((e) => e.type), events.map((e) => toJson(e.payload))],
      );
      if (rows.length === 0) throw this.#db.runNotFound(runId);
      return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
    });
  }

  async listEvents(runId: string, options: ListEventsOptions = {}): Promise<EventRecord[]> {
    return this.#db.read('listEvents', async (sql) => {
      const rows = await sql.rows<EventRow>(
        'SELECT * FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [runId, options.afterSeq ?? 0, options.limit ?? 1000],
      );
      return rows.map(eventFromRow);
    });
  }

  async pruneEvents(runId: string, keepLast: number): Promise<number> {
    const keep = Math.max(0, Math.floor(keepLast));
    return this.#db.write('pruneEvents', (sql) =>
      sql.run(
        'DELETE FROM events WHERE run_id = $1 AND seq <= (SELECT last_event_seq FROM runs WHERE id = $1) - $2',
        [runId, keep],
      ),
    );
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  async #holders(sql: Sql, projectId: string, now: number): Promise<RunHolder[]> {
    const rows = await sql.rows<RunRow>(
      `SELECT * FROM runs WHERE project_id = $1 AND status = 'running' ORDER BY seq`,
      [projectId],
    );
    return rows.map((row) => ({
      run: runFromRow(row),
      live: !this.#isStale(row, now),
      heartbeatAgeMs: Math.max(0, now - heartbeatOf(row)),
    }));
  }

  /**
   * One live run per project: checked under the project's advisory lock (held to the end of the transaction), so
   * two processes creating or resuming a run of the same project at once are serialised and the second sees the
   * first. A 'running' run whose lease went stale does not count: it was interrupted.
   */
  async #assertNoLiveRun(sql: Sql, projectId: string, now: number): Promise<void> {
    await lockProject(sql, projectId);
    const live = (await this.#holders(sql, projectId, now)).find((h) => h.live);
    if (live) {
      throw liveRunConflict(projectId, live, this.lease.staleAfterMs);
    }
  }

  /**
   * Dead when its lease has not been renewed for staleAfterMs (by the server's clock), whatever its pid says.
   * While the lease is fresh, a pid proves the run dead sooner only where it means something: this hostname and
   * pid namespace (another machine's pid says nothing here).
   */
  #isStale(row: RunRow, now: number): boolean {
    if (now - heartbeatOf(row) > this.lease.staleAfterMs) return true;
    const here = row.hostname === this.#db.hostname && (row.pid_namespace ?? null) === this.#db.pidNamespace;
    return here && (row.pid === null || !isProcessAlive(row.pid));
  }

  /** pid, hostname, pid namespace and the lease renewed at `now`: the columns that say who holds a run. */
  #owner(now: number): [number, string, string | null, number] {
    return [process.pid, this.#db.hostname, this.#db.pidNamespace, now];
  }
}

async function lockProject(sql: Sql, projectId: string): Promise<void> {
  await sql.run('SELECT pg_advisory_xact_lock(hashtext($1))', [`storycore:project:${projectId}`]);
}

/** Ends runs as interrupted: their in-flight executions closed, their 'running' journal rows dropped. */
async function interrupt(sql: Sql, ids: readonly string[], now: number, message: string): Promise<void> {
  if (ids.length === 0) return;
  const at = iso(now);
  await sql.run(
    `UPDATE runs SET status = 'interrupted', updated_at = $2, finished_at = $2, error = $3 WHERE id = ANY($1)`,
    [ids, at, toJson({ code: 'interrupted', message })],
  );
  for (const id of ids) await closeInFlight(sql, id, at);
}

async function closeInFlight(sql: Sql, runId: string, at: string): Promise<void> {
  await sql.run(
    `UPDATE executions SET outcome = 'interrupted', finished_at = $2 WHERE run_id = $1 AND outcome = 'running'`,
    [runId, at],
  );
  await sql.run(`DELETE FROM run_steps WHERE run_id = $1 AND status = 'running'`, [runId]);
}

function heartbeatOf(row: RunRow): number {
  return typeof row.heartbeat_at === 'number' ? row.heartbeat_at : Date.parse(row.updated_at);
}
