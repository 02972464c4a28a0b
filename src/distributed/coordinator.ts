import { setTimeout as sleep } from 'node:timers/promises';
import type { JobsOptions } from 'bullmq';
import type { JobFlowProducer, JobQueue } from './queue/index.js';
import { cancellationFrom } from '../core/abort.js';
import { ConflictError, ErrorCode, StoryCoreError } from '../core/errors.js';
import { EXPORT_PACKAGE_SHARE } from '../pipeline/animatic-step.js';
import type { ErrorInfo, PipelineEvent, PipelineStage } from '../pipeline/events.js';
import { runPipelineWith, type PipelineOptions, type RunSession } from '../pipeline/orchestrator.js';
import { runPipelineBody, type PipelineResult } from '../pipeline/pipeline-body.js';
import { runSheetSteps } from '../pipeline/sheet-steps.js';
import type { Project } from '../project/schema.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import type { CreateRunInput, EventRecord, RunRecord } from '../store/run-store.js';
import { backendIdentity, identityDifferences } from './backend-identity.js';
import { DEFAULT_QUEUE_NAME, finishJobId, sheetJobId, shotJobId, type JobData } from './job-ids.js';
import type { QueueHandle } from './queue-handle.js';
import { JOB_FINISHED, followRunEvents, type JobFinishedEvent } from './run-events.js';
import { distributedSnapshot, type DistributedSettings } from './run-settings.js';

export interface QueuedRunOptions extends PipelineOptions {
  queue: QueueHandle;
  /** @default DEFAULT_QUEUE_NAME */
  queueName?: string;
  /** How often the run's event log is read. @default 250 */
  followIntervalMs?: number;
  /** Attempts per job (a worker that fails for infrastructure reasons; steps retry inside a job). @default 3 */
  jobAttempts?: number;
}

/** A job that failed for good on a worker, as the coordinator learns it from the run's log. */
export class RemoteJobError extends StoryCoreError {
  override name = 'RemoteJobError';
  constructor(info: ErrorInfo, what: string) {
    super(
      (Object.values(ErrorCode) as string[]).includes(String(info.code))
        ? (info.code as ErrorCode)
        : ErrorCode.INTERNAL,
      `${what} failed on a worker: ${info.message}`,
      info.retryable,
      { ...(info.rootCause ? { cause: new Error(info.rootCause) } : {}), details: info.details ?? {} },
    );
  }
}

/**
 * The coordinator (`storycore generate --queue`): creates the run — or attaches to the project's live run — and
 * drives it through the queue: the sheet job first; once it finished, a flow whose children are the shot jobs and
 * whose parent is the finish job (export + animatic), so it runs once they all completed. It follows the run's
 * event log to drive the same progress and events as a single-process run, reads the result from the memo and sets
 * the run's final status. A cancel removes the run's waiting jobs and marks the run cancelled, which the workers
 * running its steps poll. Nothing executes here.
 */
export async function runOnQueue(project: Project, options: QueuedRunOptions): Promise<PipelineResult> {
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  const identity = backendIdentity(options.backend);
  const settings: DistributedSettings = {
    backend: identity,
    queueName,
    panelSize: options.panelSize ?? 512,
    retryPolicy: options.retryPolicy,
    fresh: options.fresh ?? false,
    verify: options.verify ?? false,
    ...(options.qaThresholds ? { qaThresholds: options.qaThresholds } : {}),
    ...(options.regenerateBudget === undefined ? {} : { regenerateBudget: options.regenerateBudget }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  };
  const queue = options.queue.queue(queueName);
  const flow = options.queue.flowProducer();
  // The queue's server may restart mid-run: its connections reconnect; an unheard 'error' event would end the
  // process instead. What the run needs is in the store's event log, which it keeps following meanwhile.
  const quiet = (): void => undefined;
  queue.on('error', quiet);
  flow.on('error', quiet);
  try {
    return await runPipelineWith(project, options, {
      executes: () => false,
      openRun: (store, input) => createOrAttach(store, input, settings),
      drive: (session) => driveOnQueue(session, { ...options, queueName }, queue, flow),
    });
  } finally {
    await Promise.allSettled([queue.close(), flow.close()]);
  }
}

/**
 * The project's live run when there is one started for a queue with the same project and backend (a second
 * coordinator attaches to it, and both follow the same run); else a new run. Two coordinators starting at once both
 * try to create it: the store lets one win (ConflictError for the other), which then attaches.
 */
async function createOrAttach(
  store: AsyncRunStore,
  input: CreateRunInput,
  settings: DistributedSettings,
): Promise<{ run: RunRecord; resumed: boolean }> {
  for (let attempt = 0; ; attempt++) {
    const live = (await store.runHolders(input.projectId)).find((h) => h.live)?.run;
    if (live !== undefined) return { run: attachable(live, input, settings), resumed: true };
    try {
      const run = await store.createRun({
        ...input,
        options: { ...(input.options as object), distributed: settings },
      });
      return { run, resumed: false };
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= 2) throw error;
    }
  }
}

function attachable(run: RunRecord, input: CreateRunInput, settings: DistributedSettings): RunRecord {
  const refuse = (why: string): never => {
    throw new ConflictError(`project ${input.projectId} has a live run ${run.id} that ${why}`, {
      details: { runId: run.id, projectId: input.projectId },
    });
  };
  let snapshot;
  try {
    snapshot = distributedSnapshot(run);
  } catch {
    return refuse(
      'was not started on a queue (wait for it, or `storycore unlock` it if its process is gone)',
    );
  }
  if (run.projectHash !== input.projectHash) refuse('started from another version of the project');
  const differences = identityDifferences(settings.backend, snapshot.distributed.backend);
  if (differences.length > 0) refuse(`uses another backend (${differences.join('; ')})`);
  return run;
}

const STEP_EVENTS = new Set(['step-started', 'step-completed', 'step-reused', 'step-failed']);

async function driveOnQueue(
  session: RunSession,
  options: QueuedRunOptions & { queueName: string },
  queue: JobQueue,
  flow: JobFlowProducer,
): Promise<PipelineResult> {
  const { ctx, body, run } = session;
  const { project, progress } = ctx;
  const runId = run.id;
  const outer = body.outer;
  const finishedJobs = new Map<string, JobFinishedEvent>();
  const jobOptions = (jobId: string): JobsOptions => ({
    jobId,
    attempts: options.jobAttempts ?? 3,
    backoff: { type: 'exponential', delay: 1000 },
    // Completed ids are freed (a later run enqueues them again and reuses every step); failed ones are kept, so
    // the coordinator can read why, until it enqueues them again.
    removeOnComplete: true,
    removeOnFail: false,
  });
  const enqueued: string[] = [];

  const onRecord = (record: EventRecord): void => {
    if (record.type === JOB_FINISHED) {
      const event = record.payload as JobFinishedEvent;
      finishedJobs.set(event.jobId, event);
      return;
    }
    if (!STEP_EVENTS.has(record.type) && record.type !== 'warning' && record.type !== 'servers') return;
    const event = record.payload as PipelineEvent;
    if (STEP_EVENTS.has(event.type)) trackStep(session, event);
    session.notify(event);
  };
  const follower = followRunEvents(options.store, runId, onRecord, {
    ...(options.followIntervalMs === undefined ? {} : { intervalMs: options.followIntervalMs }),
  });

  const waitFor = async (jobId: string, what: string): Promise<JobFinishedEvent> => {
    let checked = Date.now();
    for (;;) {
      if (outer.aborted) throw cancellationFrom(outer);
      const done = finishedJobs.get(jobId);
      if (done !== undefined) {
        if (!done.ok && done.error && done.scope !== 'shot') throw new RemoteJobError(done.error, what);
        return done;
      }
      // A job that failed without saying so in the log (its workers died more often than the stall limit):
      // the queue keeps the reason.
      if (Date.now() - checked > 5000) {
        checked = Date.now();
        const state = await queue.getJobState(jobId).catch(() => 'unknown');
        if (state === 'failed') {
          const job = await queue.getJob(jobId);
          throw new RemoteJobError(
            { code: ErrorCode.INTERNAL, message: job?.failedReason ?? 'failed', retryable: true },
            what,
          );
        }
      }
      await sleep(options.followIntervalMs ?? 250, undefined, { signal: outer }).catch(() => undefined);
    }
  };
  const freeFailed = async (jobId: string): Promise<void> => {
    const state = await queue.getJobState(jobId);
    if (state === 'failed' || state === 'completed') await queue.remove(jobId);
  };

  try {
    ctx.stages.start('grid');
    const sheetId = sheetJobId(project, ctx.backend, ctx.panelSize);
    await freeFailed(sheetId);
    enqueued.push(sheetId);
    await queue.add('sheet', { runId, scope: 'sheet' } satisfies JobData, jobOptions(sheetId));
    await waitFor(sheetId, 'the coherence sheet');
    await follower.poll();
    // The sheet's hashes (from the memo: nothing executes here) key the shot jobs.
    const sheet = await runSheetSteps(ctx);
    const shotIds = project.shots.map((_, index) => shotJobId(project, ctx.backend, sheet, index));
    const finishId = finishJobId(project, shotIds, { outDir: body.outDir, projectHash: body.projectHash });
    await Promise.all([...shotIds, finishId].map(freeFailed));
    enqueued.push(...shotIds, finishId);
    await flow.add({
      name: 'finish',
      queueName: options.queueName,
      data: { runId, scope: 'finish' } satisfies JobData,
      opts: jobOptions(finishId),
      children: project.shots.map((shot, index) => ({
        name: 'shot',
        queueName: options.queueName,
        data: { runId, scope: 'shot', shotId: shot.id } satisfies JobData,
        // A shot job that failed for good must not hold the export forever: the finish job then finds the shot
        // unfinished and the run fails naming it.
        opts: { ...jobOptions(shotIds[index]!), ignoreDependencyOnFailure: true },
      })),
    });
    ctx.stages.start('comfyui');
    await waitFor(finishId, 'the export');
    await follower.poll();
  } catch (error) {
    if (outer.aborted) {
      await options.store.setRunStatus(runId, 'cancelled').catch(() => undefined);
      await removeWaiting(queue, enqueued);
      throw cancellationFrom(outer);
    }
    throw error;
  } finally {
    await follower.stop();
  }
  progress.update('export', 'export', EXPORT_PACKAGE_SHARE);
  // The whole result from the memo and the journal, as a single process would have returned it; what executed and
  // what was reused is what the workers journaled for this run.
  const result = await runPipelineBody(body, { kind: 'observe' });
  const journal = await options.store.listSteps(runId);
  const ids = (status: string): string[] => journal.filter((s) => s.status === status).map((s) => s.stepId);
  return { ...result, executedSteps: ids('done'), reusedSteps: ids('reused') };
}

/**
 * A cancel: the run's waiting jobs leave the queue. Its active jobs stop on their workers, which see the run
 * cancelled within a second and fail them without retry; the finish job, the parent of a shot that was active, can
 * be removed only after that, so this looks again for a few seconds.
 */
async function removeWaiting(queue: JobQueue, ids: readonly string[]): Promise<void> {
  const removable = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'wait', 'paused']);
  let left = [...ids];
  const deadline = Date.now() + 5000;
  while (left.length > 0 && Date.now() < deadline) {
    const states = await Promise.all(left.map((id) => queue.getJobState(id).catch(() => 'unknown')));
    await Promise.allSettled(left.filter((_, i) => removable.has(states[i]!)).map((id) => queue.remove(id)));
    left = left.filter((_, i) => removable.has(states[i]!) || states[i] === 'active');
    if (left.length > 0) await sleep(250);
  }
}

/** Moves the coordinator's progress model with a worker's step event. */
function trackStep(session: RunSession, event: PipelineEvent): void {
  if (
    event.type !== 'step-started' &&
    event.type !== 'step-completed' &&
    event.type !== 'step-reused' &&
    event.type !== 'step-failed'
  )
    return;
  const { progress, stages } = session.ctx;
  const stage: PipelineStage = event.stage;
  const unit = progressUnit(event.stepId, event.shotId);
  if (unit === undefined) return;
  stages.start(stage);
  if (event.type === 'step-started') progress.update(stage, unit, 0);
  else if (event.type === 'step-completed' || event.type === 'step-reused') {
    if (event.type === 'step-completed') progress.recordStepDuration(stage, event.durationMs);
    progress.update(stage, unit, stage === 'export' ? EXPORT_PACKAGE_SHARE : 1);
    stages.finishIfDone(stage, () => ({ shots: session.ctx.project.shots.length }));
  }
}

/** The progress unit a step counts for (see PipelineProgress.update calls in the stages). */
function progressUnit(stepId: string, shotId: string | undefined): string | undefined {
  if (shotId !== undefined) return shotId;
  if (stepId === 'sheet:compose') return 'compose';
  const panel = /^sheet:panel-(\d+)$/.exec(stepId);
  if (panel) return `panel-${Number(panel[1]) - 1}`;
  if (stepId === 'export') return 'export';
  return undefined;
}
