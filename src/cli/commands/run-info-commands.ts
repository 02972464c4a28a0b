import type { Command } from 'commander';
import { intAtLeast, type CliContext, type GlobalOptions } from '../context.js';

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
      const svc = await ctx.service(opts);
      try {
        const runs = svc
          .getStore()
          .runs.listRuns({ ...(o.project ? { projectId: o.project } : {}), limit: o.limit });
        // One object a line rather than an array: the same JSON-lines shape generate and resume print.
        if (ctx.jsonMode(opts)) for (const r of runs) out(JSON.stringify(r));
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
    .action(async (runId: string, _o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOptions>();
      const svc = await ctx.service(opts);
      try {
        const run = svc.getRun(runId);
        const steps = svc.getStore().runs.listSteps(runId);
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
        if (run.status !== 'succeeded' && run.status !== 'running')
          out(`resume with: storycore resume ${run.id}`);
      } finally {
        svc.close();
      }
    });
}
