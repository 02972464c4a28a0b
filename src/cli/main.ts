import { access, mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { formatDuration } from '../core/status-tracker.js';
import {
  ErrorCode,
  ValidationError,
  errorMessage,
  isCancellation,
  isStoryCoreError,
  rootCause,
} from '../core/errors.js';
import { formatValidationIssues } from '../project/issues.js';
import { loadProjectFile } from '../project/load.js';
import { importStoryCoreEngine } from '../project/import-storycore-engine.js';
import { writeProjectFile } from '../project/write.js';
import {
  SequenceGenerationService,
  type GenerationResults,
} from '../pipeline/sequence-generation-service.js';
import { jsonLinesView, terminalView, type ProgressView } from './progress-view.js';

/** Exit codes, as documented in the README. */
export const ExitCode = { OK: 0, FAILED: 1, INVALID_INPUT: 2, CANCELLED: 130 } as const;

interface GlobalOptions {
  workspace: string;
  json?: boolean;
}

interface RunOptions extends GlobalOptions {
  backend: string;
  out: string;
  concurrency?: number;
  fresh?: boolean;
  failFast?: boolean;
  retryAttempts?: number;
  retryDelay?: number;
}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
}

function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

class ExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/**
 * The `storycore` command. Returns the exit code instead of exiting, so tests can run it in-process and the
 * launcher can let pending writes settle first.
 */
export async function main(
  argv: readonly string[],
  io: { stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream } = {},
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  // A reader that goes away (`storycore runs | head -1`) is not an error: stop writing, let the command finish
  // (a generation keeps its results), instead of dying on an unhandled EPIPE with a stack trace.
  let stdoutGone = false;
  const onStdoutError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') stdoutGone = true;
    else throw error;
  };
  stdout.on('error', onStdoutError);
  const write = (text: string): void => {
    if (!stdoutGone) stdout.write(text);
  };
  const out = (line: string): void => write(`${line}\n`);
  const err = (line: string): void => void stderr.write(`${line}\n`);
  let exitCode: number = ExitCode.OK;

  const program = new Command('storycore')
    .description('Turn a storyboard into a finished, coherent sequence of frames.')
    .option(
      '-w, --workspace <dir>',
      'folder holding the run store (storycore.db) and artifacts',
      '.storycore',
    )
    .option(
      '--json',
      'print JSON instead of text (generate and resume print JSON lines whenever stdout is not a terminal)',
    )
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr: (s) => stderr.write(s) })
    .showHelpAfterError();

  const version = JSON.parse(await readFile(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  program.version(version.version);

  // Progress is for a person at a terminal; a pipe gets machine-readable events. One-shot commands (validate,
  // runs, status) print text people grep unless --json asks for JSON.
  const jsonMode = (opts: GlobalOptions): boolean => opts.json === true;
  const streamJson = (opts: GlobalOptions): boolean => opts.json === true || !stdout.isTTY;
  const service = (opts: RunOptions | GlobalOptions): SequenceGenerationService =>
    new SequenceGenerationService({
      workspace: opts.workspace,
      ...('out' in opts ? { outDir: opts.out } : {}),
    });

  const addRunOptions = (cmd: Command): Command =>
    cmd
      .addOption(new Option('-b, --backend <name>', 'image backend').choices(['draft']).default('draft'))
      .option('-o, --out <dir>', 'where export folders and zips are written', 'exports')
      .option(
        '-c, --concurrency <n>',
        'shots in flight at once (default: backend capacity)',
        positiveInt('--concurrency'),
      )
      .option('--fresh', 'ignore results of earlier runs and compute everything again')
      .option(
        '--fail-fast',
        'stop the run at the first shot that fails for good (default: the others finish)',
      )
      .option(
        '--retry-attempts <n>',
        'attempts per step, the first included (default 3)',
        positiveInt('--retry-attempts'),
      )
      .option(
        '--retry-delay <ms>',
        'wait before the first retry, doubled each time (default 2000)',
        positiveInt('--retry-delay'),
      );

  /** Runs a generation with progress, Ctrl-C handling and a summary; sets exitCode. */
  const runWithProgress = async (
    opts: RunOptions,
    start: (
      svc: SequenceGenerationService,
      view: ProgressView,
      signal: AbortSignal,
    ) => Promise<GenerationResults | null>,
  ): Promise<void> => {
    const view = streamJson(opts) ? jsonLinesView(write) : terminalView(stderr);
    const svc = service(opts);
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = (): void => {
      interrupts++;
      if (interrupts === 1) {
        view.note('Cancelling… (the run stays resumable; press Ctrl-C again to quit at once)');
        controller.abort();
      } else {
        process.exit(ExitCode.CANCELLED);
      }
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    try {
      const results = await start(svc, view, controller.signal);
      view.stop();
      if (results === null) {
        const partial = svc.getPartialResults(lastProjectId ?? '');
        if (controller.signal.aborted) {
          report(view, opts, 'cancelled', partial?.runId);
          exitCode = ExitCode.CANCELLED;
        } else {
          const run = partial ? svc.getRun(partial.runId) : undefined;
          report(view, opts, 'failed', partial?.runId, run?.error?.message);
          exitCode = ExitCode.FAILED;
        }
        return;
      }
      summarize(results, opts);
      exitCode = results.success ? ExitCode.OK : ExitCode.FAILED;
    } finally {
      view.stop();
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      svc.close();
    }
  };

  let lastProjectId: string | undefined;

  const report = (
    view: ProgressView,
    opts: GlobalOptions,
    status: string,
    runId?: string,
    message?: string,
  ): void => {
    const hint = runId ? `resume with: storycore resume ${runId}` : '';
    if (streamJson(opts))
      view.note(`run ${status}`, { status, runId: runId ?? null, message: message ?? null });
    else err(`Run ${status}${message ? `: ${message}` : ''}.${hint ? ` ${hint}` : ''}`);
  };

  const summarize = (r: GenerationResults, opts: GlobalOptions): void => {
    if (streamJson(opts)) {
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
      out(`  ${s.shotId.padEnd(24)} ${String(s.score).padStart(5)}  ${s.issues.join(', ')}`);
    }
    for (const e of r.errors)
      out(`  ✖ ${e.shotId} (${e.stage}): ${e.message}${e.rootCause ? ` — cause: ${e.rootCause}` : ''}`);
    if (r.exportDir) out(`Export: ${r.exportDir}\nZip:    ${fileURLToPath(r.exportPackageUrl)}`);
    if (!r.success)
      out(`Some shots failed; run the same command again to retry them (finished work is reused).`);
  };

  addRunOptions(
    program
      .command('generate')
      .description('run the five stages on a project (reuses every finished step of earlier runs)')
      .argument('<project>', 'project.json, or a folder holding one'),
  ).action(async (projectPath: string, _cmdOpts: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<RunOptions>();
    const project = await loadProjectFile(projectPath);
    lastProjectId = project.id;
    await runWithProgress(opts, (svc, view, signal) =>
      svc.generateSequence(project, {
        signal,
        onEvent: (e) => view.onEvent(e),
        ...runOptions(opts),
      }),
    );
  });

  addRunOptions(
    program
      .command('resume')
      .description('continue an interrupted, cancelled or failed run')
      .argument('<run>', 'run id (see `storycore runs`)'),
  ).action(async (runId: string, _cmdOpts: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<RunOptions>();
    await runWithProgress(opts, (svc, view, signal) => {
      lastProjectId = svc.getRun(runId).projectId;
      return svc.resume(runId, { signal, onEvent: (e) => view.onEvent(e), ...runOptions(opts) });
    });
  });

  program
    .command('validate')
    .description('check a project file and list every problem with its JSON path')
    .argument('<project>', 'project.json, or a folder holding one')
    .action(async (projectPath: string, _o: unknown, cmd: Command) => {
      const project = await loadProjectFile(projectPath);
      if (jsonMode(cmd.optsWithGlobals<GlobalOptions>()))
        out(JSON.stringify({ ok: true, id: project.id, shots: project.shots.length }));
      else
        out(
          `✔ ${projectPath}: project "${project.name}" (${project.id}) with ${project.shots.length} shots is valid`,
        );
    });

  program
    .command('init')
    .description('write an example project to start from')
    .argument('[dir]', 'folder to create it in', '.')
    .option('--force', 'overwrite an existing project.json')
    .action(async (dir: string, o: { force?: boolean }) => {
      const example = await loadProjectFile(join(packageRoot(), 'examples', 'lighthouse', 'project.json'));
      const target = join(resolve(dir), 'project.json');
      await refuseOverwrite(target, o.force);
      await mkdir(dirname(target), { recursive: true });
      await writeProjectFile(target, example);
      out(`✔ wrote ${target} (${example.shots.length} shots). Next: storycore generate ${target}`);
    });

  program
    .command('import')
    .description(
      'convert a StoryCore-Engine project folder (project.json + storyboard.json) into a v1 project file',
    )
    .argument('<dir>', 'the StoryCore-Engine project folder')
    .option('-o, --output <file>', 'where to write the converted project', 'project.json')
    .option('--style <prompt>', 'style prompt to use when the source gives none')
    .option('--force', 'overwrite the output file')
    .action(async (dir: string, o: { output: string; style?: string; force?: boolean }) => {
      const { project, warnings } = await importStoryCoreEngine(dir, o.style ? { style: o.style } : {});
      await refuseOverwrite(o.output, o.force);
      await mkdir(dirname(resolve(o.output)), { recursive: true });
      await writeProjectFile(o.output, project);
      for (const w of warnings) err(`warning: ${w}`);
      out(`✔ imported ${project.shots.length} shots from ${dir} into ${resolve(o.output)}`);
    });

  program
    .command('runs')
    .description('list runs, newest first')
    .option('-p, --project <id>', 'only runs of this project')
    .option('-n, --limit <n>', 'how many', positiveInt('--limit'), 20)
    .action((o: { project?: string; limit: number }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const svc = service(opts);
      try {
        const runs = svc
          .getStore()
          .runs.listRuns({ ...(o.project ? { projectId: o.project } : {}), limit: o.limit });
        if (jsonMode(opts)) for (const r of runs) out(JSON.stringify(r));
        else if (runs.length === 0) out('no runs yet');
        else
          for (const r of runs)
            out(
              `${r.id}  ${r.status.padEnd(11)} ${r.projectId.padEnd(20)} ${r.createdAt}${r.error ? `  ${r.error.message.slice(0, 60)}` : ''}`,
            );
      } finally {
        svc.close();
      }
    });

  program
    .command('status')
    .description("show a run's status, journal and result")
    .argument('<run>', 'run id')
    .action((runId: string, _o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const svc = service(opts);
      try {
        const run = svc.getRun(runId);
        const steps = svc.getStore().runs.listSteps(runId);
        if (jsonMode(opts)) {
          out(JSON.stringify({ ...run, steps }));
          return;
        }
        const count = (s: string): number => steps.filter((x) => x.status === s).length;
        out(
          `${run.id}: ${run.status} — project ${run.projectId}, backend ${run.backend}, started ${run.createdAt}` +
            (run.finishedAt ? `, finished ${run.finishedAt}` : ''),
        );
        out(
          `steps: ${count('done')} run, ${count('reused')} reused, ${count('failed')} failed, ${count('running')} running`,
        );
        for (const s of steps.filter((x) => x.status === 'failed'))
          out(`  ✖ ${s.stepId}: ${s.error?.message ?? ''}`);
        if (run.error) out(`error: ${run.error.message}`);
        const result = run.result as
          { export?: { dir: string; zipPath: string } | null; overallScore?: number } | undefined;
        if (result?.overallScore !== undefined) out(`QA overall: ${result.overallScore}/100`);
        if (result?.export) out(`export: ${result.export.dir}`);
        if (run.status !== 'succeeded' && run.status !== 'running')
          out(`resume with: storycore resume ${run.id}`);
      } finally {
        svc.close();
      }
    });

  try {
    await program.parseAsync(argv as string[]);
    return exitCode;
  } catch (error) {
    return reportError(error, err);
  } finally {
    stdout.off('error', onStdoutError);
  }
}

/** Maps a failure to its exit code and prints it for a person: the message, the issues, never a stack trace. */
function reportError(error: unknown, err: (line: string) => void): number {
  if (error instanceof ExitError) return error.exitCode;
  if (error instanceof CommanderError) {
    // Help and version are successes; everything else commander rejects is a usage error.
    return error.exitCode === 0 ? ExitCode.OK : ExitCode.INVALID_INPUT;
  }
  if (isCancellation(error)) return ExitCode.CANCELLED;
  if (error instanceof ValidationError) {
    const headline = error.message.split('\n')[0] ?? '';
    err(`✖ ${headline}`);
    // A lone issue the headline already states (e.g. a JSON syntax error) is not printed twice.
    const repeated = error.issues.length === 1 && headline.includes(error.issues[0]!.message);
    if (error.issues.length > 0 && !repeated) err(formatValidationIssues(error.issues));
    return ExitCode.INVALID_INPUT;
  }
  if (isStoryCoreError(error) && error.code === ErrorCode.NOT_FOUND) {
    err(`✖ ${error.message}`);
    return ExitCode.INVALID_INPUT;
  }
  const root = rootCause(error);
  const message = errorMessage(error);
  const rootMessage = errorMessage(root);
  err(`✖ ${message}${root !== error && !message.includes(rootMessage) ? ` (cause: ${rootMessage})` : ''}`);
  if (process.env['STORYCORE_DEBUG'] && error instanceof Error) err(error.stack ?? '');
  return ExitCode.FAILED;
}

/** `init` and `import` never clobber a project file unless told to. */
async function refuseOverwrite(path: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  try {
    await access(path);
  } catch {
    return;
  }
  throw new ValidationError(`${path} already exists; pass --force to overwrite it`, [], {
    details: { file: path },
  });
}

function runOptions(opts: RunOptions): {
  concurrency?: number;
  fresh?: boolean;
  failFast?: boolean;
  retryAttempts?: number;
  retryDelayMs?: number;
} {
  return {
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(opts.fresh ? { fresh: true } : {}),
    ...(opts.failFast ? { failFast: true } : {}),
    ...(opts.retryAttempts !== undefined ? { retryAttempts: opts.retryAttempts } : {}),
    ...(opts.retryDelay !== undefined ? { retryDelayMs: opts.retryDelay } : {}),
  };
}
