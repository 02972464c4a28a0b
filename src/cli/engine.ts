import type {
  SequenceGenerationService,
  SequenceGenerationServiceOptions,
} from '../pipeline/sequence-generation-service.js';
import type { importStoryCoreEngine as ImportStoryCoreEngine } from '../project/import-storycore-engine.js';
import type { loadProjectFile as LoadProjectFile } from '../project/load.js';
import type { writeProjectFile as WriteProjectFile } from '../project/write.js';
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

/** `importStoryCoreEngine` from project/import-storycore-engine, loaded on first use. */
export async function importStoryCoreEngine(
  ...args: Parameters<typeof ImportStoryCoreEngine>
): ReturnType<typeof ImportStoryCoreEngine> {
  const { importStoryCoreEngine: convert } = await import('../project/import-storycore-engine.js');
  return convert(...args);
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
