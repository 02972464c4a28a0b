import { sleep } from '../core/abort.js';
import { ErrorCode, isStoryCoreError } from '../core/errors.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import type {
  CreateRunInput,
  ExecutionFilter,
  ListEventsOptions,
  ListExecutionsOptions,
  ListRunsOptions,
  NewEvent,
  PruneRunsOptions,
  RunStatus,
  SetRunStatusOptions,
  StepDoneInput,
  StepFailedInput,
  UnlockOptions,
} from '../store/run-store.js';

export interface PatientStoreOptions {
  /**
   * How long one call keeps trying while the store's server is away, from its first failure, ms; then the last
   * error is thrown. @default 60000
   */
  windowMs?: number;
  /** Told once per call that starts waiting (a line for the person running the process). */
  onWait?: (error: unknown) => void;
}

/** A store call that failed because the server is away for now: refused, dropped, starting up, serialisation. */
export function isStoreOutage(error: unknown): boolean {
  return isStoryCoreError(error) && error.code === ErrorCode.STORE && error.retryable;
}

/**
 * The shared run store as the distributed runner's processes use it: a call that meets the server away for a moment
 * (a retryable StoreError — a PostgreSQL restart, a dropped connection) waits and tries again, with backoff, for up
 * to `windowMs`, instead of failing. Why here and not in the step or the job: a failed `recordStepDone` would
 * otherwise end its shot as a failure (journaled once the server is back), and a worker whose journal is down while
 * its queue is up (Redis) would burn a job's attempts in seconds and fail the run; the chaos tests
 * (`queue-server-restart`) restart the server under running workers and coordinators.
 *
 * Retrying is safe because the writes it repeats are idempotent or harmless when the first try did commit before
 * the connection died: `recordStepDone` is idempotent by contract, `createRun` answers a ConflictError for the run
 * it made (which the coordinator attaches to), a repeated `recordStepStart` leaves one more open execution row (as
 * a killed worker does), and a repeated `appendEvent` one duplicate event, which followers apply idempotently — a
 * duplicate, never a loss. Other errors (constraint, validation, a refused password) are thrown at once.
 */
export function patientRunStore(store: AsyncRunStore, options: PatientStoreOptions = {}): AsyncRunStore {
  const windowMs = options.windowMs ?? 60_000;
  const patient =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      let since: number | undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          return await call(...args);
        } catch (error) {
          if (!isStoreOutage(error)) throw error;
          if (since === undefined) {
            since = Date.now();
            options.onWait?.(error);
          }
          if (Date.now() - since >= windowMs) throw error;
          // 100 ms doubling to 2 s, with full jitter so processes that lost the server together do not return in step.
          await sleep(Math.random() * Math.min(2000, 100 * 2 ** attempt));
        }
      }
    };
  return {
    get lease() {
      return store.lease;
    },
    createRun: patient((input: CreateRunInput) => store.createRun(input)),
    getRun: patient((id: string) => store.getRun(id)),
    getRunStatus: patient((id: string) => store.getRunStatus(id)),
    listRuns: patient((options?: ListRunsOptions) => store.listRuns(options)),
    setRunStatus: patient((id: string, status: RunStatus, options?: SetRunStatusOptions) =>
      store.setRunStatus(id, status, options),
    ),
    markStaleRunsInterrupted: patient(() => store.markStaleRunsInterrupted()),
    renewLease: patient((runId: string) => store.renewLease(runId)),
    runHolders: patient((projectId: string) => store.runHolders(projectId)),
    unlockProject: patient((projectId: string, options?: UnlockOptions) =>
      store.unlockProject(projectId, options),
    ),
    pruneRuns: patient((options: PruneRunsOptions) => store.pruneRuns(options)),
    findLatestResumable: patient((projectId: string) => store.findLatestResumable(projectId)),
    findCompletedStep: patient((projectId: string, stepId: string, inputHash: string) =>
      store.findCompletedStep(projectId, stepId, inputHash),
    ),
    recordStepStart: patient((runId: string, stepId: string, inputHash: string) =>
      store.recordStepStart(runId, stepId, inputHash),
    ),
    recordStepDone: patient((runId: string, step: StepDoneInput) => store.recordStepDone(runId, step)),
    recordStepReused: patient((runId: string, stepId: string, inputHash: string) =>
      store.recordStepReused(runId, stepId, inputHash),
    ),
    recordStepFailed: patient((runId: string, step: StepFailedInput) => store.recordStepFailed(runId, step)),
    listSteps: patient((runId: string) => store.listSteps(runId)),
    countExecutions: patient((filter?: ExecutionFilter) => store.countExecutions(filter)),
    listExecutions: patient((options?: ListExecutionsOptions) => store.listExecutions(options)),
    appendEvent: patient((runId: string, type: string, payload: unknown) =>
      store.appendEvent(runId, type, payload),
    ),
    appendEvents: patient((runId: string, events: readonly NewEvent[]) => store.appendEvents(runId, events)),
    listEvents: patient((runId: string, options?: ListEventsOptions) => store.listEvents(runId, options)),
    pruneEvents: patient((runId: string, keepLast: number) => store.pruneEvents(runId, keepLast)),
    close: () => store.close(),
  };
}
