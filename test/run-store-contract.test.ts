import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { asyncRunStore } from '../src/store/async-run-store.js';
import { SqliteRunStore } from '../src/store/index.js';
import { describeRunStoreContract } from './helpers/run-store-contract.js';

/** The store contract on the embedded store: a fresh SQLite file per test, lifted into the async shape. */
describeRunStoreContract('SQLite (embedded)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'storycore-contract-'));
  const path = join(dir, 'storycore.db');
  const store = SqliteRunStore.open({ path });
  return {
    store: asyncRunStore(store),
    leaveHolder: async (runId, row) => {
      const raw = new Database(path);
      try {
        raw
          .prepare('UPDATE runs SET pid = ?, hostname = ?, pid_namespace = ?, heartbeat_at = ? WHERE id = ?')
          .run(row.pid, row.hostname, row.pidNamespace, Date.now() - row.heartbeatAgoMs, runId);
      } finally {
        raw.close();
      }
    },
    cleanup: async () => {
      store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
