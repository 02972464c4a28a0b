import type { Command } from 'commander';
import { intAtLeast, nonEmptyPath, type CliContext, type GlobalOptions } from '../context.js';

interface ServeOptions extends GlobalOptions {
  port: number;
  host: string;
  out?: string;
}

/** Adds `serve`: the studio (HTTP API + web UI) over the workspace, until Ctrl-C. */
export function registerServeCommand(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('open the studio: a web UI and HTTP API over the workspace (Ctrl-C stops it)')
    .option('-p, --port <n>', 'port to listen on (0: any free port)', intAtLeast('--port', 0), 4173)
    .option(
      '--host <address>',
      'address to bind; anything but loopback requires a token (STORYCORE_TOKEN, or one printed at start)',
      '127.0.0.1',
    )
    .option(
      '-o, --out <dir>',
      'where export folders and zips are written (default: <workspace>/exports)',
      nonEmptyPath('--out'),
    )
    .action(async (_o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<ServeOptions>();
      // Loaded here: `--help` and `--version` must not load the server, the pipeline or sharp (test/cli-startup).
      const { startStudioServer } = await import('../../server/serve.js');
      const server = await startStudioServer({
        host: opts.host,
        port: opts.port,
        workspace: opts.workspace,
        ...(opts.out ? { outDir: opts.out } : {}),
        onWarning: (message) => ctx.err(`warning: ${message}`),
      });
      ctx.out(`StoryCore studio: ${server.url}`);
      if (server.token && !process.env['STORYCORE_TOKEN']) {
        ctx.err(
          'a token is required off loopback; it is in the URL above (set STORYCORE_TOKEN to choose one)',
        );
      }
      await new Promise<void>((stop) => {
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      ctx.err('stopping: live runs are cancelled and stay resumable');
      await server.close();
    });
}
