import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../src/core/errors.js';
import { SCHEMA_VERSION, SqliteRunStore, openWorkspaceStore } from '../src/store/index.js';
import type { CreateRunInput, StepDoneInput } from '../src/store/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STORE_MODULE = new URL('../src/store/index.ts', import.meta.url).href;

const project = (projectId = 'lighthouse'): CreateRunInput => ({
  projectId,
  projectName: 'The Lighthouse',
  projectHash: 'f'.repeat(64),
  backend: 'draft',
  options: { retryAttempts: 3, outputDir: 'out' },
});
const sha = (n: number): string => n.toString(16).padStart(64, '0');
const done = (stepId: string, inputHash: string, n = 1): StepDoneInput => ({
  stepId,
  inputHash,
  artifacts: { image: sha(n) },
  output: { width: 512, n },
  attempts: 1,
  durationMs: 40,
});

let dir: string;
let dbPath: string;
const opened: SqliteRunStore[] = [];
function openStore(options: { busyTimeoutMs?: number } = {}): SqliteRunStore {
  const store = SqliteRunStore.open({ path: dbPath, ...options });
  opened.push(store);
  return store;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storycore-runs-'));
  dbPath = join(dir, 'storycore.db');
});
afterEach(async () => {
  for (const store of opened.splice(0)) store.close();
  await rm(dir, { recursive: true, force: true });
});

interface Child {
  pid: number;
  lines: AsyncIterator<string>;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs a TypeScript script (through tsx, as a separate Node process) that imports the real store. */
async function spawnTs(source: string, ...args: string[]): Promise<Child> {
  const file = join(dir, `child-${Math.random().toString(36).slice(2)}.mts`);
  await writeFile(file, source.replaceAll('STORE_MODULE', JSON.stringify(STORE_MODULE)));
  return spawnNode(['--import', 'tsx', file, ...args]);
}

function spawnNode(args: string[]): Child {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid!,
    lines: createInterface({ input: child.stdout })[Symbol.asyncIterator](),
    exited,
    kill: (signal) => child.kill(signal),
  };
}

async function nextLine(child: Child): Promise<string> {
  const { value, done: ended } = await child.lines.next();
  if (ended) throw new Error('child ended before writing the expected line');
  return value;
}

describe('runs', () => {
  it('keeps everything across close and reopen, at the current schema version', () => {
    const first = openStore();
    const run = first.createRun(project());
    first.recordStepDone(run.id, done('sheet:compose', 'h1'));
    first.close();
    expect(() => first.getRun(run.id)).toThrow(/storycore\.db: store is closed \(during getRun\)/);
    const raw = new Database(dbPath, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    raw.close();
    const second = openStore();
    expect(second.getRun(run.id)?.projectName).toBe('The Lighthouse');
    expect(second.findCompletedStep('lighthouse', 'sheet:compose', 'h1')?.artifacts).toEqual({
      image: sha(1),
    });
  });
});

describe('step memo and journal', () => {
  it('writes memo, journal and execution of a done step in one transaction: a failure in the last write leaves none', () => {
    const store = openStore();
    const run = store.createRun(project());
    store.recordStepStart(run.id, 'qa:shot-02', 'q2');
    // A second connection installs a trigger that makes the memo write (the last of the three) fail.
    const raw = new Database(dbPath);
    raw.exec(`CREATE TRIGGER fail_journal BEFORE INSERT ON step_memo WHEN NEW.step_id = 'qa:shot-02'
              BEGIN SELECT RAISE(ABORT, 'disk gremlin'); END`);
    expect(() => store.recordStepDone(run.id, done('qa:shot-02', 'q2'))).toThrow(StoreError);
    expect(store.findCompletedStep('lighthouse', 'qa:shot-02', 'q2')).toBeUndefined();
    expect(store.listSteps(run.id)[0]?.status).toBe('running');
    expect(store.listExecutions({ runId: run.id })[0]?.outcome).toBe('running');

    raw.exec('DROP TRIGGER fail_journal');
    raw.close();
    store.recordStepDone(run.id, done('qa:shot-02', 'q2'));
    expect(store.findCompletedStep('lighthouse', 'qa:shot-02', 'q2')?.runId).toBe(run.id);
    expect(store.listSteps(run.id)[0]?.status).toBe('done');
    expect(store.listExecutions({ runId: run.id })[0]?.outcome).toBe('done');
  });
});

describe('events', () => {
  it('appends single events cheaply (well under a millisecond each)', () => {
    const store = openStore();
    const run = store.createRun(project());
    const n = 3000;
    const started = performance.now();
    for (let i = 0; i < n; i++) store.appendEvent(run.id, 'progress', { shotId: 'shot-07', fraction: i / n });
    const perEventUs = ((performance.now() - started) * 1000) / n;
    console.log(`appendEvent: ${perEventUs.toFixed(1)} µs per event (WAL, synchronous=NORMAL)`);
    expect(perEventUs).toBeLessThan(1000);
    expect(store.listEvents(run.id, { afterSeq: n - 1 }).map((e) => e.seq)).toEqual([n]);
  });
});

describe('crash recovery across processes', () => {
  const OWNER_SCRIPT = `
    import { openWorkspaceStore } from STORE_MODULE;
    const ws = openWorkspaceStore(process.argv[2]!);
    const run = ws.runs.createRun({ projectId: 'lighthouse', projectName: 'L', projectHash: 'h', backend: 'draft', options: {} });
    console.log(run.id);
    setInterval(() => {}, 1000); // stays alive until killed
  `;

  it('leaves a run of a live process running, and marks it interrupted (and resumable) once that process is gone', async () => {
    const child = await spawnTs(OWNER_SCRIPT, dir);
    const runId = await nextLine(child);
    const store = openStore();
    expect(store.getRun(runId)?.pid).toBe(child.pid);

    expect(store.markStaleRunsInterrupted()).toEqual([]);
    expect(store.getRun(runId)?.status).toBe('running');
    expect(store.findLatestResumable('lighthouse')).toBeUndefined();

    child.kill('SIGKILL');
    await child.exited;
    expect(store.findLatestResumable('lighthouse')?.id).toBe(runId); // running but dead counts before marking
    expect(store.markStaleRunsInterrupted()).toEqual([runId]);
    expect(store.getRun(runId)).toMatchObject({ status: 'interrupted', error: { code: 'interrupted' } });
    expect(store.findLatestResumable('lighthouse')?.id).toBe(runId);
    expect(store.markStaleRunsInterrupted()).toEqual([]);
  });

  it('treats a run whose pid belongs to an exited process as stale, and a newer success as leaving nothing to resume', async () => {
    const gone = spawnNode(['-e', '']);
    await gone.exited;
    const store = openStore();
    const run = store.createRun(project());
    // The run is claimed by the exited process, as if it had created it.
    const raw = new Database(dbPath);
    raw.prepare('UPDATE runs SET pid = ? WHERE id = ?').run(gone.pid, run.id);
    raw.close();
    expect(store.markStaleRunsInterrupted()).toEqual([run.id]);
    const failed = store.createRun(project());
    store.setRunStatus(failed.id, 'failed');
    expect(store.findLatestResumable('lighthouse')?.id).toBe(failed.id);
    store.setRunStatus(store.createRun(project()).id, 'succeeded');
    expect(store.findLatestResumable('lighthouse')).toBeUndefined();
  });

  it('lets a second process read the database while this one has it open and another connection holds the write lock', async () => {
    const store = openStore();
    const run = store.createRun(project());
    store.recordStepDone(run.id, done('sheet:compose', 'h'));
    const writer = new Database(dbPath);
    writer.exec('BEGIN IMMEDIATE');
    writer.prepare(`UPDATE runs SET status = 'failed' WHERE id = ?`).run(run.id); // not committed
    const reader = spawnNode([
      '-e',
      `const D = require('better-sqlite3'); const db = new D(process.argv[1], { readonly: true, fileMustExist: true });
       const r = db.prepare('SELECT status FROM runs WHERE id = ?').get(process.argv[2]);
       const n = db.prepare('SELECT COUNT(*) AS n FROM step_memo').get().n;
       console.log(JSON.stringify({ mode: db.pragma('journal_mode', { simple: true }), status: r.status, memo: n }));`,
      dbPath,
      run.id,
    ]);
    const seen = JSON.parse(await nextLine(reader)) as unknown;
    expect(await reader.exited).toBe(0);
    writer.exec('ROLLBACK');
    writer.close();
    expect(seen).toEqual({ mode: 'wal', status: 'running', memo: 1 });
  });

  it('fails with a clear "locked" StoreError when another connection holds the write lock past the busy timeout', () => {
    const store = openStore({ busyTimeoutMs: 50 });
    const writer = new Database(dbPath);
    writer.exec('BEGIN IMMEDIATE');
    try {
      const error = (() => {
        try {
          store.createRun(project());
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(
        /storycore\.db: database is locked by another process; waited 50 ms.*createRun/,
      );
      expect((error as StoreError).details).toMatchObject({
        sqliteCode: 'SQLITE_BUSY',
        operation: 'createRun',
      });
      expect((error as StoreError).cause).toBeInstanceOf(Error);
      expect(store.listRuns()).toEqual([]); // reads still work
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
  });

  it('refuses a corrupt file and a file from a newer schema with a StoreError that says so', async () => {
    await writeFile(dbPath, Buffer.alloc(8192, 'not a database '));
    expect(() => openStore()).toThrow(/storycore\.db: file is corrupt or is not a SQLite database/);
    await rm(dbPath);
    const raw = new Database(dbPath);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => openStore()).toThrow(StoreError);
    expect(() => openStore()).toThrow(
      new RegExp(`schema version 99, newer than this StoryCore build understands \\(${SCHEMA_VERSION}\\)`),
    );
  });

  const WRITER_SCRIPT = `
    import { openWorkspaceStore } from STORE_MODULE;
    const ws = openWorkspaceStore(process.argv[2]!);
    const run = ws.runs.createRun({ projectId: 'lighthouse', projectName: 'L', projectHash: 'h', backend: 'draft', options: {} });
    console.log(run.id);
    for (let i = 0; ; i++) {
      const stepId = 'generate:shot-' + i;
      ws.runs.recordStepStart(run.id, stepId, 'in-' + i);
      const image = await ws.artifacts.put(Buffer.from(('frame ' + i + ' ').repeat(2000 + i)));
      const meta = await ws.artifacts.put(Buffer.from(JSON.stringify({ i })));
      ws.runs.appendEvent(run.id, 'step-done', { stepId });
      ws.runs.recordStepDone(run.id, { stepId, inputHash: 'in-' + i, artifacts: { image, meta }, output: { i }, attempts: 1, durationMs: 1 });
      if (i === 15) console.log('ready');
    }
  `;

  it('after kill -9 mid-write, reopens a consistent database whose every journaled step has its artifacts on disk', async () => {
    for (const delayMs of [0, 37, 120]) {
      const child = await spawnTs(WRITER_SCRIPT, dir);
      const runId = await nextLine(child);
      expect(await nextLine(child)).toBe('ready');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGKILL');
      await child.exited;

      const ws = openWorkspaceStore(dir);
      try {
        const raw = new Database(ws.dbPath, { readonly: true });
        expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
        const memoRows = (
          raw.prepare(`SELECT COUNT(*) AS n FROM step_memo WHERE run_id = ?`).get(runId) as { n: number }
        ).n;
        raw.close();

        expect(ws.runs.markStaleRunsInterrupted()).toEqual([runId]);
        const steps = ws.runs.listSteps(runId);
        const finished = steps.filter((s) => s.status === 'done');
        expect(finished.length).toBeGreaterThanOrEqual(16);
        // The step in flight is closed: its execution is interrupted and no journal row says it still runs.
        expect(steps.filter((s) => s.status === 'running')).toEqual([]);
        const interrupted = ws.runs
          .listExecutions({ runId })
          .filter((e) => e.outcome === 'interrupted').length;
        expect(interrupted).toBeLessThanOrEqual(1); // at most the step in flight
        console.log(`kill -9 after ${delayMs} ms: ${finished.length} steps done, ${interrupted} in flight`);
        expect(memoRows).toBe(finished.length); // memo and journal were committed together
        for (const step of finished) {
          for (const hash of Object.values(step.artifacts))
            expect(await ws.artifacts.verify(hash)).toBe(true);
          expect(ws.runs.findCompletedStep('lighthouse', step.stepId, step.inputHash)?.runId).toBe(runId);
        }
        expect(ws.runs.countExecutions({ runId })).toBe(finished.length + interrupted);
        const seqs = ws.runs.listEvents(runId, { limit: 100_000 }).map((e) => e.seq);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      } finally {
        ws.close();
      }
    }
  });
});
