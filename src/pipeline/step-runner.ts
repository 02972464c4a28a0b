import { createHash } from 'node:crypto';
import { throwIfAborted } from '../core/abort.js';
import { canonicalJson } from '../core/canonical-json.js';
import { classifyError } from '../core/error-classify.js';
import {
  TimeoutError,
  causeChain,
  errorMessage,
  isCancellation,
  isStoryCoreError,
  rootCause,
} from '../core/errors.js';
import { withRetry, type RetryPolicy } from '../core/retry.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { RunStore, StoredError } from '../store/run-store.js';
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
  store: RunStore;
  artifacts: ArtifactStore;
  retryPolicy: RetryPolicy;
  /** Ignore memoised results (still records new ones). */
  fresh: boolean;
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

    if (!this.options.fresh) {
      const memo = store.findCompletedStep(projectId, spec.id, inputHash);
      if (memo && (await this.memoUsable(memo.artifacts, memo.output as O, spec))) {
        store.recordStepReused(runId, spec.id, inputHash);
        this.reused.push(spec.id);
        emit({ type: 'step-reused', ...tag, fromRunId: memo.runId });
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
    store.recordStepStart(runId, spec.id, inputHash);
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
      store.recordStepDone(runId, {
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
        store.recordStepFailed(runId, { stepId: spec.id, inputHash, error: toStoredError(info), attempts });
        if (spec.shotId !== undefined) this.failedStages.set(spec.shotId, spec.stage);
        emit({ type: 'step-failed', ...tag, attempt: attempts, next: 'give-up', error: info });
      }
      throw error;
    }
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
