import { ValidationError } from '../core/errors.js';
import type {
  EventRecord,
  ExecutionOutcome,
  ExecutionRecord,
  RunRecord,
  RunStatus,
  StepRecord,
  StepStatus,
  StoredError,
} from './run-store.js';

/** Row shapes as SQLite (and, with the same columns, PostgreSQL) return them, and their mapping to the store's records. */

export interface RunRow {
  id: string;
  project_id: string;
  project_name: string;
  project_hash: string;
  backend: string;
  options: string;
  status: RunStatus;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  error: string | null;
  result: string | null;
  pid: number | null;
  hostname: string | null;
  /** Present from schema v2 on; a read-only connection to an older file has neither. */
  heartbeat_at?: number | null;
  pid_namespace?: string | null;
}

export interface StepRow {
  run_id: string;
  step_id: string;
  input_hash: string;
  status: StepStatus;
  artifacts: string;
  output: string;
  attempts: number;
  duration_ms: number;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  source_run_id: string | null;
}

export interface ExecutionRow {
  id: number;
  run_id: string;
  project_id: string;
  step_id: string;
  input_hash: string;
  started_at: string;
  finished_at: string | null;
  outcome: ExecutionOutcome;
}

export interface EventRow {
  run_id: string;
  seq: number;
  type: string;
  payload: string;
  at: string;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** A done step's artifacts are content addresses: anything else (a path, a URL) is refused before it is stored. */
export function assertArtifactRefs(stepId: string, artifacts: Record<string, string>): void {
  for (const [name, sha] of Object.entries(artifacts)) {
    if (!SHA256.test(sha)) {
      throw new ValidationError(
        `step ${stepId}: artifact "${name}" is not a sha256 hex digest: ${JSON.stringify(sha)}`,
        [{ path: `artifacts.${name}`, message: 'expected 64 lowercase hex characters' }],
      );
    }
  }
}

/** JSON text for a column; `undefined` has no JSON form, so it is stored as null. */
export function toJson(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

export function runFromRow(row: RunRow): RunRecord {
  const run: RunRecord = {
    id: row.id,
    projectId: row.project_id,
    projectName: row.project_name,
    projectHash: row.project_hash,
    backend: row.backend,
    options: JSON.parse(row.options) as unknown,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.finished_at !== null) run.finishedAt = row.finished_at;
  if (row.error !== null) run.error = JSON.parse(row.error) as StoredError;
  if (row.result !== null) run.result = JSON.parse(row.result) as unknown;
  if (row.pid !== null) run.pid = row.pid;
  if (row.hostname !== null) run.hostname = row.hostname;
  if (typeof row.heartbeat_at === 'number') run.heartbeatAt = new Date(row.heartbeat_at).toISOString();
  return run;
}

export function stepFromRow(row: StepRow): StepRecord {
  const step: StepRecord = {
    runId: row.run_id,
    stepId: row.step_id,
    inputHash: row.input_hash,
    status: row.status,
    artifacts: JSON.parse(row.artifacts) as Record<string, string>,
    output: JSON.parse(row.output) as unknown,
    attempts: row.attempts,
    durationMs: row.duration_ms,
    startedAt: row.started_at,
  };
  if (row.finished_at !== null) step.finishedAt = row.finished_at;
  if (row.error !== null) step.error = JSON.parse(row.error) as StoredError;
  if (row.source_run_id !== null) step.sourceRunId = row.source_run_id;
  return step;
}

export function executionFromRow(row: ExecutionRow): ExecutionRecord {
  const execution: ExecutionRecord = {
    id: row.id,
    runId: row.run_id,
    projectId: row.project_id,
    stepId: row.step_id,
    inputHash: row.input_hash,
    startedAt: row.started_at,
    outcome: row.outcome,
  };
  if (row.finished_at !== null) execution.finishedAt = row.finished_at;
  return execution;
}

export function eventFromRow(row: EventRow): EventRecord {
  return {
    runId: row.run_id,
    seq: row.seq,
    type: row.type,
    payload: JSON.parse(row.payload) as unknown,
    at: row.at,
  };
}

/** One journal write as both step journals (SQLite, PostgreSQL) bind it to their upsert. */
export interface JournalRow {
  runId: string;
  stepId: string;
  inputHash: string;
  status: StepStatus;
  startedAt: string;
  finishedAt?: string;
  artifacts?: string;
  output?: string;
  attempts?: number;
  durationMs?: number;
  error?: string;
  sourceRunId?: string;
  /** When the execution being journaled started; absent for a start (which never replaces a done row). */
  executionStartedAt?: string;
}
