import type { rerenderAnimatic as RerenderAnimatic } from '../pipeline/animatic-rerender.js';
import type {
  SequenceGenerationService,
  SequenceGenerationServiceOptions,
} from '../pipeline/sequence-generation-service.js';
import type { importProject as ImportProject } from '../project/import-project.js';
import type { loadProjectFile as LoadProjectFile } from '../project/load.js';
import type { writeProjectFile as WriteProjectFile } from '../project/write.js';
import type { writeBackCreativeStudio as WriteBackCreativeStudio } from '../project/write-back-creative-studio.js';
import type { verifyPackage as VerifyPackage } from '../stages/export/verify-package.js';
import type { collectGarbage as CollectGarbage } from '../store/workspace-gc.js';
import type { WorkspaceStore, WorkspaceStoreOptions } from '../store/workspace-store.js';

/*
 * What the commands call below the CLI, each loaded on first use. `storycore --version` and `--help` need only
 * commander; statically importing the engine made them load zod, better-sqlite3, the pipeline (and, through it,
 * sharp) first: ~0.5 s of a 0.7 s `--version` (issue 7). Only types are imported statically here; test/cli-startup
 * fails if a command's registration pulls a heavy module back in.
 */

/** `loadProjectFile` from project/load (zod), loaded when a command first reads a project. */
export async function loadProjectFile(
  ...args: Parameters<typeof LoadProjectFile>
): ReturnType<typeof LoadProjectFile> {
  const { loadProjectFile: load } = await import('../project/load.js');
  return load(...args);
}

/** `writeProjectFile` from project/write, loaded on first use. */
export async function writeProjectFile(
  ...args: Parameters<typeof WriteProjectFile>
): ReturnType<typeof WriteProjectFile> {
  const { writeProjectFile: write } = await import('../project/write.js');
  return write(...args);
}

/** `importProject` from project/import-project (any StoryCore-Engine shape), loaded on first use. */
export async function importProject(
  ...args: Parameters<typeof ImportProject>
): ReturnType<typeof ImportProject> {
  const { importProject: convert } = await import('../project/import-project.js');
  return convert(...args);
}

/** `writeBackCreativeStudio` from project/write-back-creative-studio, loaded on first use. */
export async function writeBackCreativeStudio(
  ...args: Parameters<typeof WriteBackCreativeStudio>
): ReturnType<typeof WriteBackCreativeStudio> {
  const { writeBackCreativeStudio: write } = await import('../project/write-back-creative-studio.js');
  return write(...args);
}

/** Whether the file (or a folder's project.json) is a Creative Studio project; read errors say which file. */
export async function isCreativeStudioFile(path: string): Promise<boolean> {
  const [{ readProjectText }, { parseJsonDocument }, { isCreativeStudioProject }] = await Promise.all([
    import('../project/load.js'),
    import('../project/validate.js'),
    import('../project/import-creative-studio.js'),
  ]);
  const { file, text } = await readProjectText(path);
  return isCreativeStudioProject(parseJsonDocument(text, file));
}

/** A service over a workspace; loads the pipeline (and better-sqlite3) on first use. The caller closes it. */
export async function openService(
  options: SequenceGenerationServiceOptions,
): Promise<SequenceGenerationService> {
  const { SequenceGenerationService: Service } = await import('../pipeline/sequence-generation-service.js');
  return new Service(options);
}

/** A workspace store (better-sqlite3), loaded on first use: `runs`, `status`, `unlock` and `gc` open it directly. */
export async function openWorkspace(
  workspace: string,
  options: WorkspaceStoreOptions = {},
): Promise<WorkspaceStore> {
  const { openWorkspaceStore } = await import('../store/workspace-store.js');
  return openWorkspaceStore(workspace, options);
}

/** `collectGarbage` from store/workspace-gc, loaded on first use. */
export async function collectGarbage(
  ...args: Parameters<typeof CollectGarbage>
): ReturnType<typeof CollectGarbage> {
  const { collectGarbage: collect } = await import('../store/workspace-gc.js');
  return collect(...args);
}

/** `verifyPackage` from stages/export/verify-package (yauzl), loaded on first use. */
export async function verifyPackage(
  ...args: Parameters<typeof VerifyPackage>
): ReturnType<typeof VerifyPackage> {
  const { verifyPackage: verify } = await import('../stages/export/verify-package.js');
  return verify(...args);
}

/** `rerenderAnimatic` from pipeline/animatic-rerender (sharp, the encoder), loaded when `storycore animatic` runs. */
export async function rerenderAnimatic(
  ...args: Parameters<typeof RerenderAnimatic>
): ReturnType<typeof RerenderAnimatic> {
  const { rerenderAnimatic: render } = await import('../pipeline/animatic-rerender.js');
  return render(...args);
}
