/**
 * The run store seam: runs, the memoised step journal, executions and events. Kept narrow (plain
 * records in, plain records out, no query language) so that a shared store (Postgres, Redis) can back
 * it later when many workers cooperate; the embedded default is `SqliteRunStore`.
 *
 * The interface is synchronous because the embedded implementation is (better-sqlite3 is a
 * synchronous driver and each call is sub-millisecond); a networked store would sit behind an async
 * variant of the same shapes.
 */

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export const RUN_STATUSES: readonly RunStatus[] = [
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'interrupted',
];

/** Statuses a run never leaves on its own: setting one of them stamps `finishedAt`. */
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = [
  'succeeded',
  'failed',
  'cancelled',
  'interrupted',
];

/** A failure as stored: serialisable, with the root cause kept apart from the wrapper's message. */
export interface StoredError {
  code: string;
  message: string;
  rootCause?: string;
  [key: string]: unknown;
}

export interface CreateRunInput {
  projectId: string;
  projectName: string;
  /** Hash of the project snapshot the run started from. */
  projectHash: string;
  /** Backend name ("draft", "comfyui"). */
  backend: string;
  /** Run options as given (retry policy, output dir…); must be JSON-serialisable. */
  options: unknown;
}

export interface RunRecord {
  /** Sortable id: `run-YYYYMMDD-HHMMSS-mmm-xxxx` (UTC). */
  id: string;
  projectId: string;
  projectName: string;
  projectHash: string;
  backend: string;
  options: unknown;
  status: RunStatus;
  /** ISO 8601 timestamps. */
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  error?: StoredError;
  result?: unknown;
  /** Process that last set the run running; used to tell a live run from one left behind by a crash. */
  pid?: number;
  hostname?: string;
  /** When the live process last renewed the run's lease (ISO 8601); see LeasePolicy. */
  heartbeatAt?: string;
}

/**
 * How a 'running' run proves it is alive: its process renews the lease every `heartbeatMs`; a lease not renewed for
 * `staleAfterMs` (a few missed beats) marks the run dead whatever its pid and hostname say. Pids are reused (pid 1
 * in every container) and hostnames change (each `docker run`), so neither can prove a run alive; on the same host
 * and pid namespace a dead pid still proves it dead at once.
 */
export interface LeasePolicy {
  /** @default 5000 */
  heartbeatMs: number;
  /** @default 20000 */
  staleAfterMs: number;
}

export const DEFAULT_LEASE: LeasePolicy = { heartbeatMs: 5000, staleAfterMs: 20_000 };

/** A 'running' run of a project and whether it still holds its lease. */
export interface RunHolder {
  run: RunRecord;
  /** True while the lease is fresh (and, on this host, its process exists). */
  live: boolean;
  /** Ms since the lease was last renewed. */
  heartbeatAgeMs: number;
}

export interface UnlockOptions {
  /** Also release runs that still look live (their lease is fresh). @default false */
  force?: boolean;
}

export interface PruneRunsOptions {
  /** Newest runs kept per project (the newest succeeded run of each project is kept too). */
  keepRuns: number;
  /** Compute what would go without changing anything. @default false */
  dryRun?: boolean;
  /**
   * Drop exactly these runs and keep every other (`keepRuns` is then ignored): a user deleting runs. Live runs are
   * kept even when named; memo rows are dropped only in the projects of the runs dropped.
   */
  dropRuns?: readonly string[];
}

export interface PruneRunsResult {
  /** Runs whose rows (journal, executions, events) were dropped (or would be, on a dry run). */
  droppedRuns: string[];
  /** Memo rows dropped: results no kept run journaled, which a rerun would recompute. */
  droppedMemo: number;
  /** Every artifact still referenced by a kept run's journal or by a kept memo row. */
  referenced: Set<string>;
  /** Projects with a live run: nothing of theirs is dropped. */
  liveProjects: string[];
}

export interface ListRunsOptions {
  projectId?: string;
  status?: RunStatus | readonly RunStatus[];
  /** @default 50 */
  limit?: number;
}

export interface SetRunStatusOptions {
  error?: StoredError;
  result?: unknown;
}

export type StepStatus = 'running' | 'done' | 'reused' | 'failed';

export interface StepRecord {
  runId: string;
  stepId: string;
  inputHash: string;
  status: StepStatus;
  /** Output name → sha256 of the artifact (in the ArtifactStore). */
  artifacts: Record<string, string>;
  /** The step's JSON output (metrics, dimensions…); `null` when there is none. */
  output: unknown;
  attempts: number;
  durationMs: number;
  startedAt: string;
  finishedAt?: string;
  error?: StoredError;
  /** For a 'reused' journal row: the run whose execution produced the reused result. */
  sourceRunId?: string;
}

export interface StepDoneInput {
  stepId: string;
  inputHash: string;
  artifacts: Record<string, string>;
  output: unknown;
  attempts: number;
  durationMs: number;
}

export interface StepFailedInput {
  stepId: string;
  inputHash: string;
  error: StoredError;
  attempts: number;
}

export type ExecutionOutcome = 'running' | 'done' | 'failed' | 'interrupted';

/** One actual execution of a step (reuses are not executions). */
export interface ExecutionRecord {
  id: number;
  runId: string;
  projectId: string;
  stepId: string;
  inputHash: string;
  startedAt: string;
  finishedAt?: string;
  outcome: ExecutionOutcome;
}

export interface ExecutionFilter {
  projectId?: string;
  runId?: string;
  stepId?: string;
}

export interface ListExecutionsOptions extends ExecutionFilter {
  /** @default 1000 */
  limit?: number;
}

export interface EventRecord {
  runId: string;
  /** 1, 2, 3… per run, never reused (not even after pruning). */
  seq: number;
  type: string;
  payload: unknown;
  at: string;
}

export interface ListEventsOptions {
  /** Only events with `seq > afterSeq` (for paging and for SSE `Last-Event-ID`). @default 0 */
  afterSeq?: number;
  /** @default 1000 */
  limit?: number;
}

export interface NewEvent {
  type: string;
  payload: unknown;
}

export interface RunStore {
  createRun(input: CreateRunInput): RunRecord;
  getRun(id: string): RunRecord | undefined;
  /**
   * The run's status alone, without its snapshot: what a worker or coordinator polls every second (a cancel from
   * another process) — a 1,000-shot run's snapshot is a few hundred KB to read and parse per poll.
   */
  getRunStatus(id: string): RunStatus | undefined;
  /** Newest first. */
  listRuns(options?: ListRunsOptions): RunRecord[];
  /** Setting 'running' claims the run for this process (pid, hostname); a terminal status stamps finishedAt. */
  setRunStatus(id: string, status: RunStatus, options?: SetRunStatusOptions): RunRecord;
  /** Runs left 'running' by a process that is gone become 'interrupted'. Returns the ids changed. */
  markStaleRunsInterrupted(): string[];
  /** The lease policy this store judges liveness by. */
  readonly lease: LeasePolicy;
  /** Renews this process's lease on a run it holds; false when the run is no longer this process's and running. */
  renewLease(runId: string): boolean;
  /** The project's 'running' runs, live or not. */
  runHolders(projectId: string): RunHolder[];
  /**
   * Marks the project's 'running' runs interrupted (resumable), so another run may start. Refuses (ConflictError)
   * a run that still looks live unless `force`. Returns the runs released.
   */
  unlockProject(projectId: string, options?: UnlockOptions): RunRecord[];
  /** Drops the journal rows of runs not kept and the memo rows no kept run uses; see PruneRunsOptions. */
  pruneRuns(options: PruneRunsOptions): PruneRunsResult;
  /** The newest run of the project that can be resumed, unless a newer run succeeded. */
  findLatestResumable(projectId: string): RunRecord | undefined;

  /** The memo: a step finished with these inputs in any run of the project. */
  findCompletedStep(projectId: string, stepId: string, inputHash: string): StepRecord | undefined;
  /** Journals the start of one execution; returns the execution id. */
  recordStepStart(runId: string, stepId: string, inputHash: string): number;
  /** Memo upsert + journal row + execution close, in one transaction. Artifacts must be stored first. */
  recordStepDone(runId: string, step: StepDoneInput): StepRecord;
  /** Journals that this run reused the memoised result instead of executing. */
  recordStepReused(runId: string, stepId: string, inputHash: string): StepRecord;
  recordStepFailed(runId: string, step: StepFailedInput): StepRecord;
  /** The run's journal, in the order steps were first journaled. */
  listSteps(runId: string): StepRecord[];
  countExecutions(filter?: ExecutionFilter): number;
  listExecutions(options?: ListExecutionsOptions): ExecutionRecord[];

  /** Returns the event's seq (monotonic per run). */
  appendEvent(runId: string, type: string, payload: unknown): number;
  /** Appends many events in one transaction; returns their seqs. */
  appendEvents(runId: string, events: readonly NewEvent[]): number[];
  listEvents(runId: string, options?: ListEventsOptions): EventRecord[];
  /** Keeps the newest `keepLast` events of the run; returns how many were deleted. */
  pruneEvents(runId: string, keepLast: number): number;

  close(): void;
}
