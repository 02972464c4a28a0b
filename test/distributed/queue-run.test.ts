import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stableManifestView } from '../../src/stages/export/index.js';
import {
  assertCliBuilt,
  parseJsonLines,
  runCli,
  tempDir,
  testProject,
  writeTestProject,
  type RunningCli,
} from '../helpers/cli.js';
import { PostgresRunStore } from '../../src/store/postgres/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import {
  artifactFiles,
  runJournal,
  sharedArgs,
  startRedis,
  startWorker,
  stopWorker,
  type RedisServer,
  type Shared,
} from './cluster.js';

/**
 * The distributed runner end to end, with real processes, as a studio runs it by default: a throw-away PostgreSQL
 * cluster as the queue (BullMQ's PostgreSQL backend) and the shared journal (the same database), the compiled CLI as
 * two workers and as the coordinator (`generate --queue`), and an artifact folder the processes share (a Redis queue
 * is what the takeover and cancel suites use). The embedded run is the reference: the queue
 * must give the same frames and the same stable manifest.
 */

let tmp: { path: string; remove: () => Promise<void> };
let redis: RedisServer;
let postgres!: TestPostgres;
let store!: PostgresRunStore;
let shared: Shared;
const workers: RunningCli[] = [];

beforeAll(async () => {
  assertCliBuilt();
  tmp = await tempDir('queue-run');
  [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  store = await PostgresRunStore.open(postgres.url);
  shared = { queue: postgres.url, artifacts: join(tmp.path, 'shared-artifacts') };
  workers.push(await startWorker(shared), await startWorker(shared));
});
afterAll(async () => {
  await Promise.all(workers.map(stopWorker));
  await store?.close();
  await Promise.all([redis?.stop(), postgres?.stop()]);
  await tmp?.remove();
});

async function exportedFiles(outDir: string): Promise<{ dir: string; frames: Record<string, string> }> {
  const [dir] = (await readdir(outDir, { withFileTypes: true })).filter((d) => d.isDirectory());
  const root = join(outDir, dir!.name);
  const frames: Record<string, string> = {};
  for (const name of (await readdir(join(root, 'shots'))).sort()) {
    frames[name] = createHash('sha256')
      .update(await readFile(join(root, 'shots', name)))
      .digest('hex');
  }
  return { dir: root, frames };
}

async function stepsOf(runId: string): Promise<Array<{ stepId: string; status: string }>> {
  return store.listSteps(runId);
}

describe('a run on the queue', () => {
  it('with two workers gives the frames (sha256) and the stable manifest of an embedded run', async () => {
    const project = await writeTestProject(
      join(tmp.path, 'p1'),
      testProject({ id: 'queued', shots: 4, width: 160, height: 96 }),
    );
    const embeddedOut = join(tmp.path, 'embedded-out');
    const embedded = await runCli(
      ['generate', project, '-w', join(tmp.path, 'embedded-ws'), '-o', embeddedOut],
      {
        timeoutMs: 120_000,
      },
    );
    expect(embedded.code, embedded.stderr).toBe(0);

    const queuedOut = join(tmp.path, 'queued-out');
    const queued = await runCli(
      ['generate', project, ...sharedArgs(shared), '-w', join(tmp.path, 'coord-ws'), '-o', queuedOut],
      { timeoutMs: 120_000 },
    );
    expect(queued.code, queued.stderr).toBe(0);
    const events = parseJsonLines(queued.stdout);
    const result = events.at(-1)!;
    expect(result).toMatchObject({ type: 'result', success: true, executedSteps: 24, reusedSteps: 0 });
    // The same progress view as a single process: monotonic, ending at 100, every stage completed once.
    const progress = events.filter((e) => e.type === 'progress').map((e) => e['progress'] as number);
    expect(progress.at(-1)).toBe(100);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(events.filter((e) => e.type === 'stage-completed').map((e) => e['stage'])).toEqual([
      'grid',
      'comfyui',
      'promotion',
      'qa',
      'export',
    ]);
    // Both workers took jobs (the sheet job, then shots spread over the two).
    const byWorker = new Set(
      (await store.listEvents(result['runId'] as string, { limit: 10_000 }))
        .filter((e) => e.type === 'job-finished')
        .map((e) => (e.payload as { worker: string }).worker),
    );
    expect(byWorker.size).toBe(2);

    const a = await exportedFiles(embeddedOut);
    const b = await exportedFiles(queuedOut);
    expect(Object.keys(b.frames)).toHaveLength(4);
    expect(b.frames).toEqual(a.frames);
    const manifest = async (dir: string): Promise<unknown> =>
      stableManifestView(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
    expect(await manifest(b.dir)).toEqual(await manifest(a.dir));

    // Exactly one journal row and one execution per step; every artifact stored once (content-addressed).
    const runId = result['runId'] as string;
    const steps = await stepsOf(runId);
    expect(steps).toHaveLength(24);
    expect(new Set(steps.map((s) => s.stepId)).size).toBe(24);
    expect(steps.every((s) => s.status === 'done')).toBe(true);
    const executions = await store.listExecutions({ runId });
    expect(executions.map((e) => e.outcome)).toEqual(new Array(24).fill('done'));
    const files = await artifactFiles(shared.artifacts);
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(new Set(files).size).toBe(files.length);
  }, 180_000);

  it('run again unchanged, executes nothing: every step of the new run is reused', async () => {
    const before = await store.countExecutions();
    const project = join(tmp.path, 'p1', 'project.json');
    const again = await runCli(
      [
        'generate',
        project,
        ...sharedArgs(shared),
        '-w',
        join(tmp.path, 'coord-ws'),
        '-o',
        join(tmp.path, 'queued-out'),
      ],
      { timeoutMs: 120_000 },
    );
    expect(again.code, again.stderr).toBe(0);
    const result = parseJsonLines(again.stdout).at(-1)!;
    expect(result).toMatchObject({ success: true, executedSteps: 0, reusedSteps: 24 });
    expect(await store.countExecutions()).toBe(before);
    expect((await stepsOf(result['runId'] as string)).every((s) => s.status === 'reused')).toBe(true);
  }, 120_000);

  it('started by two coordinators at once is one run, both follow it, every step journaled and executed once', async () => {
    const project = await writeTestProject(
      join(tmp.path, 'p2'),
      testProject({ id: 'twice', shots: 3, width: 160, height: 96 }),
    );
    const args = (n: number): string[] => [
      'generate',
      project,
      ...sharedArgs(shared),
      '-w',
      join(tmp.path, `coord-ws-${n}`),
      '-o',
      join(tmp.path, 'twice-out'),
    ];
    const [one, two] = await Promise.all([
      runCli(args(1), { timeoutMs: 120_000 }),
      runCli(args(2), { timeoutMs: 120_000 }),
    ]);
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    const r1 = parseJsonLines(one.stdout).at(-1)!;
    const r2 = parseJsonLines(two.stdout).at(-1)!;
    expect(r1['runId']).toBe(r2['runId']);
    const runId = r1['runId'] as string;
    const { runs, steps: stepsFor, executions: executionsFor } = await runJournal(store, 'twice');
    expect(runs.map((r) => r.id)).toEqual([runId]);
    const steps = await stepsFor(runId);
    expect(steps).toHaveLength(9 + 1 + 3 * 3 + 2);
    expect(new Set(steps.map((s) => s.stepId)).size).toBe(steps.length);
    const mine = await executionsFor(runId);
    expect(mine).toHaveLength(steps.length);
    expect(new Set(mine.map((e) => e.stepId)).size).toBe(steps.length);
    expect(runs[0]?.status).toBe('succeeded');
  }, 180_000);
});

describe('bad input to the queue commands', () => {
  it('names what is wrong: a missing --artifacts, a bad URL, an unreachable queue server (without its password)', async () => {
    const project = await writeTestProject(
      join(tmp.path, 'p3'),
      testProject({ id: 'bad', shots: 1, width: 160, height: 96 }),
    );
    const noArtifacts = await runCli(['generate', project, '--queue', postgres.url]);
    const storeDown = await runCli(
      [
        'worker',
        '--queue',
        redis.url,
        '--store',
        'postgres://studio:s3cret@127.0.0.1:9/db',
        '--artifacts',
        shared.artifacts,
      ],
      { timeoutMs: 30_000 },
    );
    expect(storeDown.code).toBe(1);
    expect(storeDown.stderr).toMatch(/127\.0\.0\.1:9/);
    expect(storeDown.stderr).not.toContain('s3cret');
    expect(noArtifacts.code).toBe(2);
    expect(noArtifacts.stderr).toContain('needs --artifacts <dir|s3://bucket/prefix>');
    const badUrl = await runCli(['worker', '--queue', 'not a url', '--artifacts', shared.artifacts]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/not a url/);
    const down = await runCli(
      [
        'worker',
        '--queue',
        'redis://studio:s3cret@127.0.0.1:9',
        '--store',
        join(tmp.path, 'unused-store'),
        '--artifacts',
        shared.artifacts,
      ],
      { timeoutMs: 30_000 },
    );
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /127\.0\.0\.1:9\b.*(unreachable|refused)|(unreachable|refused).*127\.0\.0\.1:9\b/i,
    );
    expect(down.stderr).not.toContain('s3cret');
    const noStore = await runCli(['worker', '--queue', redis.url, '--artifacts', shared.artifacts]);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toContain('with a Redis queue, --store');
  }, 60_000);
});
