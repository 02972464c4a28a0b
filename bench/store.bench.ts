import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteRunStore } from '../src/store/index.js';
import { timeRuns } from './timing.js';
import type { BenchRow } from './types.js';

/** Above this, `quick_check` on every writable open would be felt by every command (see sqlite-connection.ts). */
const QUICK_CHECK_BUDGET_MS = 50;

const sha = (n: number): string => n.toString(16).padStart(64, '0');

/**
 * Cost of the integrity check a workspace gets when it is opened for writing, on a journal of `steps` done steps
 * (each with its execution row, memo row and one event, 1,000 steps a run): the size a 300-shot project reaches
 * after a few dozen edited reruns.
 */
export async function benchStore(options: { steps?: number; runs?: number } = {}): Promise<BenchRow[]> {
  const steps = options.steps ?? 10_000;
  const dir = await mkdtemp(join(tmpdir(), 'storycore-bench-store-'));
  const path = join(dir, 'storycore.db');
  try {
    const store = SqliteRunStore.open({ path });
    let runId = '';
    for (let i = 0; i < steps; i++) {
      if (i % 1000 === 0) {
        if (runId) store.setRunStatus(runId, 'succeeded');
        runId = store.createRun({
          projectId: 'bench',
          projectName: 'bench',
          projectHash: sha(i),
          backend: 'draft',
          options: { outDir: '/tmp/exports', failFast: false },
        }).id;
      }
      const stepId = `generate:shot-${String(i).padStart(5, '0')}`;
      store.recordStepStart(runId, stepId, sha(i));
      store.recordStepDone(runId, {
        stepId,
        inputHash: sha(i),
        artifacts: { image: sha(i), raw: sha(i + 1) },
        output: {
          width: 1920,
          height: 1080,
          seed: 123456789 + i,
          metrics: { sharpness: 812.5, luma: 112.25 },
        },
        attempts: 1,
        durationMs: 180,
      });
      store.appendEvent(runId, 'step-completed', { stepId, durationMs: 180, attempts: 1 });
    }
    store.setRunStatus(runId, 'succeeded');
    store.close();
    const bytes = (await stat(path)).size;
    const runs = options.runs ?? 9;
    // Each on a fresh connection, as a CLI invocation opens one: its page cache starts empty, so quick_check reads
    // every page through SQLite (the OS cache is warm, as it is for a workspace used a moment ago).
    const fresh = (fn: (db: Database.Database) => unknown) => () => {
      const db = new Database(path, { readonly: true });
      try {
        fn(db);
      } finally {
        db.close();
      }
    };
    const bare = await timeRuns(
      runs,
      fresh(() => undefined),
    );
    const quick = await timeRuns(
      runs,
      fresh((db) => db.pragma('quick_check')),
    );
    const full = await timeRuns(
      runs,
      fresh((db) => db.pragma('integrity_check')),
    );
    const open = await timeRuns(runs, () => SqliteRunStore.open({ path }).close());
    const group = `run store (${steps} steps, ${(bytes / 1e6).toFixed(1)} MB database)`;
    const cost = quick.median - bare.median;
    return [
      {
        group,
        name: 'PRAGMA quick_check on a fresh connection',
        value: cost,
        unit: 'ms',
        note: `budget ${QUICK_CHECK_BUDGET_MS} ms: ${cost <= QUICK_CHECK_BUDGET_MS ? 'met' : 'over'}`,
      },
      {
        group,
        name: 'PRAGMA integrity_check (for comparison)',
        value: full.median - bare.median,
        unit: 'ms',
      },
      { group, name: 'open + close, nothing else (baseline)', value: bare.median, unit: 'ms' },
      { group, name: 'SqliteRunStore.open + close (quick_check included)', value: open.median, unit: 'ms' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
