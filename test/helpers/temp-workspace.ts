import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRetryPolicy, type RetryPolicy } from '../../src/core/retry.js';
import { openWorkspaceStore, type WorkspaceStore } from '../../src/store/workspace-store.js';

export interface TempWorkspace {
  /** The temp folder holding everything below; removed by `dispose`. */
  root: string;
  /** `<root>/workspace`: storycore.db and artifacts/. */
  workspace: string;
  /** `<root>/exports`. */
  outDir: string;
  /** Opened on first use; closed by `dispose`. */
  store(): WorkspaceStore;
  dispose(): Promise<void>;
}

/** A real workspace (SQLite file + artifact folder) in a fresh temp dir. */
export async function createTempWorkspace(prefix = 'storycore-pipeline-'): Promise<TempWorkspace> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const workspace = join(root, 'workspace');
  let opened: WorkspaceStore | undefined;
  return {
    root,
    workspace,
    outDir: join(root, 'exports'),
    store: () => (opened ??= openWorkspaceStore(workspace)),
    dispose: async () => {
      opened?.close();
      opened = undefined;
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** No waiting between attempts unless a test asks for it: retries are about counts here, not time. */
export function quickRetryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  return parseRetryPolicy({ maxAttempts: 2, initialDelayMs: 0, ...overrides });
}
