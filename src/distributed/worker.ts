import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { abortWith } from '../core/abort.js';
import { errorMessage, isCancellation } from '../core/errors.js';
import type { ImageBackend } from '../backends/types.js';
import { animaticAudioPath } from '../pipeline/animatic-step.js';
import type { PipelineEvent } from '../pipeline/events.js';
import { createRunContext } from '../pipeline/orchestrator.js';
import { runPipelineBody, scopeExecutes, type PipelineScope } from '../pipeline/pipeline-body.js';
import { toErrorInfo } from '../pipeline/step-runner.js';
import { findFfmpeg, type FfmpegLookup } from '../stages/animatic/ffmpeg.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import type { NewEvent, RunRecord } from '../store/run-store.js';
import { backendIdentity, identityDifferences } from './backend-identity.js';
import { DEFAULT_QUEUE_NAME, type JobData } from './job-ids.js';
import type { QueueHandle } from './queue-handle.js';
import { JOB_FINISHED, type JobFinishedEvent } from './run-events.js';
import { distributedSnapshot } from './run-settings.js';

/** How long a job's step events wait to be appended together (see `append` in the processor). */
const EVENT_BATCH_MS = 20;

export interface WorkerOptions {
  queue: QueueHandle;
  store: AsyncRunStore;
  artifacts: ArtifactStore;
  /** This machine's backend (the draft renderer, or its own ComfyUI servers). */
  backend: ImageBackend;
  /** @default DEFAULT_QUEUE_NAME */
  queueName?: string;
  /** Jobs worked on at once. @default backend.capacity */
  concurrency?: number;
  /**
   * How long a job's lock lasts without renewal (BullMQ renews it every half of this): a worker that died is taken
   * over once its lock lapsed and the next stalled-job check ran. @default 30000
   */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs. @default 30000 */
  stalledIntervalMs?: number;
  /** How often a running job checks whether its run was cancelled. @default 1000 */
  cancelPollMs?: number;
  /** How this worker is named in the run's events. @default host:pid */
  name?: string;
  ffmpeg?: FfmpegLookup;
  /** Ends the worker: it takes no more jobs, lets the running ones finish, then closes. */
  signal?: AbortSignal;
  /** A line for the person running the worker. */
  onLog?: (line: string) => void;
}

export interface WorkerReport {
  jobs: { done: number; failed: number; refused: number };
  /** Event-loop delay while the worker ran, ms: what BullMQ's lock renewal waited for at worst. */
  eventLoopDelayMs: { p99: number; max: number };
}

/**
 * A worker of the distributed runner: takes `sheet`, `shot` and `finish` jobs from the queue, loads each job's run
 * (project snapshot and settings) from the shared store, and runs that part of the body with this machine's backend,
 * the shared store and the shared artifacts; step events go to the run's event log. Resolves once `signal` aborts
 * and the worker has closed.
 *
 * Lock renewal: the CPU stages (promotion, QA, PNG encoding) run in sharp's thread pool or in short synchronous
 * slices on small frames, so the event loop stays free for BullMQ's lock renewal timer; the worker measures its
 * event-loop delay (`WorkerReport.eventLoopDelayMs`, `bench:distributed` prints it) against the lock's duration
 * rather than paying a process per job for sandboxed processors.
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerReport> {
  const log = options.onLog ?? (() => undefined);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const mine = backendIdentity(options.backend);
  const ffmpeg = options.ffmpeg ?? (await findFfmpeg());
  const report: WorkerReport = {
    jobs: { done: 0, failed: 0, refused: 0 },
    eventLoopDelayMs: { p99: 0, max: 0 },
  };
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  const refusedRuns = new Set<string>();
  const runs = new Map<string, RunRecord>();
  // Whether this machine's backend can run anything: a ComfyUI pool whose every server is down or excluded (one
  // quarantined for a hung job, one unreachable) cannot, however long it waits. Such a worker stops taking jobs and
  // hands the ones it holds back to the queue, for workers whose servers work, instead of failing them; it takes
  // jobs again once its pool lets a server back in. `undefined`: usable.
  let unusable: string | undefined;
  /** The running jobs that need the backend (sheet and shot jobs), stopped when it becomes unusable. */
  const needBackend = new Set<AbortController>();
  const left = new WeakSet<AbortController>();
  /** The BullMQ worker, once made (it needs the processor below). */
  const taking: { worker?: { pause(doNotWaitActive?: boolean): Promise<void>; resume(): Promise<void> } } =
    {};
  const unsubscribe = options.backend.onStatus?.((status) => {
    const none = status.servers.length > 0 && !status.servers.some((s) => s.state === 'up');
    if (none && unusable === undefined) {
      unusable = status.servers
        .map((s) => `${s.name} ${s.state}${s.reason === undefined ? '' : ` (${s.reason})`}`)
        .join('; ');
      log(
        `worker ${name} has no usable ComfyUI server (${unusable}): its jobs are left to other workers until one is back`,
      );
      for (const controller of needBackend) {
        left.add(controller);
        abortWith(controller, 'shutdown');
      }
      void taking.worker?.pause(true);
    } else if (!none && unusable !== undefined) {
      unusable = undefined;
      log(`worker ${name}: a ComfyUI server is usable again; taking jobs`);
      void taking.worker?.resume();
    }
  });
  /** Back to the queue for another worker (not a failure: no attempt is used up). */
  const leave = async (job: Job<JobData>, token: string | undefined, delayMs: number): Promise<never> => {
    report.jobs.refused++;
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  };

  const processor = async (job: Job<JobData>, token?: string, jobSignal?: AbortSignal): Promise<unknown> => {
    const { store } = options;
    const data = job.data;
    const startedAt = new Date().toISOString();
    // The run's snapshot never changes once recorded: read (a few hundred KB for 1,000 shots) and parsed once per
    // run on this worker, its status read on its own per job.
    let run = runs.get(data.runId);
    if (run === undefined) {
      run = await store.getRun(data.runId);
      if (run === undefined) throw new UnrecoverableError(`run ${data.runId} is not in the store`);
      runs.set(run.id, run);
      // A worker lives for many runs: keep the few most recent.
      if (runs.size > 8) runs.delete(runs.keys().next().value!);
    }
    if ((await store.getRunStatus(run.id)) === 'cancelled') return { skipped: 'cancelled' };
    const snapshot = distributedSnapshot(run);
    const settings = snapshot.distributed;
    const differences = identityDifferences(mine, settings.backend);
    if (differences.length > 0) {
      // Its results would be filed under other input hashes than the run's: leave the job to a worker that can.
      if (!refusedRuns.has(run.id)) {
        refusedRuns.add(run.id);
        const message = `worker ${name} cannot run jobs of run ${run.id}: ${differences.join('; ')}; left to other workers`;
        log(message);
        await store
          .appendEvent(run.id, 'warning', { type: 'warning', stage: 'comfyui', message })
          .catch(() => undefined);
      }
      return leave(job, token, 5000);
    }
    if (unusable !== undefined && data.scope !== 'finish') {
      // Fetched as the pool lost its last server (the pause is not instant): straight back for another worker.
      return leave(job, token, 1000);
    }
    const scope: PipelineScope =
      data.scope === 'shot' ? { kind: 'shot', shotId: data.shotId } : { kind: data.scope };
    const controller = new AbortController();
    // The finish job (export, animatic) never calls the backend.
    if (data.scope !== 'finish') needBackend.add(controller);
    const cancel = (): void => abortWith(controller, 'shutdown');
    jobSignal?.addEventListener('abort', cancel, { once: true });
    // A cancelled run stops its active steps here: the coordinator marks it in the store, every worker polls.
    const poll = setInterval(() => {
      store.getRunStatus(run.id).then(
        (status) => {
          if (status === 'cancelled') abortWith(controller, 'user');
        },
        () => undefined,
      );
    }, options.cancelPollMs ?? 1000);
    // Appended as they happen, not awaited, in batches of what happened within EVENT_BATCH_MS: a shot job's six
    // step events took six transactions on the shared journal, where two or three do. The store numbers one
    // process's appends in the order they were made, so the job-finished event below (after `flushEvents`) lands
    // after them.
    let pending: NewEvent[] = [];
    let batchTimer: NodeJS.Timeout | undefined;
    const flushEvents = (): void => {
      clearTimeout(batchTimer);
      batchTimer = undefined;
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      store.appendEvents(run.id, batch).catch(() => undefined);
    };
    const append = (event: PipelineEvent): void => {
      pending.push({ type: event.type, payload: event });
      batchTimer ??= setTimeout(flushEvents, EVENT_BATCH_MS);
    };
    const emit = (event: PipelineEvent): void => {
      // Progress and stage events are the coordinator's: it computes them over the whole run from these.
      if (event.type.startsWith('step-') || event.type === 'warning') append(event);
      else if (event.type === 'servers' && event.message !== undefined) append(event);
    };
    const project = snapshot.project;
    const finished = (ok: boolean, error?: JobFinishedEvent['error']): JobFinishedEvent => ({
      type: JOB_FINISHED,
      jobId: job.id ?? '',
      scope: data.scope,
      ...(data.scope === 'shot' ? { shotId: data.shotId } : {}),
      worker: name,
      startedAt,
      ok,
      ...(error ? { error } : {}),
    });
    const { ctx, stopServerEvents } = createRunContext(
      project,
      {
        backend: options.backend,
        store,
        artifacts: options.artifacts,
        retryPolicy: settings.retryPolicy,
        signal: controller.signal,
        fresh: settings.fresh,
        panelSize: settings.panelSize,
        ...(settings.qaThresholds ? { qaThresholds: settings.qaThresholds } : {}),
        ...(settings.regenerateBudget === undefined ? {} : { regenerateBudget: settings.regenerateBudget }),
        ...(settings.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: settings.requestTimeoutMs }),
      },
      { runId: run.id, emit, executes: (stepId) => scopeExecutes(scope, stepId) },
    );
    const audio = animaticAudioPath(project, snapshot.projectDir);
    try {
      const outcome = await runPipelineBody(
        {
          ctx,
          runId: run.id,
          outer: controller.signal,
          stopRun: () => undefined,
          failFast: false,
          outDir: snapshot.outDir,
          verify: settings.verify,
          startedAt: Date.parse(run.createdAt),
          // Recorded when the run was created from this snapshot: hashing a 1,000-shot project per job was 5 ms each.
          projectHash: run.projectHash,
          ffmpeg,
          ...(audio === undefined ? {} : { audio }),
          emit,
        },
        scope,
      );
      const failure = 'failures' in outcome ? outcome.failures[0] : undefined;
      flushEvents();
      await store.appendEvent(run.id, JOB_FINISHED, finished(failure === undefined, failure?.error));
      report.jobs.done++;
      return { ok: failure === undefined };
    } catch (error) {
      if (left.has(controller) && isCancellation(error)) {
        // Stopped because this worker's servers all went (a hung one quarantined): its steps are not journaled as
        // failed, and the job goes back to the queue at once for a worker whose servers work.
        log(`job ${job.id} (${describe(data)}) left to other workers: no usable ComfyUI server here`);
        return await leave(job, token, 0);
      }
      if (controller.signal.aborted && isCancellation(error)) {
        // The run was cancelled (not this worker stopping): the job is over, not to be retried.
        if ((await store.getRunStatus(run.id).catch(() => undefined)) === 'cancelled')
          throw new UnrecoverableError(`run ${run.id} was cancelled`);
        throw error;
      }
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log(
        `job ${job.id} (${describe(data)}) failed${lastAttempt ? '' : ', will be retried'}: ${errorMessage(error)}`,
      );
      flushEvents();
      if (lastAttempt) {
        report.jobs.failed++;
        await store
          .appendEvent(run.id, JOB_FINISHED, finished(false, toErrorInfo(error)))
          .catch(() => undefined);
      }
      throw error;
    } finally {
      flushEvents();
      needBackend.delete(controller);
      clearInterval(poll);
      stopServerEvents?.();
      jobSignal?.removeEventListener('abort', cancel);
    }
  };

  const worker = options.queue.worker<JobData, unknown>(options.queueName ?? DEFAULT_QUEUE_NAME, processor, {
    concurrency: Math.max(1, options.concurrency ?? options.backend.capacity),
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    // A job whose worker died twice is still worth a third worker: its steps are memoised as they finish.
    maxStalledCount: 2,
  });
  // BullMQ repeats a connection error at every retry while its server restarts: said once per 5 s.
  const saidAt = new Map<string, number>();
  worker.on('error', (error) => {
    const message = errorMessage(error);
    const at = saidAt.get(message);
    if (at !== undefined && Date.now() - at < 5000) return;
    saidAt.set(message, Date.now());
    log(`queue: ${message}`);
  });
  taking.worker = worker;
  await worker.waitUntilReady();
  if (unusable !== undefined) await worker.pause(true);
  log(`worker ${name} ready on ${options.queue.label} (queue ${options.queueName ?? DEFAULT_QUEUE_NAME})`);
  await new Promise<void>((resolve) => {
    if (options.signal?.aborted) resolve();
    options.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  // Not forced: running jobs finish first (a second Ctrl-C quits at once; their locks lapse and other workers take
  // them over).
  unsubscribe?.();
  await worker.close();
  lag.disable();
  report.eventLoopDelayMs = { p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 };
  return report;
}

function describe(data: JobData): string {
  return data.scope === 'shot'
    ? `shot ${data.shotId} of run ${data.runId}`
    : `${data.scope} of run ${data.runId}`;
}
