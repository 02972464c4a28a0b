import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobsOptions } from 'bullmq';
import type { JobFlowProducer, JobQueue } from './queue/index.js';
import { abortWith, cancellationFrom } from '../core/abort.js';
import {
  CancelledError,
  ConflictError,
  ErrorCode,
  NotFoundError,
  StoryCoreError,
  ValidationError,
} from '../core/errors.js';
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
import {
  JOB_FINISHED,
  RUN_CLAIMED,
  followRunEvents,
  type JobFinishedEvent,
  type RunClaimedEvent,
} from './run-events.js';
import { distributedSnapshot, type DistributedSettings } from './run-settings.js';

export interface QueuedRunOptions extends PipelineOptions {
  queue: QueueHandle;
  /** @default DEFAULT_QUEUE_NAME */
  queueName?: string;
  /** How often the run's event log is read. @default 250 */
  followIntervalMs?: number;
  /** Attempts per job (a worker that fails for infrastructure reasons; steps retry inside a job). @default 3 */
  jobAttempts?: number;
  /**
   * A `warning` event (once per run) when the run's jobs wait and no worker has taken one of them for this long:
   * a run on a queue with no worker would otherwise wait in silence. @default 30000
   */
  idleWarningMs?: number;
  /**
   * Aborted when this process stops following the run without ending it (a studio on a queue shutting down): the
   * run stays `running`, its jobs stay queued for the workers, and whoever adopts it next (a studio starting, or
   * `storycore resume --queue`) finishes it. `signal`, by contrast, cancels the run.
   */
  leave?: AbortSignal;
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
  // A cancel can come from another process (a studio's Cancel button, another coordinator's Ctrl-C): it marks the
  // run cancelled in the store, which this coordinator polls and then stops as if its own signal had aborted.
  const remoteCancel = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, remoteCancel.signal])
    : remoteCancel.signal;
  const queue = options.queue.queue(queueName);
  const flow = options.queue.flowProducer();
  // Where this coordinator's claim of a recorded run sits in its log: what came before is an earlier attempt.
  const claim: { seq?: number } = {};
  // The queue's server may restart mid-run: its connections reconnect; an unheard 'error' event would end the
  // process instead. What the run needs is in the store's event log, which it keeps following meanwhile.
  const quiet = (): void => undefined;
  queue.on('error', quiet);
  flow.on('error', quiet);
  try {
    return await runPipelineWith(
      project,
      { ...options, signal },
      {
        executes: () => false,
        openRun: (store, input) =>
          options.runId === undefined
            ? createOrAttach(store, input, settings)
            : claimQueuedRun(store, options.runId, input, settings, claim),
        drive: (session) =>
          driveOnQueue(session, { ...options, queueName }, queue, flow, {
            onRemoteCancel: () => abortWith(remoteCancel, 'user'),
            ...(claim.seq === undefined ? {} : { claimSeq: claim.seq }),
          }),
        leaves: (error) => error instanceof LeftRunError,
      },
    );
  } finally {
    await Promise.allSettled([queue.close(), flow.close()]);
  }
}

/** The coordinator stopped following a run it leaves to the workers (QueuedRunOptions.leave). */
export class LeftRunError extends CancelledError {
  override name = 'LeftRunError';
  constructor(readonly runId: string) {
    super('shutdown', { details: { runId } });
  }
}

/**
 * `resume` of a run on a queue: the run as it was recorded, claimed again (set running by this process) unless it
 * is live, when this coordinator attaches to it as a second one. A run not started on a queue, or with another
 * backend than the one given, is refused with the run named.
 */
async function claimQueuedRun(
  store: AsyncRunStore,
  runId: string,
  input: CreateRunInput,
  settings: DistributedSettings,
  claim: { seq?: number },
): Promise<{ run: RunRecord; resumed: boolean }> {
  const run = await store.getRun(runId);
  if (run === undefined) {
    throw new NotFoundError(`no run with id "${runId}" in the shared run store`, { details: { runId } });
  }
  let recorded: DistributedSettings;
  try {
    recorded = distributedSnapshot(run).distributed;
  } catch {
    throw new ValidationError(
      `run ${runId} was not started on a queue: resume it without --queue, in the workspace it ran in`,
      [{ path: 'run', message: 'not a queue run' }],
      { details: { runId } },
    );
  }
  const differences = identityDifferences(settings.backend, recorded.backend);
  if (differences.length > 0) {
    throw new ValidationError(
      `run ${runId} was started with another backend (${differences.join('; ')}): resume it with the backend it started with`,
      [{ path: 'backend', message: 'differs from the run' }],
      { details: { runId } },
    );
  }
  if (run.projectHash !== input.projectHash) {
    throw new ValidationError(`run ${runId} was started from another version of its project`, [
      { path: 'project', message: 'differs from the run' },
    ]);
  }
  const holder = (await store.runHolders(run.projectId)).find((h) => h.live);
  if (holder?.run.id === runId) return { run, resumed: true };
  const claimed = await store.setRunStatus(runId, 'running');
  claim.seq = await store.appendEvent(runId, RUN_CLAIMED, {
    type: RUN_CLAIMED,
    by: `${hostname()}:${process.pid}`,
  } satisfies RunClaimedEvent);
  return { run: claimed, resumed: true };
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
/** Job states that mean "not taken by a worker yet". */
const WAITING_STATES = new Set(['waiting', 'wait', 'prioritized', 'delayed', 'paused']);

async function driveOnQueue(
  session: RunSession,
  options: QueuedRunOptions & { queueName: string },
  queue: JobQueue,
  flow: JobFlowProducer,
  hooks: {
    onRemoteCancel: () => void;
    /** This coordinator claimed the run at this seq of its log: earlier events are of an earlier attempt. */
    claimSeq?: number;
  },
): Promise<PipelineResult> {
  const { onRemoteCancel } = hooks;
  const { ctx, body, run } = session;
  const { project, progress } = ctx;
  const runId = run.id;
  const outer = body.outer;
  const leave = options.leave;
  const wakeOn = leave ? AbortSignal.any([outer, leave]) : outer;
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
  // When a worker last showed it works on this run (a step or job event in the log, or a job of it active).
  let workerSeenAt = Date.now();
  let idleWarned = false;
  const idleWarningMs = options.idleWarningMs ?? 30_000;

  const onRecord = (record: EventRecord): void => {
    // Jobs finished before a claim are an earlier attempt's (the same ids come back): forgotten.
    if (record.type === RUN_CLAIMED) {
      finishedJobs.clear();
      return;
    }
    const earlier = hooks.claimSeq !== undefined && record.seq < hooks.claimSeq;
    if (earlier) {
      // What the earlier attempts finished still counts towards progress; their events were shown then.
      if (STEP_EVENTS.has(record.type)) trackStep(session, record.payload as PipelineEvent);
      return;
    }
    if (record.type === JOB_FINISHED) {
      const event = record.payload as JobFinishedEvent;
      finishedJobs.set(event.jobId, event);
      workerSeenAt = Date.now();
      return;
    }
    if (!STEP_EVENTS.has(record.type) && record.type !== 'warning' && record.type !== 'servers') return;
    const event = record.payload as PipelineEvent;
    if (STEP_EVENTS.has(event.type)) {
      workerSeenAt = Date.now();
      trackStep(session, event);
    }
    session.notify(event);
  };
  const follower = followRunEvents(options.store, runId, onRecord, {
    ...(options.followIntervalMs === undefined ? {} : { intervalMs: options.followIntervalMs }),
  });

  /**
   * Once per run, when its jobs wait and no worker has shown a sign of life for `idleWarningMs`: a run on a queue
   * that nobody serves says so instead of waiting in silence. A job of the run that is active (a long shot that
   * logs nothing for minutes) is a worker at work, not an idle queue.
   */
  const warnIfIdle = async (stage: PipelineStage): Promise<void> => {
    if (idleWarned || Date.now() - workerSeenAt < idleWarningMs) return;
    const states = await Promise.all(enqueued.map((id) => queue.getJobState(id).catch(() => 'unknown')));
    if (states.includes('active')) {
      workerSeenAt = Date.now();
      return;
    }
    if (!states.some((state) => WAITING_STATES.has(state))) return;
    idleWarned = true;
    // Into the run's log, not straight to the caller: the follower hands it on like a worker's warning, so this
    // coordinator's caller, any other coordinator and the studio's streams all see it once.
    await options.store.appendEvent(runId, 'warning', {
      type: 'warning',
      stage,
      message: `no worker has taken a job of run ${runId} for ${Math.round(idleWarningMs / 1000)} s: start \`storycore worker --queue ${options.queue.label} --artifacts …\``,
    } satisfies PipelineEvent);
  };

  let statusCheckedAt = Date.now();
  const waitFor = async (jobId: string, what: string, stage: PipelineStage): Promise<JobFinishedEvent> => {
    let checked = Date.now();
    for (;;) {
      if (leave?.aborted) throw new LeftRunError(runId);
      if (outer.aborted) throw cancellationFrom(outer);
      const done = finishedJobs.get(jobId);
      if (done !== undefined) {
        if (!done.ok && done.error && done.scope !== 'shot') throw new RemoteJobError(done.error, what);
        return done;
      }
      // A cancel made elsewhere (the studio, another coordinator) is in the run's status.
      if (Date.now() - statusCheckedAt >= 1000) {
        statusCheckedAt = Date.now();
        const current = await options.store.getRunStatus(runId).catch(() => undefined);
        if (current === 'cancelled') {
          onRemoteCancel();
          continue;
        }
        await warnIfIdle(stage);
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
      await sleep(options.followIntervalMs ?? 250, undefined, { signal: wakeOn }).catch(() => undefined);
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
    workerSeenAt = Date.now();
    await waitFor(sheetId, 'the coherence sheet', 'grid');
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
    workerSeenAt = Date.now();
    await waitFor(finishId, 'the export', 'comfyui');
    await follower.poll();
  } catch (error) {
    // Left to the workers and to whoever adopts the run: nothing is cancelled, the jobs stay queued.
    if (error instanceof LeftRunError) throw error;
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
  const removable = new Set([...WAITING_STATES, 'waiting-children']);
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
