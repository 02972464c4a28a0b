import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  registerAnimaticCommands,
  registerComfyUiCommands,
  registerProjectCommands,
  registerRunCommands,
  registerRunInfoCommands,
  registerServeCommand,
  registerWorkerCommand,
  registerWorkspaceCommands,
} from './commands/index.js';
import { nonEmptyPath, openContext, packageRoot } from './context.js';
import { reportError } from './errors.js';

export { ExitCode } from './errors.js';

/**
 * The `storycore` command. Returns the exit code instead of exiting, so tests can run it in-process and the
 * launcher can let pending writes settle first.
 */
export async function main(
  argv: readonly string[],
  io: { stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream } = {},
): Promise<number> {
  const ctx = openContext(io);

  const program = new Command('storycore')
    .description('Turn a storyboard into a finished, coherent sequence of frames.')
    .option(
      '-w, --workspace <dir>',
      'folder holding the run store (storycore.db) and artifacts',
      nonEmptyPath('--workspace'),
      '.storycore',
    )
    .option(
      '--json',
      'print JSON instead of text (generate and resume print JSON lines whenever stdout is not a terminal)',
    )
    // Commander would call process.exit on help, version and usage errors; errors.ts maps them to exit codes.
    .exitOverride()
    .configureOutput({ writeOut: ctx.write, writeErr: (s) => ctx.stderr.write(s) })
    .showHelpAfterError();

  const version = JSON.parse(await readFile(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  program.version(version.version);

  // Registration order is the order `storycore --help` lists the commands in.
  registerRunCommands(program, ctx);
  registerProjectCommands(program, ctx);
  registerRunInfoCommands(program, ctx);
  registerAnimaticCommands(program, ctx);
  registerComfyUiCommands(program, ctx);
  registerWorkspaceCommands(program, ctx);
  registerServeCommand(program, ctx);
  registerWorkerCommand(program, ctx);

  try {
    await program.parseAsync(argv as string[]);
    return ctx.exitCode;
  } catch (error) {
    return reportError(error, ctx.err);
  } finally {
    ctx.close();
  }
}
