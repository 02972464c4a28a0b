import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, StoreError, ValidationError } from '../src/core/errors.js';
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
  it('creates a running run with a sortable id, this process as owner and its options as JSON', () => {
    const store = openStore();
    const run = store.createRun(project());
    expect(run.id).toMatch(/^run-\d{8}-\d{6}-\d{3}-[0-9a-f]{4}$/);
    expect(run).toMatchObject({
      status: 'running',
      projectId: 'lighthouse',
      backend: 'draft',
      pid: process.pid,
    });
    expect(run.options).toEqual({ retryAttempts: 3, outputDir: 'out' });
    expect(run.finishedAt).toBeUndefined();
    expect(store.getRun(run.id)).toEqual(run);
    expect(store.getRun('run-missing')).toBeUndefined();
  });

  it('lists runs newest first, filtered by project and status, up to a limit', () => {
    const store = openStore();
    const a = store.createRun(project('a'));
    const b = store.createRun(project('b'));
    const c = store.createRun(project('a'));
    store.setRunStatus(a.id, 'succeeded');
    expect(store.listRuns().map((r) => r.id)).toEqual([c.id, b.id, a.id]);
    expect(store.listRuns({ projectId: 'a' }).map((r) => r.id)).toEqual([c.id, a.id]);
    expect(store.listRuns({ status: 'running' }).map((r) => r.id)).toEqual([c.id, b.id]);
    expect(store.listRuns({ status: ['succeeded', 'failed'] }).map((r) => r.id)).toEqual([a.id]);
    expect(store.listRuns({ limit: 1 }).map((r) => r.id)).toEqual([c.id]);
  });

  it('stamps finishedAt on a terminal status, keeps error and result, and clears them when resumed', () => {
    const store = openStore();
    const run = store.createRun(project());
    const failed = store.setRunStatus(run.id, 'failed', {
      error: { code: 'backend-unreachable', message: 'shot-03 failed', rootCause: 'ECONNREFUSED' },
      result: { shots: 2 },
    });
    expect(failed.status).toBe('failed');
    expect(failed.finishedAt).toBeDefined();
    expect(failed.error).toEqual({
      code: 'backend-unreachable',
      message: 'shot-03 failed',
      rootCause: 'ECONNREFUSED',
    });
    expect(failed.result).toEqual({ shots: 2 });
    const resumed = store.setRunStatus(run.id, 'running');
    expect(resumed.finishedAt).toBeUndefined();
    expect(resumed.error).toBeUndefined();
    expect(resumed.pid).toBe(process.pid);
    expect(() => store.setRunStatus('run-missing', 'failed')).toThrow(NotFoundError);
  });

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
  it('finds a step finished in run A from run B with the same input hash, and not with another hash or project', () => {
    const store = openStore();
    const a = store.createRun(project());
    store.recordStepStart(a.id, 'generate:shot-07', 'hash-1');
    store.recordStepDone(a.id, done('generate:shot-07', 'hash-1', 7));
    store.setRunStatus(a.id, 'succeeded');
    const b = store.createRun(project());

    const memo = store.findCompletedStep('lighthouse', 'generate:shot-07', 'hash-1');
    expect(memo).toMatchObject({
      runId: a.id,
      status: 'done',
      artifacts: { image: sha(7) },
      output: { width: 512, n: 7 },
      attempts: 1,
    });
    expect(store.findCompletedStep('lighthouse', 'generate:shot-07', 'hash-2')).toBeUndefined();
    expect(store.findCompletedStep('other-project', 'generate:shot-07', 'hash-1')).toBeUndefined();

    const reused = store.recordStepReused(b.id, 'generate:shot-07', 'hash-1');
    expect(reused).toMatchObject({
      runId: b.id,
      status: 'reused',
      sourceRunId: a.id,
      artifacts: { image: sha(7) },
    });
    expect(store.listSteps(b.id).map((s) => [s.stepId, s.status])).toEqual([['generate:shot-07', 'reused']]);
    expect(store.countExecutions({ projectId: 'lighthouse', stepId: 'generate:shot-07' })).toBe(1);
    expect(() => store.recordStepReused(b.id, 'generate:shot-07', 'hash-2')).toThrow(NotFoundError);
  });

  it('journals start, done and failed per run in first-seen order, and counts one execution per start', () => {
    const store = openStore();
    const run = store.createRun(project());
    store.recordStepStart(run.id, 'sheet:panel-1', 'p1');
    store.recordStepStart(run.id, 'sheet:panel-2', 'p2');
    expect(store.listSteps(run.id).map((s) => s.status)).toEqual(['running', 'running']);
    store.recordStepDone(run.id, done('sheet:panel-2', 'p2'));
    store.recordStepFailed(run.id, {
      stepId: 'sheet:panel-1',
      inputHash: 'p1',
      error: { code: 'timeout', message: 'panel 1 timed out', rootCause: 'no answer in 30000 ms' },
      attempts: 3,
    });
    const steps = store.listSteps(run.id);
    expect(steps.map((s) => [s.stepId, s.status])).toEqual([
      ['sheet:panel-1', 'failed'],
      ['sheet:panel-2', 'done'],
    ]);
    expect(steps[0]).toMatchObject({
      attempts: 3,
      error: { code: 'timeout', rootCause: 'no answer in 30000 ms' },
    });
    expect(steps[0]?.finishedAt).toBeDefined();
    expect(store.findCompletedStep('lighthouse', 'sheet:panel-1', 'p1')).toBeUndefined();

    store.recordStepStart(run.id, 'sheet:panel-1', 'p1'); // retried within the same run
    store.recordStepDone(run.id, done('sheet:panel-1', 'p1'));
    expect(store.countExecutions({ runId: run.id })).toBe(3);
    expect(store.countExecutions({ runId: run.id, stepId: 'sheet:panel-1' })).toBe(2);
    expect(store.listExecutions({ stepId: 'sheet:panel-1' }).map((e) => e.outcome)).toEqual([
      'failed',
      'done',
    ]);
    expect(store.listSteps(run.id).map((s) => s.status)).toEqual(['done', 'done']);
  });

  it('records an execution for a done step even when its start was never journaled', () => {
    const store = openStore();
    const run = store.createRun(project());
    store.recordStepDone(run.id, done('export', 'e1'));
    expect(store.listExecutions({ runId: run.id })).toMatchObject([
      { stepId: 'export', outcome: 'done', inputHash: 'e1' },
    ]);
  });

  it('writes memo, journal and execution of a done step in one transaction: a failure in the last write leaves none', () => {
    const store = openStore();
    const run = store.createRun(project());
    store.recordStepStart(run.id, 'qa:shot-02', 'q2');
    // A second connection installs a trigger that makes the journal write (the last of the three) fail.
    const raw = new Database(dbPath);
    raw.exec(`CREATE TRIGGER fail_journal BEFORE UPDATE OF status ON run_steps WHEN NEW.step_id = 'qa:shot-02' AND NEW.status = 'done'
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

  it('rejects artifact references that are not sha256 digests', () => {
    const store = openStore();
    const run = store.createRun(project());
    expect(() =>
      store.recordStepDone(run.id, { ...done('export', 'e'), artifacts: { zip: '../../etc/passwd' } }),
    ).toThrow(ValidationError);
    expect(() => store.recordStepStart('run-missing', 'export', 'e')).toThrow(NotFoundError);
  });
});

describe('events', () => {
  it('numbers events 1, 2, 3… per run, pages them after a seq, and keeps numbering after pruning', () => {
    const store = openStore();
    const a = store.createRun(project());
    const b = store.createRun(project());
    const seqs = Array.from({ length: 25 }, (_, i) => store.appendEvent(a.id, 'progress', { i }));
    expect(seqs).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(store.appendEvent(b.id, 'stage', { stage: 'sheet' })).toBe(1);
    expect(
      store.appendEvents(a.id, [
        { type: 'x', payload: null },
        { type: 'y', payload: [1] },
      ]),
    ).toEqual([26, 27]);

    const page = store.listEvents(a.id, { afterSeq: 10, limit: 5 });
    expect(page.map((e) => e.seq)).toEqual([11, 12, 13, 14, 15]);
    expect(page[0]).toMatchObject({ runId: a.id, type: 'progress', payload: { i: 10 } });
    expect(store.listEvents(a.id, { afterSeq: 25 }).map((e) => [e.type, e.payload])).toEqual([
      ['x', null],
      ['y', [1]],
    ]);

    expect(store.pruneEvents(a.id, 5)).toBe(22);
    expect(store.listEvents(a.id).map((e) => e.seq)).toEqual([23, 24, 25, 26, 27]);
    expect(store.pruneEvents(a.id, 0)).toBe(5);
    expect(store.appendEvent(a.id, 'progress', {})).toBe(28);
    expect(store.listEvents(b.id)).toHaveLength(1);
    expect(() => store.appendEvent('run-missing', 'x', {})).toThrow(NotFoundError);
  });

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
    expect(() => openStore()).toThrow(/schema version 99, newer than this StoryCore build understands \(1\)/);
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
        expect(steps.length - finished.length).toBeLessThanOrEqual(1); // at most the step in flight
        console.log(
          `kill -9 after ${delayMs} ms: ${finished.length} steps done, ${steps.length - finished.length} in flight`,
        );
        expect(memoRows).toBe(finished.length); // memo and journal were committed together
        for (const step of finished) {
          for (const hash of Object.values(step.artifacts))
            expect(await ws.artifacts.verify(hash)).toBe(true);
          expect(ws.runs.findCompletedStep('lighthouse', step.stepId, step.inputHash)?.runId).toBe(runId);
        }
        expect(ws.runs.countExecutions({ runId })).toBe(steps.length);
        expect(ws.runs.listExecutions({ runId }).filter((e) => e.outcome === 'interrupted').length).toBe(
          steps.length - finished.length,
        );
        const seqs = ws.runs.listEvents(runId, { limit: 100_000 }).map((e) => e.seq);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      } finally {
        ws.close();
      }
    }
  });
});
