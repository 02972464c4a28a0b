import { join } from 'node:path';
import { LocalArtifactStore } from './local-artifact-store.js';
import type { LeasePolicy } from './run-store.js';
import { SqliteRunStore } from './sqlite-run-store.js';
import type { RunStore } from './run-store.js';

export interface WorkspaceStoreOptions {
  /** @default 5000 */
  busyTimeoutMs?: number;
  /**
   * Open an existing workspace for reading only: nothing is created or written, and a missing one is a
   * NotFoundError ("no workspace at …"). @default false
   */
  readonly?: boolean;
  /** How runs prove they are alive. @default renewed every 5 s, stale after 20 s */
  lease?: Partial<LeasePolicy>;
  /** Told about what deserves a line to the user without being an error. @default process.emitWarning */
  onWarning?: (message: string) => void;
}

export interface WorkspaceStore {
  runs: RunStore;
  /** A folder: gc and the temp sweep (folder-only housekeeping) need it as one. */
  artifacts: LocalArtifactStore;
  /** The database file, `<workspace>/storycore.db`. */
  dbPath: string;
  close(): void;
}

/** The embedded default: `<workspace>/storycore.db` plus the content-addressed folder `<workspace>/artifacts`. */
export function openWorkspaceStore(workspace: string, options: WorkspaceStoreOptions = {}): WorkspaceStore {
  const dbPath = join(workspace, 'storycore.db');
  const runs = SqliteRunStore.open({ path: dbPath, ...options });
  const artifacts = new LocalArtifactStore(join(workspace, 'artifacts'));
  return { runs, artifacts, dbPath, close: () => runs.close() };
}
