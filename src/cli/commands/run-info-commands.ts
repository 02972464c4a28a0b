import { resolve } from 'node:path';
import type { Command } from 'commander';
import { NotFoundError } from '../../core/errors.js';
import type { WorkspaceStore } from '../../store/index.js';
import { intAtLeast, type CliContext, type GlobalOptions } from '../context.js';
import { openWorkspace } from '../engine.js';

/**
 * The workspace opened read-only: a mistyped `-w` says "no workspace at …" (exit 2) instead of creating a folder
 * and a database there, and reading never writes (stale runs are marked interrupted by the next writer).
 */
function openForReading(opts: GlobalOptions): Promise<WorkspaceStore> {
  return openWorkspace(resolve(opts.workspace), { readonly: true });
}

/** Adds `runs` and `status`: read-only views of the run store, as text lines or as JSON with --json. */
export function registerRunInfoCommands(program: Command, ctx: CliContext): void {
  const { out } = ctx;

  program
    .command('runs')
    .description('list runs, newest first')
    .option('-p, --project <id>', 'only runs of this project')
    .option('-n, --limit <n>', 'how many', intAtLeast('--limit', 1), 20)
    .action(async (o: { project?: string; limit: number }, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const ws = await openForReading(opts);
      try {
        const runs = ws.runs.listRuns({ ...(o.project ? { projectId: o.project } : {}), limit: o.limit });
        // One object a line rather than an array: the same JSON-lines shape generate and resume print.
        if (ctx.jsonMode(opts)) for (const r of runs) out(JSON.stringify(r));
        else if (runs.length === 0) out('no runs yet');
        else
          for (const r of runs)
            out(
              `${r.id}  ${r.status.padEnd(11)} ${r.projectId.padEnd(20)} ${r.createdAt}${r.error ? `  ${r.error.message.slice(0, 60)}` : ''}`,
            );
      } finally {
        ws.close();
      }
    });

  program
    .command('status')
    .description("show a run's status, journal and result")
    .argument('<run>', 'run id')
    .action(async (runId: string, _o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const ws = await openForReading(opts);
      try {
        const run = ws.runs.getRun(runId);
        if (run === undefined) {
          throw new NotFoundError(`no run with id "${runId}" in ${resolve(opts.workspace)}`, {
            details: { runId },
          });
        }
        const steps = ws.runs.listSteps(runId);
        if (ctx.jsonMode(opts)) {
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
        // The stored result is JSON written by the pipeline; read only the two fields shown here.
        const result = run.result as
          { export?: { dir: string; zipPath: string } | null; overallScore?: number } | undefined;
        if (result?.overallScore !== undefined) out(`QA overall: ${result.overallScore}/100`);
        if (result?.export) out(`export: ${result.export.dir}`);
        // Read-only: a run whose process died is still 'running' on disk until the next writer marks it.
        const holder = ws.runs.runHolders(run.projectId).find((h) => h.run.id === run.id);
        if (holder && !holder.live)
          out(`its process is gone (lease last renewed ${Math.round(holder.heartbeatAgeMs / 1000)} s ago)`);
        if (run.status !== 'succeeded' && (run.status !== 'running' || (holder && !holder.live)))
          out(`resume with: storycore resume ${run.id}`);
      } finally {
        ws.close();
      }
    });
}
