/**
 * `npm run bench:distributed`: 1,000 shots at 320×180 on 4 workers, each with its own ComfyUI double (100 ms per
 * shot, capacity 1: one server, no queue depth), a throw-away redis-server as the queue and a SQLite journal shared
 * by the processes. Prints the makespan of the shot phase against the ideal (1000 × 0.1 s ÷ 4 = 25 s; target ≤ 1.1),
 * the queue's overhead per job (the gap on a worker between one job's end and the next one's start: median, p95)
 * and the workers' event-loop delay (what BullMQ's lock renewal waits for at worst). The machine has 2 cores shared
 * with 6 processes here (4 workers, the coordinator, redis), so CPU work (promotion, QA, PNG, journal) competes
 * with the 100 ms waits: read the ratio with that in mind.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { REPO_ROOT, runCli, tempDir, testProject, writeTestProject } from '../test/helpers/cli.js';
import { startComfyDouble, type ComfyDouble } from '../test/support/comfyui-double/index.js';
import { sharedArgs, startRedis, startWorker, stopWorker } from '../test/distributed/cluster.js';

const SHOTS = Number(process.env['BENCH_DIST_SHOTS'] ?? 1000);
const WORKERS = Number(process.env['BENCH_DIST_WORKERS'] ?? 4);
const LATENCY_MS = 100;
const CKPT = 'sd_xl_base_1.0.safetensors';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const tmp = await tempDir('bench-dist');
const redis = await startRedis();
const doubles: ComfyDouble[] = [];
const workers: Awaited<ReturnType<typeof startWorker>>[] = [];
try {
  for (let i = 0; i < WORKERS; i++) {
    doubles.push(
      await startComfyDouble({ models: { checkpoints: [CKPT] }, samplerStepMs: LATENCY_MS, previews: false }),
    );
  }
  // The SDXL workflow with one sampler step: 100 ms of "GPU" per shot on the double.
  const sdxl = JSON.parse(
    await readFile(join(REPO_ROOT, 'examples/workflows/sdxl-text-to-image.json'), 'utf8'),
  ) as Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  for (const node of Object.values(sdxl)) if (node.class_type === 'KSampler') node.inputs['steps'] = 1;
  const workflow = join(tmp.path, 'one-step.json');
  await writeFile(workflow, JSON.stringify(sdxl));
  const backend = (url: string): string[] => [
    '--comfyui',
    url,
    '--workflow',
    workflow,
    '--panel-workflow',
    join(REPO_ROOT, 'examples/workflows/demo-model-free.json'),
    '--queue-depth',
    '0',
  ];
  const shared = { queue: redis.url, store: join(tmp.path, 'store'), artifacts: join(tmp.path, 'artifacts') };
  await mkdir(shared.store!, { recursive: true });
  for (const d of doubles) workers.push(await startWorker(shared, [...backend(d.url), '--concurrency', '1']));
  const base = testProject({ id: 'bench-dist', shots: SHOTS, width: 320, height: 180 }) as {
    shots: Array<Record<string, unknown>>;
  };
  const project = await writeTestProject(join(tmp.path, 'p'), {
    ...base,
    shots: base.shots.map((shot) => ({ ...shot, durationSeconds: 1 })),
    qa: { regenerateBudget: 0 },
    // A one-second still per shot at 1 fps: the animatic of 1,000 shots stays a short encode after the shot phase.
    output: { width: 320, height: 180, fps: 1 },
  });
  const started = performance.now();
  const result = await runCli(
    [
      'generate',
      project,
      ...sharedArgs(shared),
      ...backend(doubles[0]!.url),
      '-w',
      join(tmp.path, 'coord'),
      '-o',
      join(tmp.path, 'out'),
    ],
    { timeoutMs: 1_800_000 },
  );
  const wallMs = performance.now() - started;
  if (result.code !== 0) throw new Error(`generate --queue failed: ${result.stderr}`);

  const db = new Database(join(shared.store!, 'storycore.db'), { readonly: true });
  const finished = db
    .prepare("SELECT payload, at FROM events WHERE type = 'job-finished'")
    .all()
    .map((r) => {
      const row = r as { payload: string; at: string };
      const p = JSON.parse(row.payload) as { scope: string; worker: string; startedAt: string };
      return { ...p, start: Date.parse(p.startedAt), end: Date.parse(row.at) };
    });
  db.close();
  const shotJobs = finished.filter((j) => j.scope === 'shot');
  const makespanMs = Math.max(...shotJobs.map((j) => j.end)) - Math.min(...shotJobs.map((j) => j.start));
  const idealMs = (SHOTS * LATENCY_MS) / WORKERS;
  const gaps: number[] = [];
  for (const worker of new Set(shotJobs.map((j) => j.worker))) {
    const mine = shotJobs.filter((j) => j.worker === worker).sort((a, b) => a.start - b.start);
    for (let i = 1; i < mine.length; i++) gaps.push(Math.max(0, mine[i]!.start - mine[i - 1]!.end));
  }
  gaps.sort((a, b) => a - b);
  const perJob = shotJobs.map((j) => j.end - j.start).sort((a, b) => a - b);
  await Promise.all(workers.map(stopWorker));
  const lags = workers.map((w) => /event-loop delay p99 ([\d.]+) ms, max ([\d.]+) ms/.exec(w.stderr()));
  const ratio = makespanMs / idealMs;
  const rows: Array<[string, string]> = [
    [`shots / workers`, `${SHOTS} / ${WORKERS} (${LATENCY_MS} ms per shot on each worker's double)`],
    ['wall time (generate --queue, whole run)', `${(wallMs / 1000).toFixed(1)} s`],
    ['makespan of the shot jobs', `${(makespanMs / 1000).toFixed(1)} s`],
    ['ideal (shots × latency ÷ workers)', `${(idealMs / 1000).toFixed(1)} s`],
    ['makespan ÷ ideal', `${ratio.toFixed(2)} (target ≤ 1.1: ${ratio <= 1.1 ? 'met' : 'not met'})`],
    ['shot job duration median / p95', `${percentile(perJob, 50)} / ${percentile(perJob, 95)} ms`],
    ['queue overhead per job (Redis) median / p95', `${percentile(gaps, 50)} / ${percentile(gaps, 95)} ms`],
    [
      'worker event-loop delay p99 / max (worst worker)',
      `${Math.max(...lags.map((m) => Number(m?.[1] ?? NaN))).toFixed(1)} / ${Math.max(...lags.map((m) => Number(m?.[2] ?? NaN))).toFixed(1)} ms (lock 30000 ms, renewed every 15000 ms)`,
    ],
    [
      'executions on the doubles (shots)',
      String(
        doubles.reduce(
          (n, d) =>
            n +
            d.submitted.filter((s) =>
              Object.values(s.prompt).some((x) => (x as { class_type?: string }).class_type === 'KSampler'),
            ).length,
          0,
        ),
      ),
    ],
  ];
  console.log('\ndistributed runner (BullMQ on Redis, SQLite journal shared on one host)');
  for (const [name, value] of rows) console.log(`  ${name.padEnd(52)} ${value}`);
} finally {
  await Promise.all(workers.map(stopWorker));
  await Promise.all(doubles.map((d) => d.close()));
  await redis.stop();
  await tmp.remove();
}
