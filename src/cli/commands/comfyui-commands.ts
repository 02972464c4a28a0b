import type { Command } from 'commander';
import type { ServerCheck } from '../../backends/comfyui/index.js';
import { loadWorkflowFile, parseHeaders } from '../backend-options.js';
import type { CliContext, GlobalOptions } from '../context.js';
import { ExitCode } from '../errors.js';

interface CheckFlags extends GlobalOptions {
  workflow?: string[];
  header?: string[];
}

const GiB = 1024 ** 3;

/** `storycore comfyui check <url...>`: is each server reachable, what is it, and does the workflow run there. */
export function registerComfyUiCommands(program: Command, ctx: CliContext): void {
  const comfyui = program.command('comfyui').description('ComfyUI servers: check before a run');
  comfyui
    .command('check')
    .description(
      'reachability, version, device and free VRAM, queue, and whether the workflow validates (exit 1 when unusable)',
    )
    .argument('<url...>', 'server base URL(s), e.g. http://127.0.0.1:8188')
    .option('--workflow <file...>', 'workflow(s) in API format to validate against each server')
    .option('--header <name:value...>', "extra HTTP header (a reverse proxy's token)")
    .action(async (urls: string[], _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<CheckFlags>();
      const { checkComfyUiServer } = await import('../../backends/comfyui/index.js');
      const workflows = await Promise.all((opts.workflow ?? []).map((f) => loadWorkflowFile(f)));
      const headers = parseHeaders(opts.header);
      const reports = await Promise.all(urls.map((url) => checkComfyUiServer(url, { workflows, headers })));
      if (ctx.jsonMode(opts)) ctx.out(JSON.stringify({ servers: reports }, null, 2));
      else if (reports.length > 1) printTable(ctx, reports);
      else for (const r of reports) printReport(ctx, r);
      // A pool runs when at least one server qualifies; the table names the others.
      ctx.exitCode = reports.some((r) => r.usable) ? ExitCode.OK : ExitCode.FAILED;
    });
}

function printReport(ctx: CliContext, r: ServerCheck): void {
  ctx.out(`${r.usable ? '✔' : '✖'} ${r.url}`);
  if (!r.reachable) {
    ctx.out(`    unreachable: ${r.error ?? 'no answer'}`);
    return;
  }
  ctx.out(`    ComfyUI ${r.version}`);
  for (const d of r.devices ?? []) {
    const vram =
      d.vramFree !== undefined && d.vramTotal !== undefined
        ? `, ${(d.vramFree / GiB).toFixed(1)} of ${(d.vramTotal / GiB).toFixed(1)} GiB free`
        : '';
    ctx.out(`    device: ${d.name} (${d.type}${vram})`);
  }
  if (r.queue) ctx.out(`    queue: ${r.queue.running} running, ${r.queue.pending} pending`);
  if (r.error) ctx.out(`    error: ${r.error}`);
  for (const w of r.workflows) {
    if (w.valid) ctx.out(`    workflow ${w.source}: valid (frame from node ${w.frameNode})`);
    else {
      ctx.out(`    workflow ${w.source}: ${w.issues.length} problem(s)`);
      for (const i of w.issues) ctx.out(`      - ${i.message}`);
    }
  }
}

/** Several servers (a pool): one row each, then the problems of those that cannot be used. */
function printTable(ctx: CliContext, reports: readonly ServerCheck[]): void {
  const rows = reports.map((r) => {
    const device = r.devices?.[0];
    const vram =
      device?.vramFree !== undefined && device.vramTotal !== undefined
        ? `${(device.vramFree / GiB).toFixed(1)}/${(device.vramTotal / GiB).toFixed(1)} GiB`
        : '-';
    const workflows =
      r.workflows.length === 0
        ? '-'
        : r.workflows.every((w) => w.valid)
          ? 'valid'
          : `${r.workflows.reduce((n, w) => n + w.issues.length, 0)} problem(s)`;
    return [
      `${r.usable ? '✔' : '✖'} ${r.url}`,
      r.reachable ? 'reachable' : 'unreachable',
      r.version ?? '-',
      device ? `${device.name} (${device.type})` : '-',
      vram,
      r.queue ? `${r.queue.running}+${r.queue.pending}` : '-',
      workflows,
    ];
  });
  const header = ['server', 'state', 'ComfyUI', 'device', 'free VRAM', 'queue', 'workflow'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  ctx.out(line(header));
  for (const row of rows) ctx.out(line(row));
  const usable = reports.filter((r) => r.usable).length;
  ctx.out(`${usable} of ${reports.length} server(s) usable${usable > 0 ? ': a run starts on those' : ''}`);
  for (const r of reports) {
    if (r.usable) continue;
    if (!r.reachable || r.error) ctx.out(`${r.url}: ${r.error ?? 'no answer'}`);
    for (const w of r.workflows)
      for (const i of w.issues) ctx.out(`${r.url}: workflow ${w.source}: ${i.message}`);
  }
}
