/**
 * `npm run bench:distributed`: 1,000 shots at 320×180 on 4 workers, each with its own ComfyUI double (100 ms per
 * shot, capacity 1: one execution at a time), in the two topologies side by side:
 * - PostgreSQL: BullMQ and the run journal in one throw-away PostgreSQL server (the default topology);
 * - Redis: BullMQ on a throw-away redis-server (noeviction, AOF), the journal in a SQLite file the processes share.
 * Prints the makespan of the shot phase against the ideal (1000 × 0.1 s ÷ 4 = 25 s; target ≤ 1.1), the queue's
 * overhead per job (the gap on a worker between one job's end and the next one's start: median, p95), the
 * workers' event-loop delay (what BullMQ's lock renewal waits for at worst) and the CPU time per shot.
 *
 * Workers run with the product's defaults: concurrency = backend capacity, and one job queued on each server
 * behind the running one (`--queue-depth` 1), so a server starts its next shot while the worker downloads,
 * promotes and checks the previous one. The machine has 2 cores shared by everything here (4 workers, the
 * coordinator, the queue's server, the doubles in this process): once the CPU work per shot exceeds
 * 2 cores × 100 ms ÷ 4 workers = 50 ms, the ratio measures the CPU, not the queue; the CPU rows say which.
 *
 * QA: the double draws random colour fields unrelated to the sheet, so with default thresholds every frame
 * "drifts" from the sheet's palette and is "too soft", and autofix runs three passes on each (~50 ms of CPU, about
 * the whole budget above). A model conditioned on the sheet does not do that to every frame; the project here
 * widens those two limits so QA measures each frame and passes it. `BENCH_DIST_QA=default` keeps the defaults.
 * `BENCH_DIST_TOPOLOGIES=postgres` (or `redis`) runs one; `BENCH_DIST_SHOTS` / `BENCH_DIST_WORKERS` scale it.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, tempDir, testProject, writeTestProject } from '../test/helpers/cli.js';
import { startComfyDouble, type ComfyDouble } from '../test/support/comfyui-double/index.js';
import { startPostgres } from '../test/support/postgres.js';
import {
  isShotPrompt,
  startCoordinator,
  startRedis,
  startWorker,
  stopWorker,
} from '../test/distributed/cluster.js';
import { openSharedRunStore } from '../src/distributed/locations.js';

const SHOTS = Number(process.env['BENCH_DIST_SHOTS'] ?? 1000);
const WORKERS = Number(process.env['BENCH_DIST_WORKERS'] ?? 4);
const TOPOLOGIES = (process.env['BENCH_DIST_TOPOLOGIES'] ?? 'postgres,redis').split(',') as Array<
  'postgres' | 'redis'
>;
const DEFAULT_QA = process.env['BENCH_DIST_QA'] === 'default';
const LATENCY_MS = 100;
const CKPT = 'sd_xl_base_1.0.safetensors';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** CPU time (user + system, all threads) a live process has used so far, ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/**
 * The queue's (and journal's) server processes: PostgreSQL's postmaster (found by its data folder) and its backends
 * (its children), or the redis-server on `port`. Their CPU is part of what the run costs the machine.
 */
function serverPids(server: { port: number; dataDir?: string }): number[] {
  const procs = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => {
      try {
        const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
        const ppid = Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
        return { pid: Number(name), ppid, cmdline };
      } catch {
        return undefined; // gone meanwhile
      }
    })
    .filter((p) => p !== undefined);
  if (server.dataDir !== undefined) {
    const root = procs.find((p) => p.cmdline.includes(server.dataDir!) && /postgres/.test(p.cmdline));
    return root === undefined
      ? []
      : [root.pid, ...procs.filter((p) => p.ppid === root.pid).map((p) => p.pid)];
  }
  return procs
    .filter((p) => p.cmdline.startsWith('redis-server') && p.cmdline.includes(`:${server.port}`))
    .map((p) => p.pid);
}

interface Measured {
  rows: Array<[string, string]>;
}

async function measure(topology: 'postgres' | 'redis'): Promise<Measured> {
  const tmp = await tempDir('bench-dist');
  const server = topology === 'postgres' ? await startPostgres() : await startRedis();
  const doubles: ComfyDouble[] = [];
  const workers: Awaited<ReturnType<typeof startWorker>>[] = [];
  try {
    for (let i = 0; i < WORKERS; i++) {
      doubles.push(
        await startComfyDouble({
          models: { checkpoints: [CKPT] },
          samplerStepMs: LATENCY_MS,
          previews: false,
        }),
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
    ];
    const storeDir = join(tmp.path, 'store');
    const shared =
      topology === 'postgres'
        ? { queue: server.url, artifacts: join(tmp.path, 'artifacts') }
        : { queue: server.url, store: storeDir, artifacts: join(tmp.path, 'artifacts') };
    await mkdir(storeDir, { recursive: true });
    for (const d of doubles) workers.push(await startWorker(shared, backend(d.url)));
    const base = testProject({ id: 'bench-dist', shots: SHOTS, width: 320, height: 180 }) as {
      shots: Array<Record<string, unknown>>;
    };
    const project = await writeTestProject(join(tmp.path, 'p'), {
      ...base,
      shots: base.shots.map((shot) => ({ ...shot, durationSeconds: 1 })),
      qa: DEFAULT_QA
        ? { regenerateBudget: 0 }
        : { regenerateBudget: 0, thresholds: { paletteDriftMax: 200, sharpnessMin: 0 } },
      // A one-second still per shot at 1 fps: the animatic of 1,000 shots stays a short encode after the shot phase.
      output: { width: 320, height: 180, fps: 1 },
    });
    // CPU of every process of ours (workers, coordinator, the doubles in this one), sampled through the run, so the
    // CPU spent during the shot phase alone can be read off between its first start and last end.
    const cpuSamples: Array<{ at: number; parts: number[] }> = [];
    const coordinator = startCoordinator(project, shared, backend(doubles[0]!.url), tmp.path, 1_800_000);
    const servers = serverPids(server);
    const sumCpu = (pids: number[]): number => {
      let ms = 0;
      for (const pid of pids) {
        try {
          ms += cpuMs(pid);
        } catch {
          // exited between samples
        }
      }
      return ms;
    };
    const sample = (): void => {
      const self = process.cpuUsage();
      cpuSamples.push({
        at: Date.now(),
        parts: [
          sumCpu(workers.map((w) => w.child.pid!)),
          sumCpu([coordinator.child.pid!]),
          (self.user + self.system) / 1000,
          // PostgreSQL starts a backend per new connection: looked up again at every sample.
          sumCpu(topology === 'postgres' ? serverPids(server) : servers),
        ],
      });
    };
    sample();
    const sampler = setInterval(sample, 200);
    const started = performance.now();
    const exit = await coordinator.exited;
    clearInterval(sampler);
    const wallMs = performance.now() - started;
    if (exit.code !== 0) throw new Error(`generate --queue (${topology}) failed: ${coordinator.stderr()}`);
    const { store } = await openSharedRunStore(topology === 'postgres' ? server.url : storeDir);
    const [run] = await store.listRuns({ limit: 1 });
    const finished: Array<{ scope: string; worker: string; start: number; end: number }> = [];
    const stages = new Map<string, number[]>();
    for (let after = 0; ;) {
      const page = await store.listEvents(run!.id, { afterSeq: after, limit: 5000 });
      if (page.length === 0) break;
      after = page.at(-1)!.seq;
      for (const event of page) {
        if (event.type === 'job-finished') {
          const p = event.payload as { scope: string; worker: string; startedAt: string };
          finished.push({ ...p, start: Date.parse(p.startedAt), end: Date.parse(event.at) });
        } else if (event.type === 'step-completed') {
          const p = event.payload as { stage: string; durationMs: number };
          stages.set(p.stage, [...(stages.get(p.stage) ?? []), p.durationMs]);
        }
      }
    }
    await store.close();
    const shotJobs = finished.filter((j) => j.scope === 'shot');
    const makespanMs = Math.max(...shotJobs.map((j) => j.end)) - Math.min(...shotJobs.map((j) => j.start));
    const idealMs = (SHOTS * LATENCY_MS) / WORKERS;
    // The queue's overhead: on each worker, from a job's end (a slot freed, jobs waiting) to the start of the job
    // that took the slot — ends matched to later starts in time order, as BullMQ refills one slot per finished job.
    const gaps: number[] = [];
    for (const worker of new Set(shotJobs.map((j) => j.worker))) {
      const mine = shotJobs.filter((j) => j.worker === worker);
      const starts = mine.map((j) => j.start).sort((a, b) => a - b);
      const ends = mine.map((j) => j.end).sort((a, b) => a - b);
      let e = 0;
      // The jobs that started before any ended filled the slots; each later start took the slot of an end before it.
      for (const start of starts.filter((t) => t >= ends[0]!)) {
        if (e < ends.length && ends[e]! <= start) gaps.push(start - ends[e++]!);
      }
    }
    gaps.sort((a, b) => a - b);
    const perJob = shotJobs.map((j) => j.end - j.start).sort((a, b) => a - b);
    const firstStart = Math.min(...shotJobs.map((j) => j.start));
    const lastEnd = Math.max(...shotJobs.map((j) => j.end));
    // What each double really spent per execution (its "GPU" time: the 100 ms sampler plus decoding and saving the
    // picture, from its history's execution_start/execution_success) and the busiest double's total in the shot
    // phase: the makespan no scheduler could beat with these servers.
    const busy: number[] = [];
    const executionMs: number[] = [];
    for (const d of doubles) {
      const history = (await (await fetch(`${d.url}/history`)).json()) as Record<
        string,
        { status?: { messages?: Array<[string, { timestamp: number }]> } }
      >;
      let total = 0;
      for (const entry of Object.values(history)) {
        const messages = entry.status?.messages ?? [];
        const start = messages.find(([type]) => type === 'execution_start')?.[1].timestamp;
        const end = messages.find(([type]) => type === 'execution_success')?.[1].timestamp;
        if (start === undefined || end === undefined || start < firstStart - 1000) continue;
        executionMs.push(end - start);
        total += end - start;
      }
      busy.push(total);
    }
    executionMs.sort((a, b) => a - b);
    const busiestMs = Math.max(...busy);
    const cpuAt = (t: number): number[] => (cpuSamples.find((x) => x.at >= t) ?? cpuSamples.at(-1)!).parts;
    // Workers, coordinator, doubles (this process), the queue's server: CPU spent in the shot phase, ms per shot.
    const perShot = cpuAt(lastEnd).map((ms, i) => (ms - cpuAt(firstStart)[i]!) / SHOTS);
    const shotPhaseCpuMs = perShot.reduce((a, b) => a + b, 0) * SHOTS;
    // The least the shot phase could take with this much CPU on the machine's cores, whatever the queue did.
    const cpuFloorMs = shotPhaseCpuMs / availableParallelism();
    const stepMedian = (stage: string): number =>
      percentile(
        (stages.get(stage) ?? []).sort((a, b) => a - b),
        50,
      );
    await Promise.all(workers.map(stopWorker));
    const lags = workers.map((w) => /event-loop delay p99 ([\d.]+) ms, max ([\d.]+) ms/.exec(w.stderr()));
    const ratio = makespanMs / idealMs;
    const executions = doubles.reduce((n, d) => n + d.submitted.filter(isShotPrompt).length, 0);
    return {
      rows: [
        ['wall time (generate --queue, whole run)', `${(wallMs / 1000).toFixed(1)} s`],
        ['makespan of the shot jobs', `${(makespanMs / 1000).toFixed(1)} s`],
        ['makespan ÷ ideal (target ≤ 1.1)', `${ratio.toFixed(2)} (${ratio <= 1.1 ? 'met' : 'not met'})`],
        [
          'double execution median / p95; busiest double busy',
          `${percentile(executionMs, 50)} / ${percentile(executionMs, 95)} ms; ${(busiestMs / 1000).toFixed(1)} s (makespan ÷ it ${(makespanMs / busiestMs).toFixed(2)})`,
        ],
        ['shot job duration median / p95', `${percentile(perJob, 50)} / ${percentile(perJob, 95)} ms`],
        [
          'step median: comfyui / promotion / qa',
          `${stepMedian('comfyui')} / ${stepMedian('promotion')} / ${stepMedian('qa')} ms`,
        ],
        ['queue overhead per job median / p95', `${percentile(gaps, 50)} / ${percentile(gaps, 95)} ms`],
        [
          'worker event-loop delay p99 / max (worst)',
          `${Math.max(...lags.map((m) => Number(m?.[1] ?? NaN))).toFixed(1)} / ${Math.max(...lags.map((m) => Number(m?.[2] ?? NaN))).toFixed(1)} ms`,
        ],
        [
          'CPU per shot in the shot phase (every process)',
          `${(shotPhaseCpuMs / SHOTS).toFixed(1)} ms (budget ${((availableParallelism() * LATENCY_MS) / WORKERS).toFixed(0)} ms)`,
        ],
        [
          '  workers / coordinator / doubles / queue server',
          perShot.map((ms) => ms.toFixed(1)).join(' / ') + ' ms',
        ],
        [
          `CPU floor (its CPU ÷ ${availableParallelism()} cores) ÷ ideal`,
          `${(cpuFloorMs / idealMs).toFixed(2)}; makespan ÷ max(floor, ideal) ${(makespanMs / Math.max(cpuFloorMs, idealMs)).toFixed(2)}`,
        ],
        ['executions on the doubles (shots)', String(executions)],
      ],
    };
  } finally {
    await Promise.all(workers.map(stopWorker));
    await Promise.all(doubles.map((d) => d.close()));
    await server.stop();
    await tmp.remove();
  }
}

const results = new Map<string, Measured>();
for (const topology of TOPOLOGIES) results.set(topology, await measure(topology));
console.log(
  `\ndistributed runner: ${SHOTS} shots at 320×180 on ${WORKERS} workers, ${LATENCY_MS} ms per shot on each worker's double; ideal ${((SHOTS * LATENCY_MS) / WORKERS / 1000).toFixed(1)} s${DEFAULT_QA ? '; default QA thresholds' : ''}`,
);
const names = [...results.keys()];
const header = { postgres: 'PostgreSQL (queue + journal)', redis: 'Redis queue, SQLite journal' } as const;
console.log(`  ${''.padEnd(52)} ${names.map((n) => header[n as keyof typeof header].padEnd(36)).join(' ')}`);
const first = results.get(names[0]!)!;
first.rows.forEach(([label], i) => {
  console.log(`  ${label.padEnd(52)} ${names.map((n) => results.get(n)!.rows[i]![1].padEnd(36)).join(' ')}`);
});
