import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, StoreError } from '../src/core/errors.js';
import { pidNamespace } from '../src/core/process-liveness.js';
import { SqliteRunStore, openWorkspaceStore } from '../src/store/index.js';
import type { CreateRunInput, WorkspaceStore } from '../src/store/index.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';
import { runOn } from './helpers/pipeline-harness.js';
import { makeProject, shotId } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

const input = (projectId = 'lighthouse'): CreateRunInput => ({
  projectId,
  projectName: 'The Lighthouse',
  projectHash: 'f'.repeat(64),
  backend: 'draft',
  options: {},
});

let dir: string;
let dbPath: string;
const opened: Array<{ close(): void }> = [];
function openStore(lease?: { heartbeatMs: number; staleAfterMs: number }): SqliteRunStore {
  const store = SqliteRunStore.open({ path: dbPath, ...(lease ? { lease } : {}) });
  opened.push(store);
  return store;
}

/** Rewrites the columns a run's holder left behind, as a process elsewhere (or long dead) would have. */
function leaveRow(
  runId: string,
  row: { pid: number; hostname: string; pidNamespace: string | null; heartbeatAgoMs: number },
): void {
  const raw = new Database(dbPath);
  raw
    .prepare('UPDATE runs SET pid = ?, hostname = ?, pid_namespace = ?, heartbeat_at = ? WHERE id = ?')
    .run(row.pid, row.hostname, row.pidNamespace, Date.now() - row.heartbeatAgoMs, runId);
  raw.close();
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storycore-lease-'));
  dbPath = join(dir, 'storycore.db');
});
afterEach(async () => {
  for (const store of opened.splice(0)) store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the run lease', () => {
  it('takes a run whose lease is stale for dead although its pid is alive (reused) and its hostname is another container', () => {
    const store = openStore();
    const run = store.createRun(input());
    // What `docker run` leaves after a kill -9: pid 1, which is alive again in the next container (here: this
    // test's own live pid), under a hostname no later container will have.
    leaveRow(run.id, {
      pid: process.pid,
      hostname: 'c0ffee12ab34',
      pidNamespace: 'pid:[1]',
      heartbeatAgoMs: 60_000,
    });
    expect(store.runHolders('lighthouse')).toMatchObject([{ live: false }]);
    expect(store.createRun(input()).status).toBe('running'); // the project is free again
    expect(store.markStaleRunsInterrupted()).toEqual([run.id]);
    expect(store.getRun(run.id)).toMatchObject({ status: 'interrupted', error: { code: 'interrupted' } });
  });

  it('takes a stale run on this very host and pid namespace for dead although its pid is alive (pid reuse)', () => {
    const store = openStore();
    const run = store.createRun(input());
    leaveRow(run.id, {
      pid: process.pid,
      hostname: hostname(),
      pidNamespace: pidNamespace(),
      heartbeatAgoMs: 25_000,
    });
    expect(store.markStaleRunsInterrupted()).toEqual([run.id]);
  });

  it('keeps a fresh lease of another host live (its pid means nothing here), naming the way out in the refusal', () => {
    const store = openStore();
    const run = store.createRun(input());
    leaveRow(run.id, {
      pid: 999_999,
      hostname: 'render-node-7',
      pidNamespace: 'pid:[42]',
      heartbeatAgoMs: 2000,
    });
    expect(store.markStaleRunsInterrupted()).toEqual([]);
    expect(() => store.createRun(input())).toThrow(ConflictError);
    expect(() => store.createRun(input())).toThrow(
      /run-\S+ \(pid 999999 on render-node-7, lease renewed 2 s ago\).*dead 18 s from now, or `storycore unlock lighthouse` releases it at once/,
    );
  });

  it('still proves a run dead at once by its pid on the same host and namespace, lease or not', async () => {
    const store = openStore();
    const run = store.createRun(input());
    leaveRow(run.id, {
      pid: 2 ** 22 + 17,
      hostname: hostname(),
      pidNamespace: pidNamespace(),
      heartbeatAgoMs: 0,
    });
    expect(store.markStaleRunsInterrupted()).toEqual([run.id]);
  });

  it('renews only a lease this process holds on a running run', () => {
    const store = openStore();
    const run = store.createRun(input());
    leaveRow(run.id, {
      pid: process.pid,
      hostname: hostname(),
      pidNamespace: pidNamespace(),
      heartbeatAgoMs: 9000,
    });
    expect(store.renewLease(run.id)).toBe(true);
    expect(Date.now() - Date.parse(store.getRun(run.id)!.heartbeatAt!)).toBeLessThan(1000);
    leaveRow(run.id, { pid: 1, hostname: 'elsewhere', pidNamespace: null, heartbeatAgoMs: 9000 });
    expect(store.renewLease(run.id)).toBe(false);
    store.setRunStatus(run.id, 'cancelled');
    expect(store.renewLease(run.id)).toBe(false);
  });

  it('unlock releases a dead holder, refuses a live one unless forced, and says which runs it released', () => {
    const store = openStore();
    const live = store.createRun(input('a'));
    leaveRow(live.id, { pid: 7, hostname: 'render-node-7', pidNamespace: null, heartbeatAgoMs: 1000 });
    expect(() => store.unlockProject('a')).toThrow(/looks live \(pid 7 on render-node-7.*--force/);
    expect(store.getRun(live.id)?.status).toBe('running');
    expect(store.unlockProject('a', { force: true }).map((r) => [r.id, r.status])).toEqual([
      [live.id, 'interrupted'],
    ]);
    expect(store.getRun(live.id)?.error?.message).toMatch(/unlocked by `storycore unlock`/);
    expect(store.unlockProject('a')).toEqual([]); // nothing left to release
    expect(store.createRun(input('a')).status).toBe('running');
  });
});

describe('a live run', () => {
  let ws: TempWorkspace | undefined;
  let store: WorkspaceStore | undefined;
  afterEach(async () => {
    store?.close();
    await ws?.dispose();
    store = undefined;
    ws = undefined;
  });

  it('renews its lease while it works, so another process never takes it for dead, and stops renewing once it ends', async () => {
    const lease = { heartbeatMs: 40, staleAfterMs: 150 };
    ws = await createTempWorkspace();
    store = openWorkspaceStore(ws.workspace, { lease });
    const held = { ...ws, store: () => store! };
    const project = makeProject({ id: 'live-lease', shots: 2 });
    const backend = new FaultInjectingBackend().failShot(shotId(1), { kind: 'hang' });
    const controller = new AbortController();
    let started!: () => void;
    const hanging = new Promise<void>((resolve) => (started = resolve));
    const running = runOn(held, project, {
      backend,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'step-started' && e.stepId === `generate:${shotId(1)}`) started();
      },
    });
    await hanging;
    // Four lease lifetimes: without renewals the run would be stale three times over.
    await new Promise((resolve) => setTimeout(resolve, 4 * lease.staleAfterMs));
    dbPath = store.dbPath;
    const other = openStore(lease);
    const [holder] = other.runHolders('live-lease');
    expect(holder).toMatchObject({ live: true });
    expect(holder!.heartbeatAgeMs).toBeLessThan(lease.staleAfterMs);
    expect(other.markStaleRunsInterrupted()).toEqual([]);
    expect(() => other.createRun(input('live-lease'))).toThrow(ConflictError);
    expect(() => other.unlockProject('live-lease')).toThrow(/looks live/);

    controller.abort();
    const run = await running;
    expect(store.runs.getRun(run.runId!)?.status).toBe('cancelled');
    const beat = store.runs.getRun(run.runId!)!.heartbeatAt!;
    await new Promise((resolve) => setTimeout(resolve, 3 * lease.heartbeatMs));
    expect(store.runs.getRun(run.runId!)!.heartbeatAt).toBe(beat); // the timer is gone with the run
  });
});

describe('opening the workspace', () => {
  it('refuses a database with damaged pages in the middle with the same "corrupt, move it aside" error as a broken header', async () => {
    const store = openStore();
    const run = store.createRun(input());
    for (let i = 0; i < 400; i++) store.appendEvent(run.id, 'progress', { i, text: 'x'.repeat(200) });
    store.close();
    const size = (await stat(dbPath)).size;
    expect(size).toBeGreaterThan(40 * 4096);
    const handle = await open(dbPath, 'r+');
    await handle.write(randomBytes(4096), 0, 4096, Math.floor(size / 4096 / 2) * 4096);
    await handle.close();
    let error: unknown;
    try {
      openStore();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/storycore\.db: file is corrupt.*; move it aside/);
  });

  it('treats a 0-byte database as new, and says so', async () => {
    await writeFile(dbPath, '');
    const warnings: string[] = [];
    const store = SqliteRunStore.open({ path: dbPath, onWarning: (m) => warnings.push(m) });
    opened.push(store);
    expect(warnings).toEqual([`${dbPath} is an empty file (0 bytes); starting a new run journal in it`]);
    expect(store.createRun(input()).status).toBe('running');
  });

  it('read-only: says "no workspace at …" for a missing one and creates nothing; reads an existing one without writing', async () => {
    const missing = join(dir, 'mistyped');
    expect(() => openWorkspaceStore(missing, { readonly: true })).toThrow(NotFoundError);
    expect(() => openWorkspaceStore(missing, { readonly: true })).toThrow(`no workspace at ${missing}`);
    await expect(stat(missing)).rejects.toThrow(/ENOENT/);
    // What a process killed at start-up may leave: an empty file, or a database it never migrated.
    await writeFile(dbPath, '');
    expect(() => openWorkspaceStore(dir, { readonly: true })).toThrow(
      `no workspace at ${dir} (${dbPath} is empty)`,
    );
    await rm(dbPath);
    const unmigrated = new Database(dbPath);
    unmigrated.pragma('journal_mode = WAL');
    unmigrated.close();
    expect(() => openWorkspaceStore(dir, { readonly: true })).toThrow(/holds no journal yet/);

    const writer = openWorkspaceStore(dir);
    const run = writer.runs.createRun(input());
    writer.close();
    const reader = openWorkspaceStore(dir, { readonly: true });
    opened.push(reader);
    expect(reader.runs.getRun(run.id)?.status).toBe('running');
    expect(() => reader.runs.createRun(input('other'))).toThrow(/read-only/);
  });
});

describe('the journal', () => {
  it("lists a run's steps in the order they were first journaled, not by id", () => {
    const store = openStore();
    const run = store.createRun(input());
    const order = ['sheet:panel-9', 'sheet:compose', 'generate:zeta', 'generate:alpha', 'export', 'qa:alpha'];
    for (const stepId of order) store.recordStepStart(run.id, stepId, `in-${stepId}`);
    store.recordStepDone(run.id, {
      stepId: 'sheet:panel-9',
      inputHash: 'in-sheet:panel-9',
      artifacts: {},
      output: null,
      attempts: 1,
      durationMs: 1,
    });
    expect(store.listSteps(run.id).map((s) => s.stepId)).toEqual(order);
  });
});
