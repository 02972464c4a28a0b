import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { ImageBackend } from '../../backends/types.js';
import type { Project } from '../../project/schema.js';
import { addBackendOptions, projectDir, resolveBackend, type BackendFlags } from '../backend-options.js';
import { formatDuration } from '../../core/status-tracker.js';
import type { PipelineEvent } from '../../pipeline/events.js';
import type {
  GenerateSequenceOptions,
  GenerationResults,
  SequenceGenerationService,
} from '../../pipeline/sequence-generation-service.js';
import { addQueueOptions, type QueueFlags } from './worker-command.js';
import { queueFlagSettings, type QueueParts } from '../queue-parts.js';
import type { runOnQueue as RunOnQueue } from '../../distributed/coordinator.js';
import { intAtLeast, nonEmptyPath, type CliContext, type GlobalOptions } from '../context.js';
import { isCreativeStudioFile, loadProjectFile, writeBackCreativeStudio } from '../engine.js';
import { ExitCode } from '../errors.js';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { assertUsableDir } from '../../core/usable-dir.js';
import { jsonLinesView, terminalView, type ProgressView } from '../progress-view.js';

interface RunOptions extends GlobalOptions, BackendFlags {
  out: string;
  concurrency?: number;
  fresh?: boolean;
  verify?: boolean;
  failFast?: boolean;
  retryAttempts?: number;
  retryDelay?: number;
}

/** Adds `generate` and `resume`: the two commands that run the pipeline, so they share options and output. */
export function registerRunCommands(program: Command, ctx: CliContext): void {
  addQueueOptions(
    addRunOptions(
      program
        .command('generate')
        .description('run the five stages on a project (reuses every finished step of earlier runs)')
        .argument('<project>', 'project.json (ours or a Creative Studio one), or a folder holding one')
        .option('--style <prompt>', 'style prompt for a Creative Studio project that gives none')
        .option(
          '--write-back',
          "write the frames' and the sheet's URLs back into the Creative Studio project file (generated_image_url, master_coherence_sheet)",
        ),
    ),
    false,
  ).action(async (projectPath: string, _cmdOpts: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<RunOptions & QueueFlags & { style?: string; writeBack?: boolean }>();
    if (opts.queue === undefined && (opts.store !== undefined || opts.artifacts !== undefined)) {
      throw new ValidationError(
        "--store and --artifacts go with --queue <url> (a run on the studio's workers)",
        [{ path: '--queue', message: 'missing' }],
      );
    }
    // Refused before the run: finding out after an hour of generation that there is nowhere to write is no help.
    if (opts.writeBack && !(await isCreativeStudioFile(projectPath))) {
      throw new ValidationError(
        `--write-back needs a Creative Studio project file; ${projectPath} is a StoryCore project (its results are in the export)`,
        [],
        { details: { file: projectPath } },
      );
    }
    // The paths before the project: loading remembers a valid project in the workspace, which must not appear when
    // the run is refused for an --out or a workspace it cannot use.
    await assertUsableDir(resolve(opts.workspace), 'workspace');
    await assertUsableDir(resolve(opts.out), 'out');
    const project = await loadProjectFile(projectPath, {
      onWarning: (message) => ctx.err(`warning: ${message}`),
      // An unchanged project file is not validated again (nor zod loaded): the workspace remembers it.
      validatedCache: resolve(opts.workspace),
      ...(opts.style === undefined ? {} : { style: opts.style }),
    });
    const baseDir = await projectDir(projectPath);
    await runWithProgress(
      ctx,
      opts,
      true,
      () => project.id,
      (svc, view, signal) =>
        withBackend(opts, project, baseDir, signal, async (backend) => {
          const queued = opts.queue === undefined ? undefined : await queuedRunner(opts, signal);
          const results = await svc
            .generateSequence(project, {
              signal,
              projectDir: baseDir,
              onEvent: (e) => view.onEvent(e),
              ...runOptions(opts),
              ...(backend ? { backend } : {}),
              ...(queued ? { runner: queued.runner } : {}),
            })
            .finally(() => queued?.close());
          if (results !== null && opts.writeBack) {
            // Shots that failed keep what the file had; the run's summary says which they are.
            const { file, updatedShots } = await writeBackCreativeStudio(projectPath, results, { signal });
            view.note(`wrote ${updatedShots.length} frame URLs and the sheet's back into ${file}`);
          }
          return results;
        }),
      opts.queue !== undefined,
    );
  });

  addQueueOptions(
    addRunOptions(
      program
        .command('resume')
        .description('continue an interrupted, cancelled or failed run')
        .argument('<run>', 'run id (see `storycore runs`)'),
    ),
    false,
  ).action(async (runId: string, _cmdOpts: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<RunOptions & QueueFlags>();
    const outGiven = cmd.getOptionValueSource('out') === 'cli';
    if (opts.queue !== undefined) {
      await resumeOnQueue(ctx, runId, opts, outGiven);
      return;
    }
    if (opts.store !== undefined || opts.artifacts !== undefined) {
      throw new ValidationError(
        "--store and --artifacts go with --queue <url> (a run on the studio's workers)",
        [{ path: '--queue', message: 'missing' }],
      );
    }
    await runWithProgress(
      ctx,
      opts,
      outGiven,
      // The run's project is known only to the store, which runWithProgress opens.
      (svc) => localRun(svc, runId).projectId,
      (svc, view, signal) => {
        const saved = svc.getRun(runId).options as { project?: Project; projectDir?: string } | undefined;
        // The run keeps the project and the folder its file was in: relative workflow paths resolve from there.
        return withBackend(opts, saved?.project, saved?.projectDir, signal, (backend) =>
          svc.resume(runId, {
            signal,
            onEvent: (e) => view.onEvent(e),
            ...runOptions(opts),
            ...(backend ? { backend } : {}),
            // A resumed run exports where it started unless told otherwise: only an explicit --out moves it.
            ...(outGiven ? { outDir: opts.out } : {}),
          }),
        );
      },
    );
  });
}

/** The flags that name a queued run's queue and shared storage (--store: the journal, with a Redis queue). */
const QUEUE_FLAGS_HINT = '--queue <url> --artifacts <dir|s3://…> [--store <location>]';

/**
 * A run of this workspace that can be resumed here. A run that is not in it, or one that was started on a queue
 * (a workspace shared as the queue's journal), is refused with the flags that resume it on its queue.
 */
function localRun(svc: SequenceGenerationService, runId: string): { projectId: string } {
  let run;
  try {
    run = svc.getRun(runId);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    throw new NotFoundError(
      `${error.message}\n  a run started on a queue is resumed on it: storycore resume ${runId} ${QUEUE_FLAGS_HINT}`,
      { details: { runId } },
    );
  }
  if ((run.options as { distributed?: unknown } | undefined)?.distributed !== undefined) {
    throw new ValidationError(
      `run ${runId} was started on a queue: resume it there with ${QUEUE_FLAGS_HINT}`,
      [{ path: '--queue', message: 'missing' }],
      { details: { runId } },
    );
  }
  return run;
}

/**
 * `resume <run> --queue …`: the run as the shared store recorded it, driven again through the queue by this process
 * as its coordinator. Finished steps are memoised, so the workers redo nothing finished; a run still live
 * elsewhere is attached to, as a second coordinator.
 */
async function resumeOnQueue(
  ctx: CliContext,
  runId: string,
  opts: RunOptions & QueueFlags,
  outGiven: boolean,
): Promise<void> {
  if (outGiven) {
    throw new ValidationError(
      `--out cannot move the export of run ${runId}: its workers write it where the run started`,
      [{ path: '--out', message: 'not with --queue' }],
    );
  }
  const [{ openQueueParts }, { runOnQueue }, { queuedResumption }] = await Promise.all([
    import('../queue-parts.js'),
    import('../../distributed/coordinator.js'),
    import('../../distributed/run-settings.js'),
  ]);
  const connecting = new AbortController();
  const parts = await openQueueParts(opts, connecting.signal);
  try {
    const run = await parts.store.getRun(runId);
    if (run === undefined) {
      throw new NotFoundError(`no run with id "${runId}" in the shared run store (${parts.queue.label})`, {
        details: { runId },
      });
    }
    // A run that was not started on a queue is refused here, naming it (ValidationError).
    const resumption = queuedResumption(run);
    await runWithProgress(
      ctx,
      opts,
      false,
      () => run.projectId,
      (svc, view, signal) =>
        svc.generateSequence(resumption.project, {
          signal,
          onEvent: (e) => view.onEvent(e),
          ...runOptions(opts),
          runId,
          outDir: resumption.outDir,
          projectDir: resumption.projectDir,
          ...(resumption.failFast ? { failFast: true } : {}),
          ...(resumption.verify ? { verify: true } : {}),
          panelSize: resumption.panelSize,
          backend: resumption.backend,
          runner: coordinatorOn(runOnQueue, parts, opts),
        }),
      true,
    );
  } finally {
    await parts.close();
  }
}

function addRunOptions(cmd: Command): Command {
  return addBackendOptions(cmd)
    .option('-o, --out <dir>', 'where export folders and zips are written', nonEmptyPath('--out'), 'exports')
    .option(
      '-c, --concurrency <n>',
      'shots in flight at once (default: backend capacity)',
      intAtLeast('--concurrency', 1),
    )
    .option('--fresh', 'ignore results of earlier runs and compute everything again')
    .option('--verify', 'hash every file of a reused export against its manifest (sizes are always checked)')
    .option('--fail-fast', 'stop the run at the first shot that fails for good (default: the others finish)')
    .option(
      '--retry-attempts <n>',
      'attempts per step, the first included (default 3)',
      intAtLeast('--retry-attempts', 0),
    )
    .option(
      '--retry-delay <ms>',
      'wait before the first retry, doubled each time (default 2000)',
      intAtLeast('--retry-delay', 0),
    );
}

/** A run's runner that coordinates it on the queue, over the shared store and artifacts the flags name. */
function coordinatorOn(
  runOnQueue: typeof RunOnQueue,
  parts: QueueParts,
  opts: QueueFlags,
): NonNullable<GenerateSequenceOptions['runner']> {
  return (project, options) =>
    runOnQueue(project, {
      ...options,
      store: parts.store,
      artifacts: parts.artifacts,
      queue: parts.queue,
      ...queueFlagSettings(opts),
    });
}

/** The coordinator of a run on the studio's queue, over the shared store and artifacts the flags name. */
async function queuedRunner(
  opts: QueueFlags,
  signal: AbortSignal,
): Promise<{
  runner: NonNullable<GenerateSequenceOptions['runner']>;
  label: string;
  close: () => Promise<void>;
}> {
  const [{ openQueueParts }, { runOnQueue }] = await Promise.all([
    import('../queue-parts.js'),
    import('../../distributed/coordinator.js'),
  ]);
  const parts = await openQueueParts(opts, signal);
  return {
    runner: coordinatorOn(runOnQueue, parts, opts),
    label: parts.queue.label,
    close: () => parts.close(),
  };
}

/** Builds the backend for one run and closes it after (a ComfyUI backend sends its pending cancels first). */
async function withBackend<T>(
  opts: RunOptions,
  project: Project | undefined,
  baseDir: string | undefined,
  signal: AbortSignal,
  run: (backend: ImageBackend | undefined) => Promise<T>,
): Promise<T> {
  const backend = await resolveBackend(opts, project, baseDir, signal);
  try {
    return await run(backend);
  } finally {
    await backend?.close?.();
  }
}

/** Only the options the user gave, so the service's own defaults apply to the rest. */
function runOptions(opts: RunOptions): {
  concurrency?: number;
  fresh?: boolean;
  verify?: boolean;
  failFast?: boolean;
  retryAttempts?: number;
  retryDelayMs?: number;
} {
  return {
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    ...(opts.fresh ? { fresh: true } : {}),
    ...(opts.verify ? { verify: true } : {}),
    ...(opts.failFast ? { failFast: true } : {}),
    ...(opts.retryAttempts !== undefined ? { retryAttempts: opts.retryAttempts } : {}),
    ...(opts.retryDelay !== undefined ? { retryDelayMs: opts.retryDelay } : {}),
  };
}

/**
 * Runs a generation with progress, Ctrl-C handling and a summary; sets `ctx.exitCode`. `projectId` names the
 * project whose partial results say which run to resume when `start` ends without results (failed or
 * cancelled).
 */
async function runWithProgress(
  ctx: CliContext,
  opts: RunOptions,
  outGiven: boolean,
  projectId: (svc: SequenceGenerationService) => string,
  start: (
    svc: SequenceGenerationService,
    view: ProgressView,
    signal: AbortSignal,
  ) => Promise<GenerationResults | null>,
  /** A run on a queue: its journal is the shared store, not the workspace, and it resumes with --queue. */
  queued = false,
): Promise<void> {
  const svc = await ctx.service(opts);
  // Before any work (and before the store is opened): an --out or a workspace that is a file fails here, not
  // after the whole pipeline ran. A resume without --out exports where the run started, checked by the service.
  await svc.assertUsablePaths(opts.out !== undefined && outGiven ? resolve(opts.out) : null);
  const shown = ctx.streamJson(opts) ? jsonLinesView(ctx.write) : terminalView(ctx.stderr);
  // The run's id and ending as its events tell them: a run on a queue is not in the workspace's journal, and it
  // can be cancelled by another process (the studio), which only its run-finished event says.
  const seen: { runId?: string; finished?: Extract<PipelineEvent, { type: 'run-finished' }> } = {};
  const view: ProgressView = {
    ...shown,
    onEvent: (event) => {
      if (event.type === 'run-started') seen.runId = event.runId;
      if (event.type === 'run-finished') seen.finished = event;
      shown.onEvent(event);
    },
  };
  const controller = new AbortController();
  let interrupts = 0;
  let cancelCode: number = ExitCode.CANCELLED;
  // The first Ctrl-C cancels cleanly (the run stays resumable); a second one is someone who will not wait.
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      view.note('Cancelling… (the run stays resumable; press Ctrl-C again to quit at once)');
      controller.abort();
    } else {
      process.exit(ExitCode.CANCELLED);
    }
  };
  // A supervisor's SIGTERM gets the same clean cancel, said in its own words and with its conventional exit code.
  const onSigterm = (): void => {
    cancelCode = ExitCode.TERMINATED;
    if (controller.signal.aborted) return;
    view.note('Terminating: cancelling the run cleanly (it stays resumable)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    const id = projectId(svc);
    const results = await start(svc, view, controller.signal);
    view.stop();
    if (results === null) {
      const partial = queued ? null : svc.getPartialResults(id);
      const runId = partial?.runId ?? seen.runId;
      const hint = queued ? ` ${QUEUE_FLAGS_HINT}` : '';
      if (controller.signal.aborted) {
        const by = cancelCode === ExitCode.TERMINATED ? 'SIGTERM' : 'Ctrl-C (SIGINT)';
        report(ctx, view, opts, 'cancelled', runId, `cancelled by ${by}; the run is resumable`, hint);
        ctx.exitCode = cancelCode;
      } else if (seen.finished?.status === 'cancelled') {
        const message =
          'cancelled by another process (the studio, or another coordinator); the run is resumable';
        report(ctx, view, opts, 'cancelled', runId, message, hint);
        ctx.exitCode = ExitCode.CANCELLED;
      } else {
        const run = partial?.runId ? svc.getRun(partial.runId) : undefined;
        report(ctx, view, opts, 'failed', runId, run?.error?.message ?? seen.finished?.error?.message, hint);
        ctx.exitCode = ExitCode.FAILED;
      }
      return;
    }
    summarize(ctx, results, opts);
    ctx.exitCode = results.success ? ExitCode.OK : ExitCode.FAILED;
  } finally {
    view.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    svc.close();
  }
}

/** A run that ended without results: an event in the JSON stream, or a line on stderr with the resume hint. */
function report(
  ctx: CliContext,
  view: ProgressView,
  opts: GlobalOptions,
  status: string,
  runId?: string,
  message?: string,
  resumeFlags = '',
): void {
  const hint = runId ? `resume with: storycore resume ${runId}${resumeFlags}` : '';
  if (ctx.streamJson(opts))
    view.note(`run ${status}`, {
      status,
      runId: runId ?? null,
      // Every note says why in words: a bare `"message": null` told a script nothing.
      message: message ?? `run ${status}`,
    });
  else ctx.err(`Run ${status}${message ? `: ${message}` : ''}.${hint ? ` ${hint}` : ''}`);
}

/** The closing result: one JSON line (QA report cut to its scores) or a human summary with per-shot scores. */
function summarize(ctx: CliContext, r: GenerationResults, opts: GlobalOptions): void {
  const { out } = ctx;
  if (ctx.streamJson(opts)) {
    out(
      JSON.stringify({
        type: 'result',
        ...r,
        qaReport: {
          overallScore: r.qaReport.overallScore,
          shotScores: r.qaReport.shotScores,
          autofixApplied: r.qaReport.autofixApplied,
        },
      }),
    );
    return;
  }
  const mark = r.success ? '✔' : '✖';
  out(
    `${mark} run ${r.runId}: ${r.generatedShots.length} shots, QA ${r.qaReport.overallScore}/100` +
      `${r.qaReport.autofixApplied ? ' (autofix applied)' : ''}, ${r.executedSteps} steps run, ${r.reusedSteps} reused, ${formatDuration(r.durationMs)}`,
  );
  for (const s of r.qaReport.shotScores) {
    const detail = s.noFrame ? `no frame (${s.noFrame.stage})` : s.issues.join(', ');
    out(`  ${s.shotId.padEnd(24)} ${String(s.score).padStart(5)}  ${detail}`);
  }
  for (const e of r.errors)
    out(`  ✖ ${e.shotId} (${e.stage}): ${e.message}${e.rootCause ? ` — cause: ${e.rootCause}` : ''}`);
  if (r.exportDir) out(`Export: ${r.exportDir}\nZip:    ${fileURLToPath(r.exportPackageUrl)}`);
  if (!r.success)
    out(`Some shots failed; run the same command again to retry them (finished work is reused).`);
}
