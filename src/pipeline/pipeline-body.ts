import { abortWith, cancellationFrom } from '../core/abort.js';
import { InternalError } from '../core/errors.js';
import { mapPool } from '../core/pool.js';
import type { FfmpegLookup } from '../stages/animatic/ffmpeg.js';
import type { VisualDna } from '../stages/coherence/types.js';
import { buildQaReport } from '../stages/qa/report.js';
import type { QaReport } from '../stages/qa/types.js';
import { runAnimaticStep } from './animatic-step.js';
import type { ErrorInfo, PipelineEvent, PipelineStage } from './events.js';
import { runExportStep } from './export-step.js';
import type { RunContext } from './run-context.js';
import { runSheetSteps } from './sheet-steps.js';
import { createShotRunner, type ShotOutcome } from './shot-steps.js';
import { toErrorInfo } from './step-runner.js';

/**
 * Which part of a run's body a process executes; every step before it is taken from the memo (see
 * StepRunnerOptions.executes). The embedded run is `all`; a distributed run is one `sheet` job, one `shot` job per
 * shot and one `finish` job (export + animatic), and its coordinator reads the whole result with `observe`.
 */
export type PipelineScope =
  | { kind: 'all' }
  | { kind: 'sheet' }
  | { kind: 'shot'; shotId: string }
  | { kind: 'finish' }
  | { kind: 'observe' };

/** Whether a step of the given id executes in `scope` (the others come from the memo). */
export function scopeExecutes(scope: PipelineScope, stepId: string): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'observe':
      return false;
    case 'sheet':
      return stepId.startsWith('sheet:');
    case 'shot':
      return (
        stepId === `generate:${scope.shotId}` ||
        stepId === `promote:${scope.shotId}` ||
        stepId === `qa:${scope.shotId}`
      );
    case 'finish':
      return stepId === 'export' || stepId === 'animatic';
  }
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

/** What a `sheet` or `shot` scope did: its steps, and the shot's failure when it failed for good. */
export interface PipelinePart {
  failures: ShotFailure[];
  executedSteps: string[];
  reusedSteps: string[];
}

export interface BodyInput {
  ctx: RunContext;
  runId: string;
  /** The caller's signal: a cancel (fail-fast aborts only the context's signal). */
  outer: AbortSignal;
  /** Stops the run's other work (fail-fast). */
  stopRun: () => void;
  failFast: boolean;
  outDir: string;
  verify?: boolean;
  startedAt: number;
  projectHash: string;
  ffmpeg: FfmpegLookup;
  audio?: string;
  emit: (event: PipelineEvent) => void;
}

/**
 * The run's body: sheet → shots (pipelined, `concurrency` at a time) → export → animatic. The lifecycle around it
 * (creating or claiming the run, the lease, statuses, the event log) is the orchestrator's, or the distributed
 * runner's, which runs one scope per job.
 */
export async function runPipelineBody(input: BodyInput, scope: { kind: 'sheet' }): Promise<PipelinePart>;
export async function runPipelineBody(
  input: BodyInput,
  scope: { kind: 'shot'; shotId: string },
): Promise<PipelinePart>;
export async function runPipelineBody(
  input: BodyInput,
  scope: { kind: 'all' } | { kind: 'finish' } | { kind: 'observe' },
): Promise<PipelineResult>;
export async function runPipelineBody(
  input: BodyInput,
  scope: PipelineScope,
): Promise<PipelineResult | PipelinePart>;
export async function runPipelineBody(
  input: BodyInput,
  scope: PipelineScope,
): Promise<PipelineResult | PipelinePart> {
  const { ctx, outer, runId, emit } = input;
  const { project, steps, signal, artifacts, progress, now } = ctx;
  const sheet = await runSheetSteps(ctx);
  if (scope.kind === 'sheet')
    return { failures: [], executedSteps: steps.executed, reusedSteps: steps.reused };

  ctx.stages.start('comfyui');
  const runShot = createShotRunner(ctx, sheet);
  const failures: ShotFailure[] = [];
  const outcomes: Array<ShotOutcome | undefined> = new Array(project.shots.length);
  const selected = scope.kind === 'shot' ? project.shots.filter((s) => s.id === scope.shotId) : project.shots;
  if (selected.length === 0) {
    throw new InternalError(`project ${project.id} has no shot "${(scope as { shotId: string }).shotId}"`);
  }
  const shotsDone = mapPool(
    selected,
    ctx.concurrency,
    async (shot) => {
      const index = project.shots.indexOf(shot);
      try {
        outcomes[index] = await runShot(shot, index);
      } catch (error) {
        // Only the run's own signal makes a cancel; every other error is this shot's failure, listed below.
        if (signal.aborted) throw error;
        // A job that is not ready (its sheet is still being made) is retried by the queue, not a shot failure.
        if (scope.kind !== 'all' && scope.kind !== 'observe' && isNotReady(error)) throw error;
        failures.push({
          shotId: shot.id,
          stage: steps.failedStages.get(shot.id) ?? 'comfyui',
          error: toErrorInfo(error),
        });
        if (input.failFast) input.stopRun();
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
  if (scope.kind === 'shot') return { failures, executedSteps: steps.executed, reusedSteps: steps.reused };

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
    durationMs: now() - input.startedAt,
  });
  // An export is a finished sequence: with shots missing there is none. The run stays resumable: a rerun
  // retries the failed shots and reuses everything else.
  if (failures.length > 0) return finished('failed');

  const exported = await runExportStep(ctx, sheet, shots, qaReport, {
    outDir: input.outDir,
    startedAt: input.startedAt,
    ...(input.verify === undefined ? {} : { verify: input.verify }),
  });
  const animatic = await runAnimaticStep(ctx, shots, exported, {
    projectHash: input.projectHash,
    ffmpeg: input.ffmpeg,
    ...(input.audio !== undefined ? { audio: input.audio } : {}),
  });
  // Said once per run, whether the step ran or was reused: the export is complete, only the video is missing.
  // (A finish job leaves it to the coordinator, which says it once when it reads the result.)
  if (animatic.missing !== undefined && scope.kind !== 'finish') {
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
}

function isNotReady(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'StepNotReadyError' &&
    (error as { failure?: unknown }).failure === undefined
  );
}

/** Aborts `controller` as a fail-fast stop (a failed run, not a cancel). */
export function failFastStop(controller: AbortController): () => void {
  return () => abortWith(controller, 'shutdown');
}
