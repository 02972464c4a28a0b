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
  RunStore,
  SetRunStatusOptions,
  StepDoneInput,
  StepFailedInput,
  StepRecord,
  UnlockOptions,
} from './run-store.js';

/**
 * The run store seam as a networked store needs it: the same records and the same meanings as `RunStore`, every
 * call a promise. The embedded SQLite store stays synchronous (its calls are sub-millisecond and the CLI and server
 * read it in place); `asyncRunStore` lifts it into this shape, so one contract suite and one distributed runner
 * serve both it and the PostgreSQL store that many workers share.
 *
 * Shared-store rules every implementation keeps (the distributed mode's correctness rests on them, not on the
 * queue, whose guarantee is at-least-once):
 * - `recordStepDone` is idempotent: a step executed twice (a stalled job taken over while the first worker still
 *   ran) is journaled once per run and memoised once per (project, step, input hash); the second call returns the
 *   record that is already there.
 * - `appendEvent(s)` gives each run's events strictly increasing `seq` even when several processes append at once.
 */
export interface AsyncRunStore {
  readonly lease: LeasePolicy;
  createRun(input: CreateRunInput): Promise<RunRecord>;
  getRun(id: string): Promise<RunRecord | undefined>;
  getRunStatus(id: string): Promise<RunStatus | undefined>;
  listRuns(options?: ListRunsOptions): Promise<RunRecord[]>;
  setRunStatus(id: string, status: RunStatus, options?: SetRunStatusOptions): Promise<RunRecord>;
  markStaleRunsInterrupted(): Promise<string[]>;
  renewLease(runId: string): Promise<boolean>;
  runHolders(projectId: string): Promise<RunHolder[]>;
  unlockProject(projectId: string, options?: UnlockOptions): Promise<RunRecord[]>;
  pruneRuns(options: PruneRunsOptions): Promise<PruneRunsResult>;
  findLatestResumable(projectId: string): Promise<RunRecord | undefined>;

  findCompletedStep(projectId: string, stepId: string, inputHash: string): Promise<StepRecord | undefined>;
  recordStepStart(runId: string, stepId: string, inputHash: string): Promise<number>;
  recordStepDone(runId: string, step: StepDoneInput): Promise<StepRecord>;
  recordStepReused(runId: string, stepId: string, inputHash: string): Promise<StepRecord>;
  recordStepFailed(runId: string, step: StepFailedInput): Promise<StepRecord>;
  listSteps(runId: string): Promise<StepRecord[]>;
  countExecutions(filter?: ExecutionFilter): Promise<number>;
  listExecutions(options?: ListExecutionsOptions): Promise<ExecutionRecord[]>;

  appendEvent(runId: string, type: string, payload: unknown): Promise<number>;
  appendEvents(runId: string, events: readonly NewEvent[]): Promise<number[]>;
  listEvents(runId: string, options?: ListEventsOptions): Promise<EventRecord[]>;
  pruneEvents(runId: string, keepLast: number): Promise<number>;

  close(): Promise<void>;
}

/**
 * The embedded store in the async shape. Each call runs synchronously when made (so calls keep their order, as
 * with the store itself) and its result or error arrives as a settled promise.
 */
export function asyncRunStore(store: RunStore): AsyncRunStore {
  const lift =
    <A extends unknown[], R>(call: (...args: A) => R) =>
    (...args: A): Promise<R> => {
      try {
        return Promise.resolve(call(...args));
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    };
  return {
    get lease() {
      return store.lease;
    },
    createRun: lift((input: CreateRunInput) => store.createRun(input)),
    getRun: lift((id: string) => store.getRun(id)),
    getRunStatus: lift((id: string) => store.getRunStatus(id)),
    listRuns: lift((options?: ListRunsOptions) => store.listRuns(options)),
    setRunStatus: lift((id: string, status: RunStatus, options?: SetRunStatusOptions) =>
      store.setRunStatus(id, status, options),
    ),
    markStaleRunsInterrupted: lift(() => store.markStaleRunsInterrupted()),
    renewLease: lift((runId: string) => store.renewLease(runId)),
    runHolders: lift((projectId: string) => store.runHolders(projectId)),
    unlockProject: lift((projectId: string, options?: UnlockOptions) =>
      store.unlockProject(projectId, options),
    ),
    pruneRuns: lift((options: PruneRunsOptions) => store.pruneRuns(options)),
    findLatestResumable: lift((projectId: string) => store.findLatestResumable(projectId)),
    findCompletedStep: lift((projectId: string, stepId: string, inputHash: string) =>
      store.findCompletedStep(projectId, stepId, inputHash),
    ),
    recordStepStart: lift((runId: string, stepId: string, inputHash: string) =>
      store.recordStepStart(runId, stepId, inputHash),
    ),
    recordStepDone: lift((runId: string, step: StepDoneInput) => store.recordStepDone(runId, step)),
    recordStepReused: lift((runId: string, stepId: string, inputHash: string) =>
      store.recordStepReused(runId, stepId, inputHash),
    ),
    recordStepFailed: lift((runId: string, step: StepFailedInput) => store.recordStepFailed(runId, step)),
    listSteps: lift((runId: string) => store.listSteps(runId)),
    countExecutions: lift((filter?: ExecutionFilter) => store.countExecutions(filter)),
    listExecutions: lift((options?: ListExecutionsOptions) => store.listExecutions(options)),
    appendEvent: lift((runId: string, type: string, payload: unknown) =>
      store.appendEvent(runId, type, payload),
    ),
    appendEvents: lift((runId: string, events: readonly NewEvent[]) => store.appendEvents(runId, events)),
    listEvents: lift((runId: string, options?: ListEventsOptions) => store.listEvents(runId, options)),
    pruneEvents: lift((runId: string, keepLast: number) => store.pruneEvents(runId, keepLast)),
    close: lift(() => store.close()),
  };
}
