import { NotFoundError } from '../../core/errors.js';
import { assertArtifactRefs, executionFromRow, stepFromRow, toJson } from '../rows.js';
import type { ExecutionRow, JournalRow, StepRow } from '../rows.js';
import type {
  ExecutionFilter,
  ExecutionRecord,
  ListExecutionsOptions,
  StepDoneInput,
  StepFailedInput,
  StepRecord,
} from '../run-store.js';
import type { PostgresConnection, Sql } from './postgres-connection.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** Each filter field is optional: `$n IS NULL` turns an absent one into "any". */
const EXECUTION_FILTER =
  '($1::text IS NULL OR project_id = $1) AND ($2::text IS NULL OR run_id = $2) AND ($3::text IS NULL OR step_id = $3)';

/**
 * The journal row of (run, step), written unless it would overwrite the step's result: a 'done' row with the same
 * inputs stays when `$13` (when the execution being journaled started) is not later than the row's finish — that
 * execution ran alongside the one that finished first (a stalled job taken over while its first worker still
 * ran), so it is a duplicate. A start never downgrades a 'done' row (`$13` NULL). An execution that started after
 * the step was done (`--fresh`, or the memo's artifacts had gone) replaces it.
 */
const UPSERT_JOURNAL = `
  INSERT INTO run_steps (run_id, step_id, input_hash, status, artifacts, output, attempts, duration_ms, started_at,
                         finished_at, error, source_run_id)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
  ON CONFLICT (run_id, step_id) DO UPDATE SET
    input_hash = excluded.input_hash, status = excluded.status, artifacts = excluded.artifacts,
    output = excluded.output, attempts = excluded.attempts, duration_ms = excluded.duration_ms,
    started_at = excluded.started_at, finished_at = excluded.finished_at, error = excluded.error,
    source_run_id = excluded.source_run_id
  WHERE NOT (run_steps.status = 'done' AND run_steps.input_hash = excluded.input_hash
             AND ($13::text IS NULL OR run_steps.finished_at >= $13::text))
  RETURNING *`;

const UPSERT_MEMO = `
  INSERT INTO step_memo (project_id, step_id, input_hash, run_id, artifacts, output, attempts, duration_ms,
                         started_at, finished_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
  ON CONFLICT (project_id, step_id, input_hash) DO UPDATE SET
    run_id = excluded.run_id, artifacts = excluded.artifacts, output = excluded.output,
    attempts = excluded.attempts, duration_ms = excluded.duration_ms, started_at = excluded.started_at,
    finished_at = excluded.finished_at`;

/** The step memo and journal, and one row per real execution, as the embedded store keeps them. */
export class PostgresStepJournal {
  readonly #db: PostgresConnection;

  constructor(db: PostgresConnection) {
    this.#db = db;
  }

  async findCompleted(projectId: string, stepId: string, inputHash: string): Promise<StepRecord | undefined> {
    return this.#db.read('findCompletedStep', async (sql) => {
      const [row] = await sql.rows<StepRow>(
        `SELECT run_id, step_id, input_hash, 'done' AS status, artifacts, output, attempts, duration_ms, started_at,
                finished_at, NULL AS error, NULL AS source_run_id
         FROM step_memo WHERE project_id = $1 AND step_id = $2 AND input_hash = $3`,
        [projectId, stepId, inputHash],
      );
      return row && stepFromRow(row);
    });
  }

  async start(runId: string, stepId: string, inputHash: string): Promise<number> {
    return this.#db.write('recordStepStart', async (sql, now) => {
      const run = await this.#db.requireRun(sql, runId);
      const at = iso(now);
      const [execution] = await sql.rows<{ id: number }>(
        `INSERT INTO executions (run_id, project_id, step_id, input_hash, started_at, outcome)
         VALUES ($1, $2, $3, $4, $5, 'running') RETURNING id`,
        [runId, run.projectId, stepId, inputHash, at],
      );
      await upsertJournal(sql, { runId, stepId, inputHash, status: 'running', startedAt: at });
      return (execution as { id: number }).id;
    });
  }

  /**
   * Memo + journal + execution close in one transaction. Idempotent: when another execution of the same step
   * and inputs was journaled done while this one ran, this call closes its own execution and returns that record,
   * leaving journal and memo as they are. The journal row's lock serialises two such calls arriving at once.
   */
  async done(runId: string, step: StepDoneInput): Promise<StepRecord> {
    assertArtifactRefs(step.stepId, step.artifacts);
    const { stepId, inputHash, attempts, durationMs } = step;
    return this.#db.write('recordStepDone', async (sql, now) => {
      const run = await this.#db.requireRun(sql, runId);
      const finishedAt = iso(now);
      const startedAt = await closeExecution(sql, run.projectId, runId, step, 'done', now, durationMs);
      const row = {
        runId,
        stepId,
        inputHash,
        artifacts: toJson(step.artifacts),
        output: toJson(step.output),
        attempts,
        durationMs,
        startedAt,
        finishedAt,
      };
      const written = await upsertJournal(sql, { ...row, status: 'done', executionStartedAt: startedAt });
      if (written === undefined) return this.#requireStep(sql, runId, stepId);
      await sql.run(UPSERT_MEMO, [
        run.projectId,
        stepId,
        inputHash,
        runId,
        row.artifacts,
        row.output,
        attempts,
        durationMs,
        startedAt,
        finishedAt,
      ]);
      return written;
    });
  }

  async reused(runId: string, stepId: string, inputHash: string): Promise<StepRecord> {
    return this.#db.write('recordStepReused', async (sql, now) => {
      const run = await this.#db.requireRun(sql, runId);
      const [memo] = await sql.rows<{ run_id: string; artifacts: string; output: string }>(
        'SELECT run_id, artifacts, output FROM step_memo WHERE project_id = $1 AND step_id = $2 AND input_hash = $3',
        [run.projectId, stepId, inputHash],
      );
      if (memo === undefined) {
        throw new NotFoundError(
          `no finished step ${stepId} with input hash ${inputHash} in project ${run.projectId} to reuse`,
          { details: { runId, stepId, inputHash } },
        );
      }
      const at = iso(now);
      const written = await upsertJournal(sql, {
        runId,
        stepId,
        inputHash,
        status: 'reused',
        startedAt: at,
        finishedAt: at,
        artifacts: memo.artifacts,
        output: memo.output,
        sourceRunId: memo.run_id,
      });
      return written ?? this.#requireStep(sql, runId, stepId);
    });
  }

  async failed(runId: string, step: StepFailedInput): Promise<StepRecord> {
    const { stepId, inputHash, attempts } = step;
    return this.#db.write('recordStepFailed', async (sql, now) => {
      const run = await this.#db.requireRun(sql, runId);
      const finishedAt = iso(now);
      const startedAt = await closeExecution(sql, run.projectId, runId, step, 'failed', now, 0);
      const written = await upsertJournal(sql, {
        runId,
        stepId,
        inputHash,
        status: 'failed',
        startedAt,
        finishedAt,
        attempts,
        durationMs: now - Date.parse(startedAt),
        error: toJson(step.error),
        executionStartedAt: startedAt,
      });
      // A duplicate execution failing after the step was done does not undo it.
      return written ?? this.#requireStep(sql, runId, stepId);
    });
  }

  async list(runId: string): Promise<StepRecord[]> {
    return this.#db.read('listSteps', async (sql) => {
      const rows = await sql.rows<StepRow>('SELECT * FROM run_steps WHERE run_id = $1 ORDER BY first_seen', [
        runId,
      ]);
      return rows.map(stepFromRow);
    });
  }

  async countExecutions(filter: ExecutionFilter = {}): Promise<number> {
    return this.#db.read('countExecutions', async (sql) => {
      const [row] = await sql.rows<{ n: number }>(
        `SELECT count(*)::int AS n FROM executions WHERE ${EXECUTION_FILTER}`,
        executionParams(filter),
      );
      return row?.n ?? 0;
    });
  }

  async listExecutions(options: ListExecutionsOptions = {}): Promise<ExecutionRecord[]> {
    return this.#db.read('listExecutions', async (sql) => {
      const rows = await sql.rows<ExecutionRow>(
        `SELECT * FROM executions WHERE ${EXECUTION_FILTER} ORDER BY id LIMIT $4`,
        [...executionParams(options), options.limit ?? 1000],
      );
      return rows.map(executionFromRow);
    });
  }

  async #requireStep(sql: Sql, runId: string, stepId: string): Promise<StepRecord> {
    const [row] = await sql.rows<StepRow>('SELECT * FROM run_steps WHERE run_id = $1 AND step_id = $2', [
      runId,
      stepId,
    ]);
    return stepFromRow(row as StepRow);
  }
}

/** The journal row as written, or undefined when a 'done' row was kept (see UPSERT_JOURNAL). */
async function upsertJournal(sql: Sql, row: JournalRow): Promise<StepRecord | undefined> {
  const [written] = await sql.rows<StepRow>(UPSERT_JOURNAL, [
    row.runId,
    row.stepId,
    row.inputHash,
    row.status,
    row.artifacts ?? '{}',
    row.output ?? 'null',
    row.attempts ?? 0,
    row.durationMs ?? 0,
    row.startedAt,
    row.finishedAt ?? null,
    row.error ?? null,
    row.sourceRunId ?? null,
    row.executionStartedAt ?? null,
  ]);
  return written && stepFromRow(written);
}

/**
 * Closes this call's open execution of the step (or records one when its start was never journaled); returns when
 * it started. SKIP LOCKED: two workers closing executions of the same step at once each take their own row.
 */
async function closeExecution(
  sql: Sql,
  projectId: string,
  runId: string,
  step: { stepId: string; inputHash: string },
  outcome: 'done' | 'failed',
  now: number,
  durationMs: number,
): Promise<string> {
  const at = iso(now);
  const [closed] = await sql.rows<{ started_at: string }>(
    `UPDATE executions SET outcome = $3, finished_at = $4, input_hash = $5
     WHERE id = (SELECT id FROM executions WHERE run_id = $1 AND step_id = $2 AND outcome = 'running'
                 ORDER BY id DESC LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING started_at`,
    [runId, step.stepId, outcome, at, step.inputHash],
  );
  if (closed !== undefined) return closed.started_at;
  const startedAt = iso(now - Math.max(0, durationMs));
  await sql.run(
    `INSERT INTO executions (run_id, project_id, step_id, input_hash, started_at, finished_at, outcome)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [runId, projectId, step.stepId, step.inputHash, startedAt, at, outcome],
  );
  return startedAt;
}

function executionParams(filter: ExecutionFilter): [string | null, string | null, string | null] {
  return [filter.projectId ?? null, filter.runId ?? null, filter.stepId ?? null];
}
