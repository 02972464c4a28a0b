import { abortWith, cancellationFrom } from '../core/abort.js';
import { InternalError, ValidationError, errorMessage, isCancellation } from '../core/errors.js';
import type { RetryPolicy } from '../core/retry.js';
import type { ImageBackend } from '../backends/types.js';
import type { Project } from '../project/schema.js';
import { projectContentHash } from '../project/prompt.js';
import { QA_THRESHOLD_RANGES } from '../project/contract.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { RunStore, StoredError } from '../store/run-store.js';
import type { VisualDna } from '../stages/coherence/types.js';
// The report and the thresholds only, not the QA index: its metrics and fixes load when a QA step executes.
import { buildQaReport } from '../stages/qa/report.js';
import { DEFAULT_QA_THRESHOLDS, type QaThresholds } from '../stages/qa/thresholds.js';
import type { QaReport } from '../stages/qa/types.js';
import type { ErrorInfo, PipelineEvent, PipelineEventListener, PipelineStage } from './events.js';
import { guardBackend } from './backend-guard.js';
import { runExportStep } from './export-step.js';
import { animaticAudioPath, runAnimaticStep } from './animatic-step.js';
// Not the animatic index: the encoder, the zip and the report load only when an animatic is rendered.
import { checkAnimaticAudio } from '../stages/animatic/audio.js';
import { findFfmpeg, type FfmpegLookup } from '../stages/animatic/ffmpeg.js';
import { planAnimatic } from '../stages/animatic/plan.js';
import { mapPool } from '../core/pool.js';
import { PipelineProgress } from './progress.js';
import { StageClock, type RunContext } from './run-context.js';
import { runSheetSteps } from './sheet-steps.js';
import { createShotRunner, type ShotOutcome } from './shot-steps.js';
import { StepRunner, toErrorInfo } from './step-runner.js';

export type { ShotOutcome } from './shot-steps.js';

export interface PipelineOptions {
  backend: ImageBackend;
  store: RunStore;
  artifacts: ArtifactStore;
  /** Where export folders and zips are written. */
  outDir: string;
  retryPolicy: RetryPolicy;
  signal?: AbortSignal;
  /** Shots in flight at once. @default backend.capacity */
  concurrency?: number;
  /** Stop the whole run at the first shot that fails for good. @default false (the others finish) */
  failFast?: boolean;
  /** Ignore memoised results from earlier runs. @default false */
  fresh?: boolean;
  /**
   * Hash every file of a reused export (folder and zip) against its manifest, instead of checking that each is
   * present with its size. @default false
   */
  verify?: boolean;
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
  /** Continue this run (resume) instead of creating a new one. */
  runId?: string;
  /** Folder relative paths of the project (the animatic's audio) resolve from. @default the working directory */
  projectDir?: string;
  /** The ffmpeg for the animatic, already looked up. @default findFfmpeg() (FFMPEG_PATH, the npm package, PATH) */
  ffmpeg?: FfmpegLookup;
  onEvent?: PipelineEventListener;
  now?: () => number;
}

export interface ShotFailure {
  shotId: string;
  stage: PipelineStage;
  error: ErrorInfo;
}

export interface PipelineResult {
  runId: string;
  status: 'succeeded' | 'failed';
  /** `path`: the sheet's file, when the artifact store is a folder (a bucket has no path; see `urlOf`). */
  sheet: { sha256: string; path?: string; dna: VisualDna };
  shots: ShotOutcome[];
  qaReport: QaReport;
  export?: { dir: string; zipPath: string };
  failures: ShotFailure[];
  /** Step ids executed in this run, and reused from earlier ones. */
  executedSteps: string[];
  reusedSteps: string[];
  durationMs: number;
}

/**
 * Runs the five stages for one project as memoised, journaled steps:
 * `sheet:panel-1..9` → `sheet:compose` → per shot `generate:<id>` → `promote:<id>` → `qa:<id>` → `export`.
 * Shots flow through their three steps independently, `concurrency` at a time, so frames are streamed (a shot's
 * pixels live only while it is in flight) and CPU work overlaps backend waits.
 */
export async function runPipeline(project: Project, options: PipelineOptions): Promise<PipelineResult> {
  const now = options.now ?? Date.now;
  const started = now();
  const { store, artifacts } = options;
  // Every request settles on a cancel or a timeout even when the backend ignores its signal (see guardBackend).
  const backend = guardBackend(options.backend, {
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  });
  const outer = options.signal ?? new AbortController().signal;
  // fail-fast aborts this inner controller; the caller's signal aborts it too.
  const inner = new AbortController();
  const onOuterAbort = (): void => inner.abort(outer.reason);
  const signal = inner.signal;
  let silenced = false;
  let listenerFailed = false;
  let journal: (event: PipelineEvent) => void = () => {};
  // Measured step durations feed the progress ETA; set once the progress model exists.
  const hooks: { recordStep?: (event: Extract<PipelineEvent, { type: 'step-completed' }>) => void } = {};
  const emit = (event: PipelineEvent): void => {
    if (event.type === 'step-completed') hooks.recordStep?.(event);
    // After a cancel nothing more reaches the caller: a settled run must not keep reporting.
    if (silenced || (outer.aborted && event.type !== 'run-finished')) return;
    // A listener's exception (or a failed event-log write) must never fail a step or flip a finished run: events
    // report the work, they are not part of it.
    for (const deliver of [journal, options.onEvent]) {
      try {
        deliver?.(event);
      } catch (error) {
        if (!listenerFailed)
          process.emitWarning(`storycore: an event listener threw: ${errorMessage(error)}`);
        listenerFailed = true;
      }
    }
  };

  // Defaults, then the project's own `qa` settings, then the caller's. Checked before any run exists: a minimum
  // above its maximum (say a project's meanLumaMin over the default meanLumaMax) would fail every shot.
  const thresholds: QaThresholds = {
    ...DEFAULT_QA_THRESHOLDS,
    ...definedOnly(project.qa?.thresholds),
    ...options.qaThresholds,
  };
  checkThresholds(thresholds, project.qa?.thresholds ?? {});
  const projectHash = projectContentHash(project);
  // Bad timings, transitions or audio fail here, before any work, with the shot or file named.
  planAnimatic(project);
  const ffmpeg = options.ffmpeg ?? (await findFfmpeg());
  const projectDir = options.projectDir ?? process.cwd();
  const audio = animaticAudioPath(project, projectDir);
  if (audio !== undefined) await checkAnimaticAudio(audio, ffmpeg, outer);
  const run = options.runId
    ? store.setRunStatus(options.runId, 'running')
    : store.createRun({
        projectId: project.id,
        projectName: project.name,
        projectHash,
        backend: backend.name,
        options: { project, outDir: options.outDir, failFast: options.failFast ?? false, projectDir },
      });
  const runId = run.id;
  // The lease: renewed while this process works on the run, so other processes can tell it from one that died
  // (see LeasePolicy). A failed renewal (a busy database) is only a missed beat; the lease allows a few.
  const heartbeat = setInterval(() => {
    try {
      store.renewLease(runId);
    } catch {
      // missed beat
    }
  }, store.lease.heartbeatMs);
  heartbeat.unref();
  // Listened to only once the run exists: creating or claiming it may throw (a conflict, an unknown run), and the
  // finally below that removes the listener is not reached from there.
  if (outer.aborted) onOuterAbort();
  else outer.addEventListener('abort', onOuterAbort, { once: true });
  let loggedPercent = -1;
  journal = (event) => {
    // The run's event log (what a server replays to a client that reconnects): every event but progress, which
    // is kept at whole percents so a long run does not write thousands of rows.
    if (event.type === 'servers' && event.message === undefined) return;
    if (event.type === 'preview') return; // transient: the frame replaces it
    if (event.type === 'progress') {
      const percent = Math.floor(event.progress);
      if (percent === loggedPercent) return;
      loggedPercent = percent;
    }
    store.appendEvent(runId, event.type, event);
  };
  const steps = new StepRunner({
    runId,
    projectId: project.id,
    store,
    artifacts,
    retryPolicy: options.retryPolicy,
    fresh: options.fresh ?? false,
    emit,
    now,
  });
  const concurrency = Math.max(1, options.concurrency ?? backend.capacity);
  const progress = new PipelineProgress(project.shots.length, emit, now, concurrency);
  hooks.recordStep = (event) => progress.recordStepDuration(event.stage, event.durationMs);
  emit({
    type: 'run-started',
    runId,
    projectId: project.id,
    totalShots: project.shots.length,
    resumed: !!options.runId,
  });
  const stopServerEvents = backend.onStatus?.((status) => emit({ type: 'servers', ...status }));
  const ctx: RunContext = {
    project,
    backend,
    artifacts,
    steps,
    progress,
    stages: new StageClock(progress, emit, now),
    signal,
    now,
    concurrency,
    panelSize: options.panelSize ?? 512,
    thresholds,
    regenerateBudget: options.regenerateBudget ?? project.qa?.regenerateBudget ?? 2,
    emit,
  };

  const body = async (): Promise<PipelineResult> => {
    const sheet = await runSheetSteps(ctx);

    ctx.stages.start('comfyui');
    const runShot = createShotRunner(ctx, sheet);
    const failures: ShotFailure[] = [];
    const outcomes: Array<ShotOutcome | undefined> = new Array(project.shots.length);
    const shotsDone = mapPool(
      project.shots,
      ctx.concurrency,
      async (shot, index) => {
        try {
          outcomes[index] = await runShot(shot, index);
        } catch (error) {
          // Only the run's own signal makes a cancel; every other error is this shot's failure, listed below.
          if (signal.aborted) throw error;
          failures.push({
            shotId: shot.id,
            stage: steps.failedStages.get(shot.id) ?? 'comfyui',
            error: toErrorInfo(error),
          });
          if (options.failFast) abortWith(inner, 'shutdown');
        }
      },
      { signal, settleAll: true },
    );
    try {
      await shotsDone;
    } catch (error) {
      // A fail-fast stop aborts the inner signal on purpose: that is a failed run, not a cancelled one.
      if (outer.aborted || failures.length === 0) throw error;
    }
    if (outer.aborted) throw cancellationFrom(outer);

    const shots = outcomes.filter((o): o is ShotOutcome => o !== undefined);
    if (failures.length === 0 && shots.length !== project.shots.length) {
      // Every shot either succeeded or is in `failures`; a shot in neither would vanish from the export unnoticed.
      throw new InternalError(
        `${project.shots.length - shots.length} shot(s) ended without a result or an error`,
      );
    }
    // Every shot in project order: one that failed has no frame and counts as failed in the score.
    const failedById = new Map(failures.map((f) => [f.shotId, f] as const));
    const qaReport = buildQaReport(
      project.shots.map((shot, i) => {
        const outcome = outcomes[i];
        if (outcome) return outcome.qa;
        const failure = failedById.get(shot.id);
        return {
          shotId: shot.id,
          stage: failure?.stage ?? 'comfyui',
          reason: failure ? (failure.error.rootCause ?? failure.error.message) : 'not run',
        };
      }),
      ctx.thresholds,
    );
    const finished = (
      status: PipelineResult['status'],
      exported?: PipelineResult['export'],
    ): PipelineResult => ({
      runId,
      status,
      sheet: {
        sha256: sheet.sha256,
        ...(artifacts.localPath ? { path: artifacts.localPath(sheet.sha256) } : {}),
        dna: sheet.dna,
      },
      shots,
      qaReport,
      ...(exported ? { export: exported } : {}),
      failures,
      executedSteps: steps.executed,
      reusedSteps: steps.reused,
      durationMs: now() - started,
    });
    // An export is a finished sequence: with shots missing there is none. The run stays resumable: a rerun
    // retries the failed shots and reuses everything else.
    if (failures.length > 0) return finished('failed');

    const exported = await runExportStep(ctx, sheet, shots, qaReport, {
      outDir: options.outDir,
      startedAt: started,
      ...(options.verify === undefined ? {} : { verify: options.verify }),
    });
    const animatic = await runAnimaticStep(ctx, shots, exported, {
      projectHash,
      ffmpeg,
      ...(audio !== undefined ? { audio } : {}),
    });
    // Said once per run, whether the step ran or was reused: the export is complete, only the video is missing.
    if (animatic.missing !== undefined) {
      emit({
        type: 'warning',
        stage: 'export',
        message: `no animatic.mp4 in the export: ${animatic.missing}`,
      });
    }
    progress.update('export', 'export', 1);
    ctx.stages.finishIfDone('export', () => ({
      dir: exported.dir,
      zip: exported.zipPath,
      animatic: animatic.videoSha256 === null ? null : 'animatic.mp4',
    }));
    progress.complete();
    return finished('succeeded', exported);
  };

  try {
    const result = await body();
    const error = result.failures.length > 0 ? failuresError(result.failures) : undefined;
    store.setRunStatus(runId, result.status, {
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
    const cancelled = signal.aborted && isCancellation(error);
    const info = toErrorInfo(error);
    store.setRunStatus(runId, cancelled ? 'cancelled' : 'failed', { error: toStored(info) });
    emit({
      type: 'run-finished',
      status: cancelled ? 'cancelled' : 'failed',
      durationMs: now() - started,
      error: info,
    });
    throw error;
  } finally {
    clearInterval(heartbeat);
    silenced = outer.aborted;
    stopServerEvents?.();
    outer.removeEventListener('abort', onOuterAbort);
  }
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
