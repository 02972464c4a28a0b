import { NotFoundError } from '../core/errors.js';
import { assertArtifactRefs, executionFromRow, stepFromRow, toJson } from './rows.js';
import type { ExecutionRow, JournalRow, StepRow } from './rows.js';
import type {
  ExecutionFilter,
  ExecutionRecord,
  ListExecutionsOptions,
  StepDoneInput,
  StepFailedInput,
  StepRecord,
} from './run-store.js';
import type { SqliteConnection } from './sqlite-connection.js';

/** Each filter field is optional: `@x IS NULL` turns an absent one into "any". */
const EXECUTION_FILTER =
  '(@projectId IS NULL OR project_id = @projectId) AND (@runId IS NULL OR run_id = @runId) AND (@stepId IS NULL OR step_id = @stepId)';

const UPSERT_MEMO = `
  INSERT INTO step_memo (project_id, step_id, input_hash, run_id, artifacts, output, attempts, duration_ms, started_at, finished_at)
  VALUES (@projectId, @stepId, @inputHash, @runId, @artifacts, @output, @attempts, @durationMs, @startedAt, @finishedAt)
  ON CONFLICT (project_id, step_id, input_hash) DO UPDATE SET
    run_id = excluded.run_id, artifacts = excluded.artifacts, output = excluded.output, attempts = excluded.attempts,
    duration_ms = excluded.duration_ms, started_at = excluded.started_at, finished_at = excluded.finished_at`;

/**
 * The journal row of (run, step), written unless it would overwrite the step's result: a 'done' row with the same
 * inputs stays when the execution being journaled (`@executionStartedAt`) started before that row finished (or in its millisecond) — it
 * ran alongside the one that finished first (a stalled job taken over while its first worker still ran), so it is
 * a duplicate. A start never downgrades a 'done' row. An execution that started after the step was done
 * (`--fresh`, or the memo's artifacts had gone) replaces it. The PostgreSQL store keeps the same rule.
 */
const UPSERT_JOURNAL = `
  INSERT INTO run_steps (run_id, step_id, input_hash, status, artifacts, output, attempts, duration_ms, started_at,
                         finished_at, error, source_run_id, first_seen)
  VALUES (@runId, @stepId, @inputHash, @status, @artifacts, @output, @attempts, @durationMs, @startedAt,
          @finishedAt, @error, @sourceRunId, (SELECT COALESCE(MAX(first_seen), 0) + 1 FROM run_steps WHERE run_id = @runId))
  ON CONFLICT (run_id, step_id) DO UPDATE SET
    input_hash = excluded.input_hash, status = excluded.status, artifacts = excluded.artifacts, output = excluded.output,
    attempts = excluded.attempts, duration_ms = excluded.duration_ms, started_at = excluded.started_at,
    finished_at = excluded.finished_at, error = excluded.error, source_run_id = excluded.source_run_id
  WHERE NOT (run_steps.status = 'done' AND run_steps.input_hash = excluded.input_hash
             AND (@executionStartedAt IS NULL OR run_steps.finished_at >= @executionStartedAt))`;

/**
 * The step memo (one row per project, step and input hash: what any run finished) and the journal
 * (what each run did with each step), plus one row per real execution.
 */
export class SqliteStepJournal {
  readonly #db: SqliteConnection;

  constructor(db: SqliteConnection) {
    this.#db = db;
  }

  findCompleted(projectId: string, stepId: string, inputHash: string): StepRecord | undefined {
    return this.#db.read('findCompletedStep', () => {
      const row = this.#db
        .sql(
          `SELECT run_id, step_id, input_hash, 'done' AS status, artifacts, output, attempts, duration_ms, started_at,
                  finished_at, NULL AS error, NULL AS source_run_id
           FROM step_memo WHERE project_id = ? AND step_id = ? AND input_hash = ?`,
        )
        .get(projectId, stepId, inputHash) as StepRow | undefined;
      return row && stepFromRow(row);
    });
  }

  start(runId: string, stepId: string, inputHash: string): number {
    return this.#db.write('recordStepStart', () => {
      const run = this.#db.requireRunProject(runId);
      const at = new Date().toISOString();
      const { lastInsertRowid } = this.#db
        .sql(
          `INSERT INTO executions (run_id, project_id, step_id, input_hash, started_at, outcome)
           VALUES (?, ?, ?, ?, ?, 'running')`,
        )
        .run(runId, run.projectId, stepId, inputHash, at);
      this.#upsertJournal({ runId, stepId, inputHash, status: 'running', startedAt: at });
      return Number(lastInsertRowid);
    });
  }

  done(runId: string, step: StepDoneInput): StepRecord {
    assertArtifactRefs(step.stepId, step.artifacts);
    const { stepId, inputHash, attempts, durationMs } = step;
    return this.#db.write('recordStepDone', () => {
      const run = this.#db.requireRunProject(runId);
      const finishedAt = new Date().toISOString();
      const startedAt = this.#closeExecution(run, stepId, inputHash, 'done', finishedAt, durationMs);
      const artifacts = toJson(step.artifacts);
      const output = toJson(step.output);
      const row = {
        runId,
        stepId,
        inputHash,
        artifacts,
        output,
        attempts,
        durationMs,
        startedAt,
        finishedAt,
      };
      // Idempotent: when another execution of these inputs was journaled done while this one ran, the journal
      // and memo keep that record (this execution is still closed, above) and it is what the call returns.
      if (this.#upsertJournal({ ...row, status: 'done', executionStartedAt: startedAt })) {
        this.#db.sql(UPSERT_MEMO).run({ ...row, projectId: run.projectId });
      }
      return this.#requireStep(runId, stepId);
    });
  }

  reused(runId: string, stepId: string, inputHash: string): StepRecord {
    return this.#db.writeSoon('recordStepReused', () => {
      const run = this.#db.requireRunProject(runId);
      const memo = this.findCompleted(run.projectId, stepId, inputHash);
      if (memo === undefined) {
        throw new NotFoundError(
          `no finished step ${stepId} with input hash ${inputHash} in project ${run.projectId} to reuse`,
          { details: { runId, stepId, inputHash } },
        );
      }
      const at = new Date().toISOString();
      this.#upsertJournal({
        runId,
        stepId,
        inputHash,
        status: 'reused',
        startedAt: at,
        finishedAt: at,
        artifacts: toJson(memo.artifacts),
        output: toJson(memo.output),
        sourceRunId: memo.runId,
      });
      return this.#requireStep(runId, stepId);
    });
  }

  failed(runId: string, step: StepFailedInput): StepRecord {
    const { stepId, inputHash, attempts } = step;
    return this.#db.write('recordStepFailed', () => {
      const run = this.#db.requireRunProject(runId);
      const finishedAt = new Date().toISOString();
      const startedAt = this.#closeExecution(run, stepId, inputHash, 'failed', finishedAt, 0);
      const durationMs = Date.parse(finishedAt) - Date.parse(startedAt);
      const error = toJson(step.error);
      this.#upsertJournal({
        runId,
        stepId,
        inputHash,
        status: 'failed',
        startedAt,
        finishedAt,
        attempts,
        durationMs,
        error,
        // A duplicate execution failing after the step was done does not undo it.
        executionStartedAt: startedAt,
      });
      return this.#requireStep(runId, stepId);
    });
  }

  list(runId: string): StepRecord[] {
    return this.#db.read('listSteps', () => {
      const rows = this.#db
        .sql('SELECT * FROM run_steps WHERE run_id = ? ORDER BY first_seen')
        .all(runId) as StepRow[];
      return rows.map(stepFromRow);
    });
  }

  countExecutions(filter: ExecutionFilter = {}): number {
    return this.#db.read('countExecutions', () => {
      const sql = `SELECT COUNT(*) AS n FROM executions WHERE ${EXECUTION_FILTER}`;
      return (this.#db.sql(sql).get(executionParams(filter)) as { n: number }).n;
    });
  }

  listExecutions(options: ListExecutionsOptions = {}): ExecutionRecord[] {
    return this.#db.read('listExecutions', () => {
      const sql = `SELECT * FROM executions WHERE ${EXECUTION_FILTER} ORDER BY id LIMIT @limit`;
      const rows = this.#db
        .sql(sql)
        .all({ ...executionParams(options), limit: options.limit ?? 1000 }) as ExecutionRow[];
      return rows.map(executionFromRow);
    });
  }

  #requireStep(runId: string, stepId: string): StepRecord {
    const row = this.#db
      .sql('SELECT * FROM run_steps WHERE run_id = ? AND step_id = ?')
      .get(runId, stepId) as StepRow;
    return stepFromRow(row);
  }

  /** Closes the step's open execution (or records one when its start was never journaled); returns when it started. */
  #closeExecution(
    run: { id: string; projectId: string },
    stepId: string,
    inputHash: string,
    outcome: 'done' | 'failed',
    at: string,
    durationMs: number,
  ): string {
    const open = this.#db
      .sql(
        `SELECT id, started_at FROM executions WHERE run_id = ? AND step_id = ? AND outcome = 'running'
         ORDER BY id DESC LIMIT 1`,
      )
      .get(run.id, stepId) as { id: number; started_at: string } | undefined;
    if (open !== undefined) {
      this.#db
        .sql('UPDATE executions SET outcome = ?, finished_at = ?, input_hash = ? WHERE id = ?')
        .run(outcome, at, inputHash, open.id);
      return open.started_at;
    }
    const startedAt = new Date(Date.parse(at) - Math.max(0, durationMs)).toISOString();
    this.#db
      .sql(
        `INSERT INTO executions (run_id, project_id, step_id, input_hash, started_at, finished_at, outcome)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(run.id, run.projectId, stepId, inputHash, startedAt, at, outcome);
    return startedAt;
  }

  /** False when a 'done' row was kept (see UPSERT_JOURNAL). */
  #upsertJournal(row: JournalRow): boolean {
    const { changes } = this.#db.sql(UPSERT_JOURNAL).run({
      ...row,
      artifacts: row.artifacts ?? '{}',
      output: row.output ?? 'null',
      attempts: row.attempts ?? 0,
      durationMs: row.durationMs ?? 0,
      finishedAt: row.finishedAt ?? null,
      error: row.error ?? null,
      sourceRunId: row.sourceRunId ?? null,
      executionStartedAt: row.executionStartedAt ?? null,
    });
    return changes === 1;
  }
}

function executionParams(filter: ExecutionFilter): Record<'projectId' | 'runId' | 'stepId', string | null> {
  return { projectId: filter.projectId ?? null, runId: filter.runId ?? null, stepId: filter.stepId ?? null };
}
