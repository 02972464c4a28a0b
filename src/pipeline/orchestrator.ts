import { errorMessage, isCancellation, ValidationError } from '../core/errors.js';
import type { RetryPolicy } from '../core/retry.js';
import type { ImageBackend } from '../backends/types.js';
import type { Project } from '../project/schema.js';
import { projectContentHash } from '../project/prompt.js';
import { QA_THRESHOLD_RANGES } from '../project/contract.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import type { CreateRunInput, RunRecord, StoredError } from '../store/run-store.js';
import { DEFAULT_QA_THRESHOLDS, type QaThresholds } from '../stages/qa/thresholds.js';
import type { ErrorInfo, PipelineEvent, PipelineEventListener } from './events.js';
import { guardBackend } from './backend-guard.js';
import { animaticAudioPath } from './animatic-step.js';
// Not the animatic index: the encoder, the zip and the report load only when an animatic is rendered.
import { checkAnimaticAudio } from '../stages/animatic/audio.js';
import { findFfmpeg, type FfmpegLookup } from '../stages/animatic/ffmpeg.js';
import { planAnimatic } from '../stages/animatic/plan.js';
import {
  failFastStop,
  runPipelineBody,
  type BodyInput,
  type PipelineResult,
  type ShotFailure,
} from './pipeline-body.js';
import { PipelineProgress } from './progress.js';
import { StageClock, type RunContext } from './run-context.js';
import { StepRunner, toErrorInfo } from './step-runner.js';

export type { ShotOutcome } from './shot-steps.js';
export type { PipelineResult, ShotFailure } from './pipeline-body.js';

/** What a run's steps are made with: shared by the embedded run and a distributed worker's scoped part of one. */
export interface StepOptions {
  backend: ImageBackend;
  store: AsyncRunStore;
  artifacts: ArtifactStore;
  retryPolicy: RetryPolicy;
  signal?: AbortSignal;
  /** Shots in flight at once. @default backend.capacity */
  concurrency?: number;
  /** Ignore memoised results from earlier runs. @default false */
  fresh?: boolean;
  qaThresholds?: Partial<QaThresholds>;
  /** Regenerations per failing shot when fixes are not enough. @default 2 */
  regenerateBudget?: number;
  /**
   * Longest wait for one backend request, in ms: a request still pending then fails as a retryable TimeoutError
   * (a hung server becomes a retried step, never a hung run). @default no limit
   */
  requestTimeoutMs?: number;
  /** Side of the coherence sheet's panels. @default 512 */
  panelSize?: number;
  now?: () => number;
}

export interface PipelineOptions extends StepOptions {
  /** Where export folders and zips are written. */
  outDir: string;
  /** Stop the whole run at the first shot that fails for good. @default false (the others finish) */
  failFast?: boolean;
  /**
   * Hash every file of a reused export (folder and zip) against its manifest, instead of checking that each is
   * present with its size. @default false
   */
  verify?: boolean;
  /** Continue this run (resume) instead of creating a new one. */
  runId?: string;
  /** Folder relative paths of the project (the animatic's audio) resolve from. @default the working directory */
  projectDir?: string;
  /** The ffmpeg for the animatic, already looked up. @default findFfmpeg() (FFMPEG_PATH, the npm package, PATH) */
  ffmpeg?: FfmpegLookup;
  onEvent?: PipelineEventListener;
}

/** What the options say about a run: the snapshot every process of the run works from (see CreateRunInput.options). */
export interface RunSnapshot {
  project: Project;
  outDir: string;
  failFast: boolean;
  projectDir: string;
}

/** A run in progress, as `runPipelineWith` hands it to whatever drives it between its start and its end. */
export interface RunSession {
  run: RunRecord;
  /** True when the run existed before (a resume, or a distributed coordinator attaching to a live run). */
  resumed: boolean;
  ctx: RunContext;
  /** What the body needs; `runPipelineBody(session.body, scope)`. */
  body: BodyInput;
  emit: (event: PipelineEvent) => void;
  /** Hands an event to the caller's listener only (one already in the run's log, written by another process). */
  notify: (event: PipelineEvent) => void;
}

export interface RunLifecycle {
  /**
   * Creates the run or takes an existing one. @default create one, or claim `options.runId` (setting it running)
   */
  openRun?: (store: AsyncRunStore, input: CreateRunInput) => Promise<{ run: RunRecord; resumed: boolean }>;
  /** What happens between the run's start and its end. @default the whole body, in this process */
  drive?: (session: RunSession) => Promise<PipelineResult>;
  /** Which steps this process executes (see StepRunnerOptions.executes). @default every step */
  executes?: (stepId: string) => boolean;
  /**
   * Whether `drive` ended by leaving the run to others rather than ending it: the run keeps its status and no
   * `run-finished` is emitted (a studio on a queue that stops leaves its runs to the workers and to the coordinator
   * that adopts them). @default never
   */
  leaves?: (error: unknown) => boolean;
}

/**
 * Runs the five stages for one project as memoised, journaled steps:
 * `sheet:panel-1..9` → `sheet:compose` → per shot `generate:<id>` → `promote:<id>` → `qa:<id>` → `export`.
 * Shots flow through their three steps independently, `concurrency` at a time, so frames are streamed (a shot's
 * pixels live only while it is in flight) and CPU work overlaps backend waits.
 */
export function runPipeline(project: Project, options: PipelineOptions): Promise<PipelineResult> {
  return runPipelineWith(project, options, {});
}

/**
 * The run's lifecycle around a body: checks that need no run, the run created or claimed, its lease renewed, every
 * event journaled into its log, its final status set. `lifecycle.drive` replaces running the body here (the
 * distributed coordinator enqueues the body's jobs and follows them).
 */
export async function runPipelineWith(
  project: Project,
  options: PipelineOptions,
  lifecycle: RunLifecycle,
): Promise<PipelineResult> {
  const now = options.now ?? Date.now;
  const started = now();
  const { store } = options;
  const outer = options.signal ?? new AbortController().signal;
  // fail-fast aborts this inner controller; the caller's signal aborts it too.
  const inner = new AbortController();
  const onOuterAbort = (): void => inner.abort(outer.reason);
  let silenced = false;
  let listenerFailed = false;
  let journal: (event: PipelineEvent) => void = () => {};
  const warnOnce = (error: unknown): void => {
    if (!listenerFailed) process.emitWarning(`storycore: an event listener threw: ${errorMessage(error)}`);
    listenerFailed = true;
  };
  const deliverTo =
    (listeners: () => Array<((event: PipelineEvent) => void) | undefined>) =>
    (event: PipelineEvent): void => {
      // After a cancel nothing more reaches the caller: a settled run must not keep reporting.
      if (silenced || (outer.aborted && event.type !== 'run-finished')) return;
      // A listener's exception (or a failed event-log write) must never fail a step or flip a finished run: events
      // report the work, they are not part of it.
      for (const deliver of listeners()) {
        try {
          deliver?.(event);
        } catch (error) {
          warnOnce(error);
        }
      }
    };
  const emit = deliverTo(() => [journal, options.onEvent]);
  const notify = deliverTo(() => [options.onEvent]);

  const thresholds = resolveThresholds(project, options.qaThresholds);
  const projectHash = projectContentHash(project);
  // Bad timings, transitions or audio fail here, before any work, with the shot or file named.
  planAnimatic(project);
  const ffmpeg = options.ffmpeg ?? (await findFfmpeg());
  const projectDir = options.projectDir ?? process.cwd();
  const audio = animaticAudioPath(project, projectDir);
  if (audio !== undefined) await checkAnimaticAudio(audio, ffmpeg, outer);
  const snapshot: RunSnapshot = {
    project,
    outDir: options.outDir,
    failFast: options.failFast ?? false,
    projectDir,
  };
  const input: CreateRunInput = {
    projectId: project.id,
    projectName: project.name,
    projectHash,
    backend: options.backend.name,
    options: snapshot,
  };
  const { run, resumed } = lifecycle.openRun
    ? await lifecycle.openRun(store, input)
    : options.runId
      ? { run: await store.setRunStatus(options.runId, 'running'), resumed: true }
      : { run: await store.createRun(input), resumed: false };
  const runId = run.id;
  // The lease: renewed while this process works on the run, so other processes can tell it from one that died
  // (see LeasePolicy). A failed renewal (a busy database) is only a missed beat; the lease allows a few.
  const heartbeat = setInterval(() => {
    store.renewLease(runId).catch(() => undefined);
  }, store.lease.heartbeatMs);
  heartbeat.unref();
  // Listened to only once the run exists: creating or claiming it may throw (a conflict, an unknown run), and the
  // finally below that removes the listener is not reached from there.
  if (outer.aborted) onOuterAbort();
  else outer.addEventListener('abort', onOuterAbort, { once: true });
  const log = eventJournal(store, runId, warnOnce);
  journal = log;
  const { ctx, stopServerEvents } = createRunContext(
    project,
    { ...options, signal: inner.signal },
    {
      runId,
      emit,
      thresholds,
      ...(lifecycle.executes === undefined ? {} : { executes: lifecycle.executes }),
    },
  );
  emit({
    type: 'run-started',
    runId,
    projectId: project.id,
    totalShots: project.shots.length,
    resumed,
  });
  const body: BodyInput = {
    ctx,
    runId,
    outer,
    stopRun: failFastStop(inner),
    failFast: options.failFast ?? false,
    outDir: options.outDir,
    ...(options.verify === undefined ? {} : { verify: options.verify }),
    startedAt: started,
    projectHash,
    ffmpeg,
    ...(audio !== undefined ? { audio } : {}),
    emit,
  };
  const drive = lifecycle.drive ?? ((s: RunSession) => runPipelineBody(s.body, { kind: 'all' }));

  try {
    const result = await drive({ run, resumed, ctx, body, emit, notify });
    const error = result.failures.length > 0 ? failuresError(result.failures) : undefined;
    await store.setRunStatus(runId, result.status, {
      result: summarize(result),
      ...(error ? { error: toStored(error) } : {}),
    });
    emit({
      type: 'run-finished',
      status: result.status,
      durationMs: result.durationMs,
      ...(error ? { error } : {}),
    });
    return result;
  } catch (error) {
    if (lifecycle.leaves?.(error)) throw error;
    const cancelled = inner.signal.aborted && isCancellation(error);
    const info = toErrorInfo(error);
    await store
      .setRunStatus(runId, cancelled ? 'cancelled' : 'failed', { error: toStored(info) })
      .catch(() => undefined);
    emit({
      type: 'run-finished',
      status: cancelled ? 'cancelled' : 'failed',
      durationMs: now() - started,
      error: info,
    });
    throw error;
  } finally {
    clearInterval(heartbeat);
    // The log's last appends (run-finished) land before the caller may close a networked store.
    await log.flush();
    silenced = outer.aborted;
    stopServerEvents?.();
    outer.removeEventListener('abort', onOuterAbort);
  }
}

/**
 * The run's event log (what a server replays to a client that reconnects): every event but progress, which is kept
 * at whole percents so a long run does not write thousands of rows, servers snapshots without a message, and
 * previews (transient: the frame replaces them).
 * Appends are not awaited (events report the work, they are not part of it); a failed one is warned about.
 */
export function eventJournal(
  store: AsyncRunStore,
  runId: string,
  onError: (error: unknown) => void,
): ((event: PipelineEvent) => void) & { flush: () => Promise<void> } {
  let loggedPercent = -1;
  const pending = new Set<Promise<unknown>>();
  const append = (event: PipelineEvent): void => {
    if (event.type === 'servers' && event.message === undefined) return;
    if (event.type === 'preview') return; // transient: the frame replaces it
    if (event.type === 'progress') {
      const percent = Math.floor(event.progress);
      if (percent === loggedPercent) return;
      loggedPercent = percent;
    }
    const appended = store.appendEvent(runId, event.type, event).catch(onError);
    pending.add(appended);
    void appended.finally(() => pending.delete(appended));
  };
  /** Waits for the appends made so far (never rejects: a failed append was already told to onError). */
  const flush = async (): Promise<void> => {
    await Promise.allSettled([...pending]);
  };
  return Object.assign(append, { flush });
}

/**
 * The context a run's steps share: the guarded backend, the step runner (limited to `executes` for a worker's
 * scope), progress and stage clocks reporting through `emit`.
 */
export function createRunContext(
  project: Project,
  options: StepOptions,
  run: {
    runId: string;
    emit: (event: PipelineEvent) => void;
    thresholds?: QaThresholds;
    executes?: (stepId: string) => boolean;
  },
): { ctx: RunContext; stopServerEvents: (() => void) | undefined } {
  const now = options.now ?? Date.now;
  // Every request settles on a cancel or a timeout even when the backend ignores its signal (see guardBackend).
  const backend = guardBackend(options.backend, {
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  });
  const signal = options.signal ?? new AbortController().signal;
  // Measured step durations feed the progress ETA; set once the progress model exists.
  const hooks: { recordStep?: (event: Extract<PipelineEvent, { type: 'step-completed' }>) => void } = {};
  const emit = (event: PipelineEvent): void => {
    if (event.type === 'step-completed') hooks.recordStep?.(event);
    run.emit(event);
  };
  const steps = new StepRunner({
    runId: run.runId,
    projectId: project.id,
    store: options.store,
    artifacts: options.artifacts,
    retryPolicy: options.retryPolicy,
    fresh: options.fresh ?? false,
    emit,
    now,
    ...(run.executes === undefined ? {} : { executes: run.executes }),
  });
  const concurrency = Math.max(1, options.concurrency ?? backend.capacity);
  const progress = new PipelineProgress(project.shots.length, emit, now, concurrency);
  hooks.recordStep = (event) => progress.recordStepDuration(event.stage, event.durationMs);
  const stopServerEvents = backend.onStatus?.((status) => emit({ type: 'servers', ...status }));
  const ctx: RunContext = {
    project,
    backend,
    artifacts: options.artifacts,
    steps,
    progress,
    stages: new StageClock(progress, emit, now),
    signal,
    now,
    concurrency,
    panelSize: options.panelSize ?? 512,
    thresholds: run.thresholds ?? resolveThresholds(project, options.qaThresholds),
    regenerateBudget: options.regenerateBudget ?? project.qa?.regenerateBudget ?? 2,
    emit,
  };
  return { ctx, stopServerEvents };
}

/**
 * Defaults, then the project's own `qa` settings, then the caller's. Checked before any run exists: a minimum
 * above its maximum (say a project's meanLumaMin over the default meanLumaMax) would fail every shot.
 */
export function resolveThresholds(project: Project, given: Partial<QaThresholds> | undefined): QaThresholds {
  const thresholds: QaThresholds = {
    ...DEFAULT_QA_THRESHOLDS,
    ...definedOnly(project.qa?.thresholds),
    ...given,
  };
  checkThresholds(thresholds, project.qa?.thresholds ?? {});
  return thresholds;
}

/** The project file's QA thresholds must name exactly the thresholds QA knows; this fails to compile otherwise. */
type ProjectThresholds = NonNullable<NonNullable<Project['qa']>['thresholds']>;
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : never) : never;
const thresholdKeysMatch: SameKeys<ProjectThresholds, QaThresholds> = true;
void thresholdKeysMatch;

function definedOnly(values: ProjectThresholds | undefined): Partial<QaThresholds> {
  return Object.fromEntries(Object.entries(values ?? {}).filter(([, v]) => v !== undefined));
}

function checkThresholds(thresholds: QaThresholds, fromProject: Partial<Record<string, unknown>>): void {
  const issues = QA_THRESHOLD_RANGES.filter(([min, max]) => thresholds[min] > thresholds[max]).map(
    ([min, max]) => {
      const origin = (key: string): string => (fromProject[key] === undefined ? ', the default' : '');
      return {
        path: `qa.thresholds.${fromProject[min] === undefined ? max : min}`,
        message: `${min} (${thresholds[min]}${origin(min)}) is above ${max} (${thresholds[max]}${origin(max)}): every shot would fail QA`,
      };
    },
  );
  if (issues.length > 0) {
    throw new ValidationError(
      `invalid QA thresholds: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
}

function toStored(info: ErrorInfo): StoredError {
  return { ...info, code: String(info.code) };
}

function failuresError(failures: readonly ShotFailure[]): ErrorInfo {
  const first = failures[0]!;
  return {
    code: first.error.code,
    message: `${failures.length} shot(s) failed: ${failures.map((f) => `${f.shotId} (${f.stage}: ${f.error.rootCause ?? f.error.message})`).join('; ')}`,
    retryable: failures.every((f) => f.error.retryable),
  };
}

/** What the run record keeps of a result: enough for `storycore status` and getPartialResults without the pixels. */
function summarize(result: PipelineResult): Record<string, unknown> {
  return {
    status: result.status,
    sheet: result.sheet.sha256,
    shots: result.shots.map((s) => ({
      shotId: s.shotId,
      frame: s.frameSha256,
      score: s.qa.score,
      seed: s.seed,
    })),
    overallScore: result.qaReport.overallScore,
    export: result.export ?? null,
    failures: result.failures,
    executed: result.executedSteps.length,
    reused: result.reusedSteps.length,
    durationMs: result.durationMs,
  };
}
