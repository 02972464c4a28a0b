import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueueConnection } from '../../src/distributed/queue/index.js';
import { PostgresRunStore } from '../../src/store/postgres/index.js';
import {
  REPO_ROOT,
  assertCliBuilt,
  parseJsonLines,
  runCli,
  startCli,
  tempDir,
  testProject,
  writeTestProject,
  type RunningCli,
} from '../helpers/cli.js';
import { launchBrowser, newPage } from '../helpers/browser.js';
import { readSse, type SseMessage } from '../helpers/sse.js';
import { startComfyDouble, type ComfyDouble } from '../support/comfyui-double/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { sharedArgs, startWorker, stopWorker, type Shared } from './cluster.js';

/**
 * `storycore serve --queue`: the studio as a front end of the shared engine, with real processes — a throw-away
 * PostgreSQL cluster as the queue and the journal, two `storycore worker`s on the ComfyUI test double, the studio as
 * a `storycore serve` child on loopback, and `generate`/`resume --queue` as other machines would run them. The
 * double's `stall-jobs` fault holds a run mid-way, so "mid-run" is a state, not a race. One check drives the studio's
 * UI in Debian's chromium (as the studio's browser tests do).
 */

const SDXL = join(REPO_ROOT, 'examples/workflows/sdxl-text-to-image.json');
let tmp: { path: string; remove: () => Promise<void> };
let postgres: TestPostgres;
let store: PostgresRunStore;
let double: ComfyDouble;
let shared: Shared;
const workers: RunningCli[] = [];
const studios: RunningCli[] = [];

beforeAll(async () => {
  assertCliBuilt();
  tmp = await tempDir('serve-queue');
  postgres = await startPostgres();
  // 30 sampler steps of 10 ms: a frame takes ~0.3 s, so a run lasts a few seconds.
  double = await startComfyDouble({
    models: { checkpoints: ['sd_xl_base_1.0.safetensors'] },
    samplerStepMs: 10,
    previews: false,
  });
  store = await PostgresRunStore.open(postgres.url);
  shared = { queue: postgres.url, artifacts: join(tmp.path, 'artifacts') };
  const backend = ['--comfyui', double.url, '--workflow', SDXL];
  workers.push(await startWorker(shared, backend), await startWorker(shared, backend));
});
afterAll(async () => {
  double?.clearFaults();
  await Promise.all(studios.map(stopStudio));
  await Promise.all(workers.map(stopWorker));
  await store?.close();
  await double?.close();
  await postgres?.stop();
  await tmp?.remove();
});

interface Studio {
  cli: RunningCli;
  origin: string;
}

/** `storycore serve --queue …` on a free port; resolves with its address once it printed it. */
async function startStudio(extra: string[] = []): Promise<Studio> {
  const cli = startCli(
    [
      '-w',
      join(tmp.path, 'studio-ws'),
      'serve',
      '--port',
      '0',
      ...sharedArgs(shared),
      '--out',
      join(tmp.path, 'exports'),
      ...extra,
    ],
    { timeoutMs: 600_000 },
  );
  studios.push(cli);
  const line = await cli.waitForLine((l) => l.startsWith('StoryCore studio: '), 60_000);
  return { cli, origin: line.slice('StoryCore studio: '.length) };
}

async function stopStudio(cli: RunningCli): Promise<void> {
  if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
  cli.child.kill('SIGTERM');
  await cli.exited;
}

async function call<T>(
  studio: Studio,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const response = await fetch(`${studio.origin}${path}`, {
    method: init.method ?? 'GET',
    ...(init.body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

const comfyui = (): Record<string, unknown> => ({
  backend: 'comfyui',
  servers: [double.url],
  workflow: SDXL,
});

async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A project of the studio (its projects folder), created through the API. */
async function createProject(studio: Studio, id: string, shots: number): Promise<void> {
  await call(studio, '/api/projects', {
    method: 'POST',
    body: { ...testProject({ id, shots, width: 160, height: 96 }), qa: { regenerateBudget: 0 } },
  });
}

const progressOf = (messages: SseMessage[]): number[] =>
  messages
    .filter((m) => m.event === 'progress')
    .map((m) => (JSON.parse(m.data) as { progress: number }).progress);

interface RunInfo {
  id: string;
  status: string;
  live: boolean;
  projectId: string;
}

describe('the studio on a queue', () => {
  it('starts a run from the HTTP API that the workers complete: its event stream shows progress to 100 %, its results and export come from the shared storage', async () => {
    const studio = await startStudio();
    expect(await call(studio, '/api/health')).toMatchObject({ ok: true, engine: 'queue' });
    await createProject(studio, 'from-studio', 4);
    const { runId } = await call<{ runId: string }>(studio, '/api/projects/from-studio/runs', {
      method: 'POST',
      body: comfyui(),
    });
    const stream = await readSse(`${studio.origin}/api/runs/${runId}/events`, {
      until: (m) => m.event === 'end',
    });
    const progress = progressOf(stream.messages);
    expect(progress.at(-1)).toBe(100);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const finished = stream.messages.find((m) => m.event === 'run-finished');
    expect(JSON.parse(finished!.data)).toMatchObject({ status: 'succeeded' });
    // Executed on the workers, none in the studio: every job was finished by a worker process.
    const jobs = stream.messages.filter((m) => m.event === 'job-finished').map((m) => JSON.parse(m.data));
    const studioPid = String(studio.cli.child.pid);
    expect(jobs.length).toBe(1 + 4 + 1);
    expect(jobs.every((j: { worker: string }) => !j.worker.endsWith(`:${studioPid}`))).toBe(true);
    const executions = await store.listExecutions({ runId, limit: 1000 });
    expect(executions).toHaveLength(9 + 1 + 4 * 3 + 2);

    const run = await call<RunInfo & { progress: number }>(studio, `/api/runs/${runId}`);
    expect(run).toMatchObject({ status: 'succeeded', live: false, progress: 100 });
    const results = await call<{ frames: Array<{ imageUrl: string }>; exportPackageUrl: string }>(
      studio,
      `/api/runs/${runId}/results`,
    );
    expect(results.frames).toHaveLength(4);
    const frame = await fetch(`${studio.origin}${results.frames[0]!.imageUrl}`);
    expect(frame.status).toBe(200);
    expect(frame.headers.get('content-type')).toBe('image/png');
    const zip = await fetch(`${studio.origin}${results.exportPackageUrl}`);
    expect(zip.status).toBe(200);
    expect((await zip.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    // Deleted from the studio: gone from the shared journal, its export gone from the studio's export folder.
    const deleted = await call<{ deleted: string[]; removedExports: string[] }>(
      studio,
      `/api/runs/${runId}`,
      {
        method: 'DELETE',
      },
    );
    expect(deleted.deleted).toEqual([runId]);
    expect(deleted.removedExports.length).toBe(2);
    expect(await store.getRun(runId)).toBeUndefined();
    expect((await fetch(`${studio.origin}/api/runs/${runId}`)).status).toBe(404);
    await stopStudio(studio.cli);
  }, 180_000);

  it('lists and follows a run that `generate --queue` started in another process, and cancels it: the coordinator stops, the workers drop its jobs', async () => {
    const studio = await startStudio();
    const project = await writeTestProject(join(tmp.path, 'elsewhere'), {
      ...testProject({ id: 'elsewhere', shots: 6, width: 160, height: 96 }),
      qa: { regenerateBudget: 0 },
    });
    const coordinator = startCli(
      [
        'generate',
        project,
        ...sharedArgs(shared),
        '--comfyui',
        double.url,
        '--workflow',
        SDXL,
        '-w',
        join(tmp.path, 'coord-ws'),
        '-o',
        join(tmp.path, 'exports'),
      ],
      { timeoutMs: 180_000 },
    );
    const listed = await until('the run in the studio, live', async () => {
      const { runs } = await call<{ runs: RunInfo[] }>(studio, '/api/runs?project=elsewhere');
      return runs.find((r) => r.live);
    });
    // Held mid-run: the job a worker is running stalls on the double until the faults are cleared.
    double.inject({ kind: 'stall-jobs' });
    try {
      const controller = new AbortController();
      const following = readSse(`${studio.origin}/api/runs/${listed.id}/events`, {
        until: (m) => m.event === 'end',
        signal: controller.signal,
      });
      await until('a job active on a worker', async () => (await activeJobs()) > 0);
      const submitted = double.submitted.length;
      const cancel = await fetch(`${studio.origin}/api/runs/${listed.id}/cancel`, { method: 'POST' });
      expect(cancel.status).toBe(202);
      const exit = await coordinator.exited;
      expect(exit.code, coordinator.stderr()).toBe(130);
      expect(coordinator.stdout()).toContain('cancelled by another process');
      const stream = await following;
      expect(stream.messages.some((m) => m.event === 'step-started')).toBe(true);
      const end = stream.messages.at(-1)!;
      expect(end.event).toBe('end');
      expect(JSON.parse(end.data)).toMatchObject({ status: 'cancelled' });
      expect((await store.getRun(listed.id))?.status).toBe('cancelled');
      // The workers stop the running job (they poll the run's status) and nothing of the run is left waiting.
      await until('no job of the run active', async () => (await activeJobs()) === 0, 20_000);
      expect(await waitingJobs()).toBe(0);
      double.clearFaults();
      await sleep(2000);
      expect(double.submitted.length).toBe(submitted);
    } finally {
      double.clearFaults();
      await stopStudio(studio.cli);
    }
  }, 240_000);

  it('restarted mid-run, still shows the run live and its progress keeps coming: the new studio adopts it and it completes', async () => {
    const studio = await startStudio();
    await createProject(studio, 'restarted', 4);
    const { runId } = await call<{ runId: string }>(studio, '/api/projects/restarted/runs', {
      method: 'POST',
      body: comfyui(),
    });
    double.inject({ kind: 'stall-jobs' });
    let lastEventId = '0';
    try {
      const before = await readSse(`${studio.origin}/api/runs/${runId}/events`, {
        until: (m) => m.event === 'step-started',
      });
      lastEventId = before.messages.filter((m) => m.id !== undefined).at(-1)!.id!;
      await stopStudio(studio.cli);
      expect(studio.cli.stderr()).toContain('queued runs keep running on the workers');
      // Left, not cancelled: the run is still running in the shared store.
      expect((await store.getRun(runId))?.status).toBe('running');

      const again = await startStudio();
      const shown = await until('the run live in the restarted studio', async () => {
        const run = await call<RunInfo>(again, `/api/runs/${runId}`);
        return run.live ? run : undefined;
      });
      expect(shown.status).toBe('running');
      expect((await fetch(`${again.origin}/api/runs/${runId}`, { method: 'DELETE' })).status).toBe(409);
      double.clearFaults();
      const after = await readSse(`${again.origin}/api/runs/${runId}/events`, {
        headers: { 'last-event-id': lastEventId },
        until: (m) => m.event === 'end',
      });
      expect(Number(after.messages.find((m) => m.id !== undefined)!.id)).toBeGreaterThan(Number(lastEventId));
      expect(progressOf(after.messages).at(-1)).toBe(100);
      const finished = after.messages.find((m) => m.event === 'run-finished');
      expect(JSON.parse(finished!.data)).toMatchObject({ status: 'succeeded' });
      // One run, every step journaled once.
      expect((await store.listRuns({ projectId: 'restarted' })).map((r) => r.id)).toEqual([runId]);
      const steps = await store.listSteps(runId);
      expect(steps).toHaveLength(9 + 1 + 4 * 3 + 2);
      expect(new Set(steps.map((s) => s.stepId)).size).toBe(steps.length);
      await stopStudio(again.cli);
    } finally {
      double.clearFaults();
    }
  }, 240_000);

  it('resume of a failed queued run on the queue redoes nothing finished; without --queue it says which flags it needs', async () => {
    const project = await writeTestProject(join(tmp.path, 'failing'), {
      ...testProject({ id: 'failing', shots: 8, width: 160, height: 96 }),
      qa: { regenerateBudget: 0 },
    });
    const args = (command: string[]): string[] => [
      ...command,
      ...sharedArgs(shared),
      '-w',
      join(tmp.path, 'coord-ws'),
      '--retry-attempts',
      '1',
    ];
    const generate = startCli(
      [
        ...args(['generate', project]),
        '--comfyui',
        double.url,
        '--workflow',
        SDXL,
        '-o',
        join(tmp.path, 'exports'),
      ],
      { timeoutMs: 180_000 },
    );
    // Once a first shot is through, the double refuses every new prompt: the shots not submitted yet fail.
    const runId = await until('a first shot done', async () => {
      const [run] = await store.listRuns({ projectId: 'failing', limit: 1 });
      if (!run) return undefined;
      const steps = await store.listSteps(run.id);
      return steps.some((s) => s.stepId.startsWith('qa:') && s.status === 'done') ? run.id : undefined;
    });
    double.inject({ kind: 'http-500', route: '/prompt' });
    const failed = await generate.exited;
    double.clearFaults();
    expect(failed.code, generate.stderr()).toBe(1);
    expect((await store.getRun(runId))?.status).toBe('failed');
    const finishedBefore = (await store.listSteps(runId))
      .filter((s) => s.status === 'done')
      .map((s) => s.stepId);
    const failedShots = (await store.listSteps(runId)).filter((s) => s.status === 'failed');
    expect(failedShots.length).toBeGreaterThan(0);
    const executionsBefore = await store.listExecutions({ runId, limit: 10_000 });

    const local = await runCli(['resume', runId, '-w', join(tmp.path, 'coord-ws')]);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain(runId);
    expect(local.stderr).toContain('--queue <url>');
    expect(local.stderr).not.toMatch(/\n\s+at /);

    const resumed = await runCli(args(['resume', runId]), { timeoutMs: 180_000 });
    expect(resumed.code, `${resumed.stderr}\n${resumed.stdout.slice(-3000)}`).toBe(0);
    const result = parseJsonLines(resumed.stdout).at(-1)!;
    expect(result).toMatchObject({ type: 'result', success: true, runId });
    expect((await store.getRun(runId))?.status).toBe('succeeded');
    const executionsAfter = await store.listExecutions({ runId, limit: 10_000 });
    const before = new Set(executionsBefore.map((e) => e.id));
    const redone = executionsAfter.filter((e) => !before.has(e.id)).map((e) => e.stepId);
    // Nothing that had finished ran again; the failed shots, the export and the animatic did.
    expect(redone.filter((id) => finishedBefore.includes(id))).toEqual([]);
    expect(redone).toEqual(expect.arrayContaining(['export', 'animatic']));
    expect(new Set(redone.filter((id) => id.startsWith('generate:'))).size).toBe(failedShots.length);
    const steps = await store.listSteps(runId);
    expect(steps.filter((s) => s.status === 'done')).toHaveLength(9 + 1 + 8 * 3 + 2);
  }, 300_000);

  it('says so when no worker takes a job of a run, in the CLI progress and in the studio', async () => {
    const studio = await startStudio();
    const project = await writeTestProject(
      join(tmp.path, 'lonely'),
      testProject({ id: 'lonely', shots: 2, width: 160, height: 96 }),
    );
    // A queue no worker listens to.
    const coordinator = startCli(
      [
        'generate',
        project,
        ...sharedArgs(shared),
        '--queue-name',
        'nobody-listens',
        '--idle-warning',
        '1',
        '-w',
        join(tmp.path, 'coord-ws'),
        '-o',
        join(tmp.path, 'exports'),
      ],
      { timeoutMs: 120_000 },
    );
    try {
      const line = await coordinator.waitForLine((l) => l.includes('"type":"warning"'), 60_000);
      const warning = JSON.parse(line) as { message: string };
      expect(warning.message).toMatch(
        /^no worker has taken a job of run run-\S+ for 1 s: start `storycore worker --queue /,
      );
      expect(warning.message).not.toContain(postgres.password);
      const [run] = await store.listRuns({ projectId: 'lonely', limit: 1 });
      const stream = await readSse(`${studio.origin}/api/runs/${run!.id}/events`, {
        until: (m) => m.event === 'warning',
      });
      expect(JSON.parse(stream.messages.at(-1)!.data)).toMatchObject({ message: warning.message });
      // Once per run.
      await sleep(2500);
      expect(coordinator.lines().filter((l) => l.includes('"type":"warning"'))).toHaveLength(1);
    } finally {
      coordinator.child.kill('SIGINT');
      await coordinator.exited;
      await stopStudio(studio.cli);
    }
  }, 180_000);

  it('in a browser: a run on a queue no worker serves shows the warning in the progress modal, and Cancel there cancels it', async () => {
    const studio = await startStudio(['--queue-name', 'nobody-listens', '--idle-warning', '1']);
    await createProject(studio, 'in-browser', 2);
    const browser = await launchBrowser();
    try {
      const page = await newPage(browser);
      await page.goto(`${studio.origin}#/projects/in-browser`);
      await page.getByRole('button', { name: 'Generate' }).click();
      const dialog = page.getByRole('dialog');
      const warnings = dialog.getByRole('list', { name: 'Warnings' });
      await warnings.waitFor({ timeout: 60_000 });
      expect(await warnings.textContent()).toMatch(/no worker has taken a job of run run-\S+ for 1 s/);
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.getByRole('heading', { name: 'Generation cancelled' }).waitFor();
      const [run] = await store.listRuns({ projectId: 'in-browser', limit: 1 });
      expect(run?.status).toBe('cancelled');
    } finally {
      await browser.close();
      await stopStudio(studio.cli);
    }
  }, 180_000);
});

/** Jobs of the storycore queue that a worker runs now / that wait for one. */
async function activeJobs(): Promise<number> {
  const connection = await openQueueConnection(postgres.url);
  try {
    return await connection.queue('storycore').getActiveCount();
  } finally {
    await connection.close();
  }
}

async function waitingJobs(): Promise<number> {
  const connection = await openQueueConnection(postgres.url);
  try {
    const counts = await connection
      .queue('storycore')
      .getJobCounts('waiting', 'prioritized', 'delayed', 'waiting-children');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  } finally {
    await connection.close();
  }
}
