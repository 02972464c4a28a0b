import { join } from 'node:path';
import { ArtifactStore } from './artifact-store.js';
import { SqliteRunStore } from './sqlite-run-store.js';
import type { RunStore } from './run-store.js';

export interface WorkspaceStoreOptions {
  /** @default 5000 */
  busyTimeoutMs?: number;
}

export interface WorkspaceStore {
  runs: RunStore;
  artifacts: ArtifactStore;
  /** The database file, `<workspace>/storycore.db`. */
  dbPath: string;
  close(): void;
}

/** The embedded default: `<workspace>/storycore.db` plus the content-addressed folder `<workspace>/artifacts`. */
export function openWorkspaceStore(workspace: string, options: WorkspaceStoreOptions = {}): WorkspaceStore {
  const dbPath = join(workspace, 'storycore.db');
  const runs = SqliteRunStore.open({ path: dbPath, ...options });
  const artifacts = new ArtifactStore(join(workspace, 'artifacts'));
  return { runs, artifacts, dbPath, close: () => runs.close() };
}
