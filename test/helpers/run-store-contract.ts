import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/core/errors.js';
import { pidNamespace } from '../../src/core/process-liveness.js';
import type { AsyncRunStore } from '../../src/store/async-run-store.js';
import type { CreateRunInput, StepDoneInput } from '../../src/store/index.js';

/** Who a run's holder columns say holds it, as a process elsewhere (or long dead) would have left them. */
export interface HolderRow {
  pid: number;
  hostname: string;
  pidNamespace: string | null;
  /** How long ago the lease was renewed, by the store's clock. */
  heartbeatAgoMs: number;
}

export interface OpenedRunStore {
  store: AsyncRunStore;
  /** Rewrites a run's holder columns behind the store's back (raw SQL on the same database). */
  leaveHolder(runId: string, row: HolderRow): Promise<void>;
  cleanup(): Promise<void>;
}

export const project = (projectId = 'lighthouse'): CreateRunInput => ({
  projectId,
  projectName: 'The Lighthouse',
  projectHash: 'f'.repeat(64),
  backend: 'draft',
  options: { retryAttempts: 3, outputDir: 'out' },
});
export const sha = (n: number): string => n.toString(16).padStart(64, '0');
export const done = (stepId: string, inputHash: string, n = 1): StepDoneInput => ({
  stepId,
  inputHash,
  artifacts: { image: sha(n) },
  output: { width: 512, n },
  attempts: 1,
  durationMs: 40,
});

/** A pid no process has: one that ran and exited. */
async function exitedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

/**
 * What every run store means, whatever holds it: run ids and lifecycle, the lease, one live run per project, the
 * memo across runs, the journal and its idempotence, executions, the event log and pruning. Run against the
 * embedded SQLite store (through `asyncRunStore`) and the PostgreSQL store, so a store is proven the same way.
 * Each test opens a fresh, empty store.
 */
export function describeRunStoreContract(name: string, open: () => Promise<OpenedRunStore>): void {
  describe(`run store contract: ${name}`, () => {
    const opened: OpenedRunStore[] = [];
    const fresh = async (): Promise<OpenedRunStore> => {
      const handle = await open();
      opened.push(handle);
      return handle;
    };
    afterEach(async () => {
      for (const handle of opened.splice(0)) await handle.cleanup();
    });

    describe('runs', () => {
      it('creates a running run with a sortable id, this process as owner and its options as JSON', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        expect(run.id).toMatch(/^run-\d{8}-\d{6}-\d{3}-[0-9a-f]{4}$/);
        expect(run).toMatchObject({
          status: 'running',
          projectId: 'lighthouse',
          backend: 'draft',
          pid: process.pid,
        });
        expect(run.hostname).toBe(hostname());
        expect(Math.abs(Date.now() - Date.parse(run.heartbeatAt!))).toBeLessThan(5000);
        expect(run.options).toEqual({ retryAttempts: 3, outputDir: 'out' });
        expect(run.finishedAt).toBeUndefined();
        expect(await store.getRun(run.id)).toEqual(run);
        expect(await store.getRun('run-missing')).toBeUndefined();
        expect(await store.getRunStatus(run.id)).toBe('running');
        expect(await store.getRunStatus('run-missing')).toBeUndefined();
        await store.setRunStatus(run.id, 'cancelled');
        expect(await store.getRunStatus(run.id)).toBe('cancelled');
      });

      it('lists runs newest first, filtered by project and status, up to a limit', async () => {
        const { store } = await fresh();
        const a = await store.createRun(project('a'));
        await store.setRunStatus(a.id, 'succeeded');
        const b = await store.createRun(project('b'));
        const c = await store.createRun(project('a'));
        const ids = async (options?: Parameters<AsyncRunStore['listRuns']>[0]): Promise<string[]> =>
          (await store.listRuns(options)).map((r) => r.id);
        expect(await ids()).toEqual([c.id, b.id, a.id]);
        expect(await ids({ projectId: 'a' })).toEqual([c.id, a.id]);
        expect(await ids({ status: 'running' })).toEqual([c.id, b.id]);
        expect(await ids({ status: ['succeeded', 'failed'] })).toEqual([a.id]);
        expect(await ids({ status: [] })).toEqual([]);
        expect(await ids({ limit: 1 })).toEqual([c.id]);
      });

      it('refuses a second live run of the same project, naming the run that holds it, but not after it ended', async () => {
        const { store } = await fresh();
        const first = await store.createRun(project('a'));
        await expect(store.createRun(project('a'))).rejects.toThrow(ConflictError);
        await expect(store.createRun(project('a'))).rejects.toThrow(
          new RegExp(`already being generated by run ${first.id}`),
        );
        expect((await store.createRun(project('b'))).status).toBe('running'); // other projects are free
        await store.setRunStatus(first.id, 'cancelled');
        const second = await store.createRun(project('a'));
        // Resuming the cancelled run while the new one is live is the same conflict.
        await expect(store.setRunStatus(first.id, 'running')).rejects.toThrow(ConflictError);
        // Nor can a live run be claimed again by a second resume.
        await expect(store.setRunStatus(second.id, 'running')).rejects.toThrow(ConflictError);
        await store.setRunStatus(second.id, 'succeeded');
        expect((await store.setRunStatus(first.id, 'running')).status).toBe('running');
      });

      it('lets exactly one of several runs of a project created at once start', async () => {
        const { store } = await fresh();
        const settled = await Promise.allSettled(Array.from({ length: 5 }, () => store.createRun(project())));
        expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
        for (const s of settled.filter((x) => x.status === 'rejected')) {
          expect((s as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
        }
      });

      it('stamps finishedAt on a terminal status, keeps error and result, and clears them when resumed', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        const failed = await store.setRunStatus(run.id, 'failed', {
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
        const resumed = await store.setRunStatus(run.id, 'running');
        expect(resumed.finishedAt).toBeUndefined();
        expect(resumed.error).toBeUndefined();
        expect(resumed.result).toEqual({ shots: 2 });
        expect(resumed.pid).toBe(process.pid);
        await expect(store.setRunStatus('run-missing', 'failed')).rejects.toThrow(NotFoundError);
      });

      it('ending a run closes its executions in flight as interrupted and drops their running journal rows', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        await store.recordStepStart(run.id, 'generate:shot-01', 'g1');
        await store.recordStepStart(run.id, 'generate:shot-02', 'g2');
        await store.recordStepDone(run.id, done('generate:shot-02', 'g2'));
        await store.setRunStatus(run.id, 'cancelled');
        expect((await store.listSteps(run.id)).map((s) => [s.stepId, s.status])).toEqual([
          ['generate:shot-02', 'done'],
        ]);
        expect((await store.listExecutions({ runId: run.id })).map((e) => [e.stepId, e.outcome])).toEqual([
          ['generate:shot-01', 'interrupted'],
          ['generate:shot-02', 'done'],
        ]);
      });
    });

    describe('the lease', () => {
      it('takes a run whose lease is stale for dead although its pid is alive (reused) and its hostname is another container', async () => {
        const { store, leaveHolder } = await fresh();
        const run = await store.createRun(project());
        await leaveHolder(run.id, {
          pid: process.pid,
          hostname: 'c0ffee12ab34',
          pidNamespace: 'pid:[1]',
          heartbeatAgoMs: 60_000,
        });
        expect(await store.runHolders('lighthouse')).toMatchObject([{ live: false }]);
        expect((await store.createRun(project())).status).toBe('running'); // the project is free again
        expect(await store.markStaleRunsInterrupted()).toEqual([run.id]);
        expect(await store.getRun(run.id)).toMatchObject({
          status: 'interrupted',
          error: { code: 'interrupted' },
        });
      });

      it('takes a stale run on this very host and pid namespace for dead although its pid is alive (pid reuse)', async () => {
        const { store, leaveHolder } = await fresh();
        const run = await store.createRun(project());
        await leaveHolder(run.id, {
          pid: process.pid,
          hostname: hostname(),
          pidNamespace: pidNamespace(),
          heartbeatAgoMs: 25_000,
        });
        expect(await store.markStaleRunsInterrupted()).toEqual([run.id]);
      });

      it('keeps a fresh lease of another host live (its pid means nothing here), naming the way out in the refusal', async () => {
        const { store, leaveHolder } = await fresh();
        const run = await store.createRun(project());
        await leaveHolder(run.id, {
          pid: 999_999,
          hostname: 'render-node-7',
          pidNamespace: 'pid:[42]',
          heartbeatAgoMs: 2000,
        });
        expect(await store.markStaleRunsInterrupted()).toEqual([]);
        expect(await store.runHolders('lighthouse')).toMatchObject([{ live: true, run: { id: run.id } }]);
        await expect(store.createRun(project())).rejects.toThrow(
          /run-\S+ \(pid 999999 on render-node-7, lease renewed 2 s ago\).*dead 18 s from now, or `storycore unlock lighthouse` releases it at once/,
        );
      });

      it('still proves a run dead at once by its pid on the same host and namespace, lease or not', async () => {
        const { store, leaveHolder } = await fresh();
        const run = await store.createRun(project());
        await leaveHolder(run.id, {
          pid: await exitedPid(),
          hostname: hostname(),
          pidNamespace: pidNamespace(),
          heartbeatAgoMs: 0,
        });
        expect(await store.findLatestResumable('lighthouse')).toMatchObject({ id: run.id }); // dead counts before marking
        expect(await store.markStaleRunsInterrupted()).toEqual([run.id]);
        expect(await store.markStaleRunsInterrupted()).toEqual([]);
      });

      it('renews only a lease this process holds on a running run', async () => {
        const { store, leaveHolder } = await fresh();
        const run = await store.createRun(project());
        await leaveHolder(run.id, {
          pid: process.pid,
          hostname: hostname(),
          pidNamespace: pidNamespace(),
          heartbeatAgoMs: 9000,
        });
        expect(await store.renewLease(run.id)).toBe(true);
        expect(Date.now() - Date.parse((await store.getRun(run.id))!.heartbeatAt!)).toBeLessThan(1000);
        await leaveHolder(run.id, {
          pid: 1,
          hostname: 'elsewhere',
          pidNamespace: null,
          heartbeatAgoMs: 9000,
        });
        expect(await store.renewLease(run.id)).toBe(false);
        await store.setRunStatus(run.id, 'cancelled');
        expect(await store.renewLease(run.id)).toBe(false);
        expect(await store.renewLease('run-missing')).toBe(false);
      });

      it('unlock releases a dead holder, refuses a live one unless forced, and says which runs it released', async () => {
        const { store, leaveHolder } = await fresh();
        const live = await store.createRun(project('a'));
        await leaveHolder(live.id, {
          pid: 7,
          hostname: 'render-node-7',
          pidNamespace: null,
          heartbeatAgoMs: 1000,
        });
        await expect(store.unlockProject('a')).rejects.toThrow(
          /looks live \(pid 7 on render-node-7.*--force/,
        );
        expect((await store.getRun(live.id))?.status).toBe('running');
        expect((await store.unlockProject('a', { force: true })).map((r) => [r.id, r.status])).toEqual([
          [live.id, 'interrupted'],
        ]);
        expect((await store.getRun(live.id))?.error?.message).toMatch(/unlocked by `storycore unlock`/);
        expect(await store.unlockProject('a')).toEqual([]); // nothing left to release
        expect((await store.createRun(project('a'))).status).toBe('running');
      });

      it('finds the newest resumable run, and nothing once a newer run succeeded', async () => {
        const { store } = await fresh();
        const cancelled = await store.createRun(project());
        await store.setRunStatus(cancelled.id, 'cancelled');
        expect((await store.findLatestResumable('lighthouse'))?.id).toBe(cancelled.id);
        const failed = await store.createRun(project());
        await store.setRunStatus(failed.id, 'failed');
        expect((await store.findLatestResumable('lighthouse'))?.id).toBe(failed.id);
        const live = await store.createRun(project());
        expect((await store.findLatestResumable('lighthouse'))?.id).toBe(failed.id); // a live run is not resumable
        await store.setRunStatus(live.id, 'succeeded');
        expect(await store.findLatestResumable('lighthouse')).toBeUndefined();
        expect(await store.findLatestResumable('other')).toBeUndefined();
      });
    });

    describe('step memo and journal', () => {
      it('finds a step finished in run A from run B with the same input hash, and not with another hash or project', async () => {
        const { store } = await fresh();
        const a = await store.createRun(project());
        await store.recordStepStart(a.id, 'generate:shot-07', 'hash-1');
        await store.recordStepDone(a.id, done('generate:shot-07', 'hash-1', 7));
        await store.setRunStatus(a.id, 'succeeded');
        const b = await store.createRun(project());

        const memo = await store.findCompletedStep('lighthouse', 'generate:shot-07', 'hash-1');
        expect(memo).toMatchObject({
          runId: a.id,
          status: 'done',
          artifacts: { image: sha(7) },
          output: { width: 512, n: 7 },
          attempts: 1,
        });
        expect(await store.findCompletedStep('lighthouse', 'generate:shot-07', 'hash-2')).toBeUndefined();
        expect(await store.findCompletedStep('other-project', 'generate:shot-07', 'hash-1')).toBeUndefined();

        const reused = await store.recordStepReused(b.id, 'generate:shot-07', 'hash-1');
        expect(reused).toMatchObject({
          runId: b.id,
          status: 'reused',
          sourceRunId: a.id,
          artifacts: { image: sha(7) },
        });
        expect((await store.listSteps(b.id)).map((s) => [s.stepId, s.status])).toEqual([
          ['generate:shot-07', 'reused'],
        ]);
        expect(await store.countExecutions({ projectId: 'lighthouse', stepId: 'generate:shot-07' })).toBe(1);
        await expect(store.recordStepReused(b.id, 'generate:shot-07', 'hash-2')).rejects.toThrow(
          NotFoundError,
        );
      });

      it('journals start, done and failed per run in first-seen order, and counts one execution per start', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        await store.recordStepStart(run.id, 'sheet:panel-1', 'p1');
        await store.recordStepStart(run.id, 'sheet:panel-2', 'p2');
        expect((await store.listSteps(run.id)).map((s) => s.status)).toEqual(['running', 'running']);
        await store.recordStepDone(run.id, done('sheet:panel-2', 'p2'));
        await store.recordStepFailed(run.id, {
          stepId: 'sheet:panel-1',
          inputHash: 'p1',
          error: { code: 'timeout', message: 'panel 1 timed out', rootCause: 'no answer in 30000 ms' },
          attempts: 3,
        });
        const steps = await store.listSteps(run.id);
        expect(steps.map((s) => [s.stepId, s.status])).toEqual([
          ['sheet:panel-1', 'failed'],
          ['sheet:panel-2', 'done'],
        ]);
        expect(steps[0]).toMatchObject({
          attempts: 3,
          error: { code: 'timeout', rootCause: 'no answer in 30000 ms' },
        });
        expect(steps[0]?.finishedAt).toBeDefined();
        expect(await store.findCompletedStep('lighthouse', 'sheet:panel-1', 'p1')).toBeUndefined();

        await store.recordStepStart(run.id, 'sheet:panel-1', 'p1'); // retried within the same run
        await store.recordStepDone(run.id, done('sheet:panel-1', 'p1'));
        expect(await store.countExecutions({ runId: run.id })).toBe(3);
        expect(await store.countExecutions({ runId: run.id, stepId: 'sheet:panel-1' })).toBe(2);
        expect((await store.listExecutions({ stepId: 'sheet:panel-1' })).map((e) => e.outcome)).toEqual([
          'failed',
          'done',
        ]);
        expect(await store.listExecutions({ runId: run.id, limit: 1 })).toHaveLength(1);
        expect((await store.listSteps(run.id)).map((s) => s.status)).toEqual(['done', 'done']);
      });

      it("lists a run's steps in the order they were first journaled, not by id", async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        const order = [
          'sheet:panel-9',
          'sheet:compose',
          'generate:zeta',
          'generate:alpha',
          'export',
          'qa:alpha',
        ];
        for (const stepId of order) await store.recordStepStart(run.id, stepId, `in-${stepId}`);
        await store.recordStepDone(run.id, { ...done('sheet:panel-9', 'in-sheet:panel-9'), artifacts: {} });
        expect((await store.listSteps(run.id)).map((s) => s.stepId)).toEqual(order);
      });

      it('records an execution for a done step even when its start was never journaled', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        await store.recordStepDone(run.id, done('export', 'e1'));
        expect(await store.listExecutions({ runId: run.id })).toMatchObject([
          { stepId: 'export', outcome: 'done', inputHash: 'e1' },
        ]);
      });

      it('rejects artifact references that are not sha256 digests, and steps of a run that does not exist', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        await expect(
          store.recordStepDone(run.id, { ...done('export', 'e'), artifacts: { zip: '../../etc/passwd' } }),
        ).rejects.toThrow(ValidationError);
        await expect(store.recordStepStart('run-missing', 'export', 'e')).rejects.toThrow(NotFoundError);
        await expect(store.recordStepDone('run-missing', done('export', 'e'))).rejects.toThrow(NotFoundError);
      });
    });

    describe('step completion is idempotent (a step executed twice is journaled once)', () => {
      it('a second done of the same step and inputs, executed alongside the first, returns the first record and changes nothing', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        // Two workers took the same step (a stalled job handed over while its first worker still ran).
        await store.recordStepStart(run.id, 'generate:shot-01', 'g1');
        await store.recordStepStart(run.id, 'generate:shot-01', 'g1');
        const first = await store.recordStepDone(run.id, done('generate:shot-01', 'g1', 1));
        const second = await store.recordStepDone(run.id, done('generate:shot-01', 'g1', 2));
        expect(second).toEqual(first);
        expect(await store.listSteps(run.id)).toEqual([first]);
        expect((await store.findCompletedStep('lighthouse', 'generate:shot-01', 'g1'))?.artifacts).toEqual({
          image: sha(1),
        });
        // Both executions happened, and both are closed.
        expect((await store.listExecutions({ runId: run.id })).map((e) => e.outcome)).toEqual([
          'done',
          'done',
        ]);
      });

      it('a duplicate execution that fails after the step was done does not undo it', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        await store.recordStepStart(run.id, 'generate:shot-01', 'g1');
        await store.recordStepStart(run.id, 'generate:shot-01', 'g1');
        const first = await store.recordStepDone(run.id, done('generate:shot-01', 'g1'));
        const failed = await store.recordStepFailed(run.id, {
          stepId: 'generate:shot-01',
          inputHash: 'g1',
          error: { code: 'timeout', message: 'late worker timed out' },
          attempts: 1,
        });
        expect(failed).toEqual(first);
        expect((await store.listSteps(run.id)).map((s) => s.status)).toEqual(['done']);
        expect((await store.listExecutions({ runId: run.id })).map((e) => e.outcome).sort()).toEqual([
          'done',
          'failed',
        ]);
      });

      it('a start never hides that a step is done; an execution begun after it was done (--fresh) replaces the result', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        await store.recordStepDone(run.id, done('generate:shot-01', 'g1', 1));
        await new Promise((resolve) => setTimeout(resolve, 5)); // a later millisecond than that finish
        await store.recordStepStart(run.id, 'generate:shot-01', 'g1');
        expect((await store.listSteps(run.id)).map((s) => s.status)).toEqual(['done']);
        const again = await store.recordStepDone(run.id, done('generate:shot-01', 'g1', 3));
        expect(again.artifacts).toEqual({ image: sha(3) });
        expect((await store.findCompletedStep('lighthouse', 'generate:shot-01', 'g1'))?.artifacts).toEqual({
          image: sha(3),
        });
        expect(await store.listSteps(run.id)).toHaveLength(1);
      });

      it('a later run that executes the step again (the memo was unusable) takes the memo over', async () => {
        const { store } = await fresh();
        const a = await store.createRun(project());
        await store.recordStepDone(a.id, done('generate:shot-01', 'g1', 1));
        await store.setRunStatus(a.id, 'succeeded');
        const b = await store.createRun(project());
        await store.recordStepStart(b.id, 'generate:shot-01', 'g1');
        await store.recordStepDone(b.id, done('generate:shot-01', 'g1', 2));
        expect(await store.findCompletedStep('lighthouse', 'generate:shot-01', 'g1')).toMatchObject({
          runId: b.id,
          artifacts: { image: sha(2) },
        });
      });
    });

    describe('events', () => {
      it('numbers events 1, 2, 3… per run, pages them after a seq, and keeps numbering after pruning', async () => {
        const { store } = await fresh();
        const a = await store.createRun(project('a'));
        const b = await store.createRun(project('b'));
        const seqs: number[] = [];
        for (let i = 0; i < 25; i++) seqs.push(await store.appendEvent(a.id, 'progress', { i }));
        expect(seqs).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
        expect(await store.appendEvent(b.id, 'stage', { stage: 'sheet' })).toBe(1);
        expect(
          await store.appendEvents(a.id, [
            { type: 'x', payload: null },
            { type: 'y', payload: [1] },
          ]),
        ).toEqual([26, 27]);
        expect(await store.appendEvents(a.id, [])).toEqual([]);

        const page = await store.listEvents(a.id, { afterSeq: 10, limit: 5 });
        expect(page.map((e) => e.seq)).toEqual([11, 12, 13, 14, 15]);
        expect(page[0]).toMatchObject({ runId: a.id, type: 'progress', payload: { i: 10 } });
        // Times in one form on every store: ISO 8601 in UTC to the millisecond, as Date#toISOString writes them.
        for (const event of page) {
          expect(event.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          expect(new Date(event.at).toISOString()).toBe(event.at);
          expect(Math.abs(Date.parse(event.at) - Date.now())).toBeLessThan(60_000);
        }
        expect((await store.listEvents(a.id, { afterSeq: 25 })).map((e) => [e.type, e.payload])).toEqual([
          ['x', null],
          ['y', [1]],
        ]);

        expect(await store.pruneEvents(a.id, 5)).toBe(22);
        expect((await store.listEvents(a.id)).map((e) => e.seq)).toEqual([23, 24, 25, 26, 27]);
        expect(await store.pruneEvents(a.id, 0)).toBe(5);
        expect(await store.appendEvent(a.id, 'progress', {})).toBe(28);
        expect(await store.listEvents(b.id)).toHaveLength(1);
        await expect(store.appendEvent('run-missing', 'x', {})).rejects.toThrow(NotFoundError);
      });

      it('gives events appended at once strictly increasing seqs, each batch a contiguous block', async () => {
        const { store } = await fresh();
        const run = await store.createRun(project());
        const batches = await Promise.all(
          Array.from({ length: 8 }, (_, w) =>
            store.appendEvents(
              run.id,
              Array.from({ length: 5 }, (_, i) => ({ type: 'progress', payload: { w, i } })),
            ),
          ),
        );
        for (const batch of batches)
          expect(batch).toEqual(Array.from({ length: 5 }, (_, i) => batch[0]! + i));
        const seqs = (await store.listEvents(run.id)).map((e) => e.seq);
        expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      });

      it('numbers events in the order one process appended them, even without waiting between appends', async () => {
        // What the orchestrator and a worker rely on: they append each event as it happens and never wait, and
        // the log (what a reconnecting page replays) must still read in that order.
        const { store } = await fresh();
        const run = await store.createRun(project());
        const appended = await Promise.all(
          Array.from({ length: 30 }, (_, i) => store.appendEvent(run.id, 'progress', { i })),
        );
        expect(appended).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        const logged = (await store.listEvents(run.id)).map((e) => (e.payload as { i: number }).i);
        expect(logged).toEqual(Array.from({ length: 30 }, (_, i) => i));
      });
    });

    describe('pruning', () => {
      it('keeps the newest runs per project and the newest success, drops the memo rows only dropped runs used, and a dry run changes nothing', async () => {
        const { store } = await fresh();
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) {
          const run = await store.createRun(project());
          await store.recordStepDone(run.id, done(`generate:shot-0${i}`, `g${i}`, i + 1));
          await store.appendEvent(run.id, 'progress', { i });
          await store.setRunStatus(run.id, i === 0 ? 'succeeded' : 'failed');
          ids.push(run.id);
        }
        const [oldestSuccess, dropped, keptA, keptB] = ids as [string, string, string, string];
        const dry = await store.pruneRuns({ keepRuns: 2, dryRun: true });
        expect(dry.droppedRuns).toEqual([dropped]);
        expect(dry.droppedMemo).toBe(1);
        expect(await store.getRun(dropped)).toBeDefined();
        expect(await store.findCompletedStep('lighthouse', 'generate:shot-01', 'g1')).toBeDefined();

        const result = await store.pruneRuns({ keepRuns: 2 });
        expect(result.droppedRuns).toEqual([dropped]);
        expect(result.droppedMemo).toBe(1);
        expect([...result.referenced].sort()).toEqual([sha(1), sha(3), sha(4)]);
        expect(result.liveProjects).toEqual([]);
        expect(await store.getRun(dropped)).toBeUndefined();
        expect(await store.listEvents(dropped)).toEqual([]);
        expect(await store.countExecutions({ runId: dropped })).toBe(0);
        expect(await store.findCompletedStep('lighthouse', 'generate:shot-01', 'g1')).toBeUndefined();
        for (const id of [oldestSuccess, keptA, keptB]) expect(await store.getRun(id)).toBeDefined();
      });

      it('drops exactly the runs named (a user deleting them): newest success included, never a live one, other projects untouched', async () => {
        const { store } = await fresh();
        const first = await store.createRun(project());
        await store.recordStepDone(first.id, done('generate:shot-01', 'g1', 1));
        await store.setRunStatus(first.id, 'succeeded');
        const second = await store.createRun(project());
        await store.recordStepDone(second.id, done('generate:shot-02', 'g2', 2));
        await store.setRunStatus(second.id, 'succeeded');
        const other = await store.createRun(project('harbour'));
        await store.recordStepDone(other.id, done('generate:shot-01', 'h1', 3));
        await store.setRunStatus(other.id, 'succeeded');

        const result = await store.pruneRuns({ keepRuns: 0, dropRuns: [second.id] });
        expect(result.droppedRuns).toEqual([second.id]);
        expect(result.droppedMemo).toBe(1);
        expect([...result.referenced].sort()).toEqual([sha(1), sha(3)]);
        expect(await store.getRun(second.id)).toBeUndefined();
        expect(await store.findCompletedStep('lighthouse', 'generate:shot-02', 'g2')).toBeUndefined();
        expect(await store.findCompletedStep('lighthouse', 'generate:shot-01', 'g1')).toBeDefined();
        expect(await store.findCompletedStep('harbour', 'generate:shot-01', 'h1')).toBeDefined();
        expect(await store.getRun(other.id)).toBeDefined();

        const live = await store.createRun(project('harbour'));
        const refused = await store.pruneRuns({ keepRuns: 0, dropRuns: [live.id, first.id] });
        expect(refused.droppedRuns).toEqual([first.id]);
        expect(await store.getRun(live.id)).toBeDefined();
      });

      it('keeps every run and memo row of a project being generated', async () => {
        const { store } = await fresh();
        const old = await store.createRun(project());
        await store.recordStepDone(old.id, done('generate:shot-01', 'g1'));
        await store.setRunStatus(old.id, 'failed');
        await store.createRun(project()); // live
        const result = await store.pruneRuns({ keepRuns: 1 });
        expect(result).toMatchObject({ droppedRuns: [], droppedMemo: 0, liveProjects: ['lighthouse'] });
        expect(await store.findCompletedStep('lighthouse', 'generate:shot-01', 'g1')).toBeDefined();
      });
    });
  });
}
