import { access, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import { packageRoot, type CliContext, type GlobalOptions } from '../context.js';
import { importProject, loadProjectFile, writeProjectFile } from '../engine.js';

/** Adds `validate`, `init` and `import`: the commands that read or write a project file and need no run store. */
export function registerProjectCommands(program: Command, ctx: CliContext): void {
  const { out, err } = ctx;

  program
    .command('validate')
    .description('check a project file and list every problem with its JSON path')
    .argument('<project>', 'project.json, or a folder holding one')
    .action(async (projectPath: string, _o: unknown, cmd: Command) => {
      // An invalid project throws a ValidationError, which errors.ts prints with every issue (exit 2).
      const project = await loadProjectFile(projectPath);
      if (ctx.jsonMode(cmd.optsWithGlobals<GlobalOptions>()))
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
      // Loaded and rewritten rather than copied, so the example written is always one that validates.
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
      'convert a StoryCore-Engine project into a v1 project file: an engine folder (project.json + ' +
        'storyboard.json, or + scene_breakdown.json) or a Creative Studio project.json',
    )
    .argument('<source>', 'the StoryCore-Engine folder, or the Creative Studio project file')
    .option('-o, --output <file>', 'where to write the converted project', 'project.json')
    .option('--style <prompt>', 'style prompt to use when the source gives none')
    .option('--force', 'overwrite the output file')
    .action(async (source: string, o: { output: string; style?: string; force?: boolean }, cmd: Command) => {
      // Checked before reading: converting a large source only to refuse to write it wastes the user's time.
      await refuseOverwrite(o.output, o.force);
      const result = await importProject(source, o.style ? { style: o.style } : {});
      await mkdir(dirname(resolve(o.output)), { recursive: true });
      await writeProjectFile(o.output, result.project);
      // Warnings go to stderr so stdout stays the one line a script may read.
      for (const w of result.warnings) err(`warning: ${w}`);
      if (ctx.jsonMode(cmd.optsWithGlobals<GlobalOptions>())) {
        out(
          JSON.stringify({
            ok: true,
            format: result.format,
            source: result.source,
            output: resolve(o.output),
            shots: result.project.shots.length,
            warnings: result.warnings,
            transitions: result.transitions,
          }),
        );
        return;
      }
      out(
        `✔ imported ${result.project.shots.length} shots from ${result.source} (${result.formatName}) into ${resolve(o.output)}`,
      );
    });
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
