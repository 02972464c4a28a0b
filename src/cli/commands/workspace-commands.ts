import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import type { RunHolder, WorkspaceStore } from '../../store/index.js';
import { intAtLeast, type CliContext, type GlobalOptions } from '../context.js';
import { collectGarbage, loadProjectFile, openWorkspace, verifyPackage } from '../engine.js';
import { ExitCode } from '../errors.js';

/** Adds `unlock`, `gc` and `verify`: looking after the workspace and what it exported. */
export function registerWorkspaceCommands(program: Command, ctx: CliContext): void {
  const { out } = ctx;

  program
    .command('unlock')
    .description('release a project held by a run whose process is gone (the run becomes resumable)')
    .argument('<project>', 'project id, or the project.json (or its folder)')
    .option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)')
    .option('--force', 'release it even if the run still looks live (its lease is fresh)')
    .action(async (project: string, o: { yes?: boolean; force?: boolean }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const projectId = await projectIdOf(project);
      const ws = await openExisting(opts.workspace);
      try {
        const holders = ws.runs.runHolders(projectId);
        if (holders.length === 0) {
          out(`project "${projectId}" is not locked: no run of it is running in ${resolve(opts.workspace)}`);
          return;
        }
        for (const h of holders) ctx.err(`  ${describe(h)}`);
        if (!o.yes && !process.stdin.isTTY) {
          throw new ValidationError(
            `refusing to unlock project "${projectId}" without confirmation: pass --yes (not on a terminal)`,
            [{ path: '--yes', message: 'required when not on a terminal' }],
          );
        }
        // A live holder is refused before anything is asked (the store's ConflictError says how to force it).
        if (!o.force && holders.some((h) => h.live)) ws.runs.unlockProject(projectId);
        if (!o.yes) {
          const rl = createInterface({ input: process.stdin, output: ctx.stderr });
          const answer = await rl.question(
            `Unlock project "${projectId}" (${holders.length} run${holders.length > 1 ? 's' : ''} above become interrupted)? [y/N] `,
          );
          rl.close();
          if (!/^y(es)?$/i.test(answer.trim())) {
            ctx.err('nothing unlocked');
            ctx.exitCode = ExitCode.FAILED;
            return;
          }
        }
        const released = ws.runs.unlockProject(projectId, o.force ? { force: true } : {});
        for (const run of released) {
          out(
            `✔ unlocked project "${projectId}": run ${run.id} is now interrupted; resume it with: storycore resume ${run.id}`,
          );
        }
      } finally {
        ws.close();
      }
    });

  program
    .command('gc')
    .description('remove artifacts and journal rows no kept run needs, and say what was freed')
    .option(
      '--keep-runs <n>',
      'newest runs kept per project (its newest success is always kept)',
      intAtLeast('--keep-runs', 0),
      5,
    )
    .option('--dry-run', 'only report what would be freed')
    .action(async (o: { keepRuns: number; dryRun?: boolean }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const ws = await openExisting(opts.workspace);
      try {
        const r = await collectGarbage(ws, { keepRuns: o.keepRuns, dryRun: o.dryRun ?? false });
        if (ctx.jsonMode(opts)) {
          out(JSON.stringify(r));
          return;
        }
        const verb = r.dryRun ? 'would free' : 'freed';
        out(
          `${r.dryRun ? '(dry run) ' : '✔ '}${verb} ${r.freedFiles} artifact${r.freedFiles === 1 ? '' : 's'} ` +
            `(${formatBytes(r.freedBytes)}); ${r.dryRun ? 'would drop' : 'dropped'} ${r.droppedRuns.length} run` +
            `${r.droppedRuns.length === 1 ? '' : 's'} and ${r.droppedMemo} memoised result${r.droppedMemo === 1 ? '' : 's'}` +
            ` (kept: the newest ${o.keepRuns} run${o.keepRuns === 1 ? '' : 's'} and the newest success of each project)`,
        );
        for (const p of r.liveProjects)
          out(`  project "${p}" is being generated: its runs and results were all kept`);
      } finally {
        ws.close();
      }
    });

  program
    .command('verify')
    .description(
      "check a received export (folder or zip): every file's sha256 against the manifest, the zip's CRCs",
    )
    .argument('<export>', 'export folder or .zip')
    .action(async (target: string, _o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const result = await verifyPackage(target);
      if (ctx.jsonMode(opts)) out(JSON.stringify(result));
      else
        for (const c of result.checked) {
          if (c.problems.length === 0) out(`✔ ${c.kind} ${c.path}: intact`);
          else {
            out(`✖ ${c.kind} ${c.path}: ${c.problems.length} problem${c.problems.length === 1 ? '' : 's'}`);
            for (const p of c.problems) out(`  ${p.kind.padEnd(11)} ${p.message}`);
          }
        }
      ctx.exitCode = result.ok ? ExitCode.OK : ExitCode.FAILED;
    });
}

/** A workspace that must already exist: unlock and gc never create one. */
async function openExisting(workspace: string): Promise<WorkspaceStore> {
  const dir = resolve(workspace);
  if (!(await stat(join(dir, 'storycore.db')).catch(() => undefined))?.isFile()) {
    throw new NotFoundError(`no workspace at ${dir}`, { details: { workspace: dir } });
  }
  return openWorkspace(dir);
}

/** A project id as given, or the id inside the project file (or folder) at that path. */
async function projectIdOf(arg: string): Promise<string> {
  const info = await stat(arg).catch(() => undefined);
  return info === undefined ? arg : (await loadProjectFile(arg)).id;
}

function describe(h: RunHolder): string {
  const { run } = h;
  return (
    `run ${run.id}: pid ${run.pid ?? '?'}${run.hostname ? ` on ${run.hostname}` : ''}, lease renewed ` +
    `${Math.round(h.heartbeatAgeMs / 1000)} s ago (${h.live ? 'looks live' : 'its process is gone'})`
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}
