import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, StoreError } from '../src/core/errors.js';
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

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storycore-lease-'));
  dbPath = join(dir, 'storycore.db');
});
afterEach(async () => {
  for (const store of opened.splice(0)) store.close();
  await rm(dir, { recursive: true, force: true });
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
