import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import { intAtLeast, nonEmptyPath, type CliContext, type GlobalOptions } from '../context.js';
import { addQueueOptions, type QueueFlags } from './worker-command.js';

interface ServeOptions extends GlobalOptions, QueueFlags {
  port: number;
  host: string;
  out?: string;
}

/** Adds `serve`: the studio (HTTP API + web UI) over the workspace, until Ctrl-C. */
export function registerServeCommand(program: Command, ctx: CliContext): void {
  const serve = program
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
    );
  addQueueOptions(serve, false).action(async (_o: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<ServeOptions>();
    if (opts.queue === undefined && (opts.store !== undefined || opts.artifacts !== undefined)) {
      throw new ValidationError(
        "--store and --artifacts go with --queue <url> (the studio as a front end of the studio's workers)",
        [{ path: '--queue', message: 'missing' }],
      );
    }
    // Loaded here: `--help` and `--version` must not load the server, the pipeline or sharp (test/cli-startup).
    const { startStudioServer } = await import('../../server/serve.js');
    // The same checks as `generate --queue`, before the server listens: a bad URL, a server that does not answer
    // or a missing --artifacts fails here, named.
    const { openQueueParts, queueFlagSettings } = await import('../queue-parts.js');
    const parts =
      opts.queue === undefined
        ? undefined
        : await openQueueParts(opts, new AbortController().signal, (line) => ctx.err(line));
    const server = await startStudioServer({
      host: opts.host,
      port: opts.port,
      workspace: opts.workspace,
      ...(opts.out ? { outDir: opts.out } : {}),
      onWarning: (message) => ctx.err(`warning: ${message}`),
      ...(parts
        ? {
            shared: {
              ...parts,
              ...queueFlagSettings(opts),
            },
          }
        : {}),
    }).catch(async (error: unknown) => {
      await parts?.close();
      throw error;
    });
    ctx.out(`StoryCore studio: ${server.url}`);
    if (parts)
      ctx.err(`runs go to the queue ${parts.queue.label}: start workers with storycore worker --queue …`);
    if (server.token && !process.env['STORYCORE_TOKEN']) {
      ctx.err('a token is required off loopback; it is in the URL above (set STORYCORE_TOKEN to choose one)');
    }
    await new Promise<void>((stop) => {
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    ctx.err(
      parts
        ? 'stopping: queued runs keep running on the workers; a studio started again follows and finishes them'
        : 'stopping: live runs are cancelled and stay resumable',
    );
    await server.close();
  });
}
