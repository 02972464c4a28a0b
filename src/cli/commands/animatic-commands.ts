import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import type { Project } from '../../project/schema.js';
import { projectDir } from '../backend-options.js';
import type { CliContext, GlobalOptions } from '../context.js';
import { loadProjectFile, rerenderAnimatic } from '../engine.js';
import { ExitCode } from '../errors.js';

interface AnimaticOptions extends GlobalOptions {
  project?: string;
}

/** Adds `animatic`: re-render just the animatic (video, timelines) of a finished export, e.g. after new durations. */
export function registerAnimaticCommands(program: Command, ctx: CliContext): void {
  program
    .command('animatic')
    .description("re-render a finished export's animatic.mp4 and timelines (e.g. after changing durations)")
    .argument('<run|export-dir>', 'a run id (its export) or an export folder')
    .option(
      '-p, --project <file>',
      "take durations, transitions, fps and animatic options from this project file (default: the export's project.json)",
    )
    .action(async (target: string, _o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<AnimaticOptions>();
      const { dir, project: stored, baseDir } = await resolveTarget(ctx, opts, target);
      const project = opts.project !== undefined ? await loadProjectFile(opts.project) : stored;
      const base = opts.project !== undefined ? await projectDir(opts.project) : baseDir;
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      let shown = -1;
      try {
        const result = await rerenderAnimatic({
          dir,
          project,
          projectDir: base,
          signal: controller.signal,
          onProgress: (f) => {
            const percent = Math.floor(f * 10) * 10;
            if (percent === shown || ctx.jsonMode(opts)) return;
            shown = percent;
            ctx.err(`animatic ${percent}%`);
          },
        });
        const { record } = result;
        if (ctx.jsonMode(opts)) {
          ctx.out(JSON.stringify({ dir, video: result.video ?? null, animatic: record }));
        } else {
          if ('missing' in record.video) ctx.err(`⚠ no animatic.mp4: ${record.video.missing}`);
          else
            ctx.out(`animatic: ${result.video} (${record.durationSeconds.toFixed(2)} s, ${record.fps} fps)`);
          ctx.out(`timelines: ${join(dir, 'timeline.otio')}, ${join(dir, 'timeline.edl')}`);
        }
      } catch (error) {
        if (controller.signal.aborted) {
          ctx.err('cancelled: the export keeps its previous animatic');
          ctx.exitCode = ExitCode.CANCELLED;
          return;
        }
        throw error;
      } finally {
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
    });
}

/** An export folder as given, or the export of a run; with the project it was made from. */
async function resolveTarget(
  ctx: CliContext,
  opts: AnimaticOptions,
  target: string,
): Promise<{ dir: string; project: Project; baseDir: string }> {
  const asDir = await stat(join(target, 'manifest.json')).catch(() => undefined);
  if (asDir?.isFile()) {
    const dir = resolve(target);
    // The export's own copy of the project; its relative audio path resolves from where the command runs.
    return { dir, project: await loadProjectFile(join(dir, 'project.json')), baseDir: process.cwd() };
  }
  const svc = await ctx.service(opts);
  try {
    const run = svc.getRun(target);
    const dir = (run.result as { export?: { dir?: string } | null } | undefined)?.export?.dir;
    if (dir === undefined) {
      throw new ValidationError(
        `run ${target} has no finished export (status ${run.status}); nothing to re-render`,
      );
    }
    const snapshot = (run.options ?? {}) as { projectDir?: string };
    return {
      dir,
      project: await loadProjectFile(join(dir, 'project.json')),
      baseDir: snapshot.projectDir ?? process.cwd(),
    };
  } finally {
    svc.close();
  }
}
