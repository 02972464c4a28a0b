import { createHash } from 'node:crypto';
import { throwIfAborted } from '../core/abort.js';
import { canonicalJson } from '../core/canonical-json.js';
import { classifyError } from '../core/error-classify.js';
import {
  StoryCoreError,
  TimeoutError,
  causeChain,
  errorMessage,
  isCancellation,
  isStoryCoreError,
  rootCause,
} from '../core/errors.js';
import { withRetry, type RetryPolicy } from '../core/retry.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import type { StoredError } from '../store/run-store.js';
import type { ErrorInfo, PipelineEvent, PipelineStage } from './events.js';

/**
 * Bumped when a step's meaning changes (new QA maths, different encoding…), so old memoised results stop matching
 * instead of being silently reused.
 */
export const PIPELINE_VERSION = 1;

/** An artifact a step produced: fresh bytes to store, or one already in the store (by hash). */
export type ArtifactOutput = Buffer | { sha256: string };

export interface StepExecution<O, K> {
  artifacts: Record<string, ArtifactOutput>;
  output: O;
  /** In-memory value handed to the next step when this one executed now (e.g. the raster), so it is not decoded again. */
  keep?: K;
}

export interface StepSpec<O, K> {
  /** Deterministic id, e.g. `generate:shot-07`. */
  id: string;
  stage: PipelineStage;
  shotId?: string;
  /** Everything the result depends on; hashed canonically into the step's input hash. */
  input: unknown;
  execute: (signal: AbortSignal, attempt: number) => Promise<StepExecution<O, K>>;
  /** Re-validates a memoised result that points outside the store (e.g. an export folder that was deleted). */
  stillValid?: (output: O) => Promise<boolean>;
}

export interface StepResult<O, K> {
  inputHash: string;
  artifacts: Record<string, string>;
  output: O;
  reused: boolean;
  keep?: K;
  durationMs: number;
}

export function hashInput(stepId: string, input: unknown): string {
  return createHash('sha256')
    .update(canonicalJson({ pipeline: PIPELINE_VERSION, step: stepId, input }))
    .digest('hex');
}

export function toErrorInfo(error: unknown): ErrorInfo {
  const root = rootCause(error);
  const info: ErrorInfo = {
    code: isStoryCoreError(error) ? error.code : classifyError(error).code,
    message: errorMessage(error),
    retryable: classifyError(error).retryable,
  };
  const rootMessage = errorMessage(root);
  if (root !== error && rootMessage !== info.message) info.rootCause = rootMessage;
  if (isStoryCoreError(error) && Object.keys(error.details).length > 0) info.details = error.details;
  return info;
}

function toStoredError(info: ErrorInfo): StoredError {
  return { ...info, code: String(info.code) };
}

export interface StepRunnerOptions {
  runId: string;
  projectId: string;
  store: AsyncRunStore;
  artifacts: ArtifactStore;
  retryPolicy: RetryPolicy;
  /** Ignore memoised results (still records new ones). */
  fresh: boolean;
  /**
   * Which steps this runner may execute (a worker runs one job's part of a run); every other step is taken from the
   * memo as it is — not journaled again, no events — and is a `StepNotReadyError` when the memo does not hold it.
   * @default every step
   */
  executes?: (stepId: string) => boolean;
  emit: (event: PipelineEvent) => void;
  now?: () => number;
}

/**
 * Runs memoised, journaled steps: looks the (step id, input hash) up among finished steps of every earlier run of
 * the project and reuses the stored result; otherwise executes with retries, stores the artifacts, and only then
 * journals the step as done — so a crash at any instant leaves either no record or a record whose artifacts exist.
 */
export class StepRunner {
  readonly executed: string[] = [];
  readonly reused: string[] = [];
  /** Shot id → stage of the step that failed for good (for the per-shot error list). */
  readonly failedStages = new Map<string, PipelineStage>();
  private readonly now: () => number;

  constructor(private readonly options: StepRunnerOptions) {
    this.now = options.now ?? Date.now;
  }

  async run<O, K = never>(spec: StepSpec<O, K>, signal: AbortSignal): Promise<StepResult<O, K>> {
    throwIfAborted(signal);
    const { store, artifacts, runId, projectId, emit } = this.options;
    const inputHash = hashInput(spec.id, spec.input);
    const tag = {
      stepId: spec.id,
      stage: spec.stage,
      ...(spec.shotId === undefined ? {} : { shotId: spec.shotId }),
    };

    if (this.options.executes && !this.options.executes(spec.id)) return this.fromMemo(spec, inputHash);

    if (!this.options.fresh) {
      const memo = await store.findCompletedStep(projectId, spec.id, inputHash);
      if (memo && (await this.memoUsable(memo.artifacts, memo.output as O, spec))) {
        this.reused.push(spec.id);
        // A worker's job taken over from one that died after this step: the run journaled it 'done' already, and
        // a 'reused' row over it would hide the execution (a single process resuming its run re-journals as before).
        if (memo.runId !== runId || this.options.executes === undefined) {
          await store.recordStepReused(runId, spec.id, inputHash);
          emit({ type: 'step-reused', ...tag, fromRunId: memo.runId });
        }
        return {
          inputHash,
          artifacts: memo.artifacts,
          output: memo.output as O,
          reused: true,
          durationMs: 0,
        };
      }
    }

    const started = this.now();
    let attempts = 0;
    emit({ type: 'step-started', ...tag });
    await store.recordStepStart(runId, spec.id, inputHash);
    try {
      const execution = await withRetry(
        async ({ attempt, signal: attemptSignal }) => {
          attempts = attempt;
          try {
            return await spec.execute(attemptSignal, attempt);
          } catch (error) {
            // An abort that did not come from this run (a backend's own request timeout, say) is a failure of the
            // step, not a cancel: left as is it would be taken for a cancel, never journaled, and the shot lost.
            if (!attemptSignal.aborted && isCancellation(error)) {
              // The cause keeps the chain's messages but not the AbortError itself: classification reads an
              // abort anywhere in a cause chain as a cancel (the house rule), which this is not.
              const chain = causeChain(error).map(errorMessage).join(' ← ');
              throw new TimeoutError(`${spec.id} was aborted inside the step without a cancel`, {
                cause: new Error(chain),
                details: { stepId: spec.id },
              });
            }
            throw error;
          }
        },
        this.options.retryPolicy,
        {
          signal,
          onRetry: ({ error, attempt, delayMs }) => {
            emit({ type: 'step-failed', ...tag, attempt, next: 'retry', delayMs, error: toErrorInfo(error) });
          },
        },
      );
      throwIfAborted(signal);
      const hashes: Record<string, string> = {};
      for (const [name, artifact] of Object.entries(execution.artifacts)) {
        hashes[name] = Buffer.isBuffer(artifact)
          ? await artifacts.put(artifact, { signal })
          : artifact.sha256;
      }
      // The journal write is the commit point: after it, the step never runs again for these inputs.
      throwIfAborted(signal);
      const durationMs = this.now() - started;
      await store.recordStepDone(runId, {
        stepId: spec.id,
        inputHash,
        artifacts: hashes,
        output: execution.output ?? null,
        attempts,
        durationMs,
      });
      this.executed.push(spec.id);
      emit({ type: 'step-completed', ...tag, durationMs, attempts });
      return {
        inputHash,
        artifacts: hashes,
        output: execution.output,
        reused: false,
        ...(execution.keep === undefined ? {} : { keep: execution.keep }),
        durationMs,
      };
    } catch (error) {
      // Only this run's own signal makes a cancel; anything else that ends the step is journaled as its failure.
      if (!signal.aborted) {
        const info = toErrorInfo(error);
        await store.recordStepFailed(runId, {
          stepId: spec.id,
          inputHash,
          error: toStoredError(info),
          attempts,
        });
        if (spec.shotId !== undefined) this.failedStages.set(spec.shotId, spec.stage);
        emit({ type: 'step-failed', ...tag, attempt: attempts, next: 'give-up', error: info });
      }
      throw error;
    }
  }

  /**
   * A step outside this runner's scope: its memoised result, or a retryable `StepNotReadyError` (the job that makes
   * it has not finished yet) carrying the run's journaled failure of the step when there is one.
   */
  private async fromMemo<O, K>(spec: StepSpec<O, K>, inputHash: string): Promise<StepResult<O, K>> {
    const { store, runId, projectId } = this.options;
    const memo = await store.findCompletedStep(projectId, spec.id, inputHash);
    if (memo !== undefined) {
      return { inputHash, artifacts: memo.artifacts, output: memo.output as O, reused: true, durationMs: 0 };
    }
    const journaled = (await store.listSteps(runId)).find(
      (s) => s.stepId === spec.id && s.inputHash === inputHash && s.status === 'failed',
    );
    if (spec.shotId !== undefined) this.failedStages.set(spec.shotId, spec.stage);
    throw new StepNotReadyError(spec.id, journaled?.error);
  }

  private async memoUsable<O, K>(
    hashes: Record<string, string>,
    output: O,
    spec: StepSpec<O, K>,
  ): Promise<boolean> {
    for (const sha of Object.values(hashes)) {
      if (!(await this.options.artifacts.has(sha))) return false;
    }
    return spec.stillValid ? spec.stillValid(output) : true;
  }
}

/**
 * A step another job makes is not finished: not yet (retryable: the job runs again once it is), or it failed for
 * good in this run (`failure`, as journaled; the message is that failure's, so a shot's error list reads the same
 * as in a single-process run).
 */
export class StepNotReadyError extends StoryCoreError {
  override name = 'StepNotReadyError';
  readonly stepId: string;
  readonly failure: StoredError | undefined;
  constructor(stepId: string, failure?: StoredError) {
    super(
      failure === undefined ? 'not-found' : failureCode(failure.code),
      failure === undefined ? `step ${stepId} is not finished yet` : failure.message,
      failure === undefined,
      {
        details: { stepId },
        ...(failure?.rootCause === undefined ? {} : { cause: new Error(failure.rootCause) }),
      },
    );
    this.stepId = stepId;
    this.failure = failure;
  }
}

function failureCode(code: string): StoryCoreError['code'] {
  return code as StoryCoreError['code'];
}
