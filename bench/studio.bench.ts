import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { median } from './timing.js';
import type { BenchRow } from './types.js';

const CLI = new URL('../bin/storycore.js', import.meta.url).pathname;

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Reads one event stream to its end, noting when each step-completed message arrived (epoch ms). */
async function follow(url: string): Promise<{ connectedAt: number; arrivals: Map<number, number> }> {
  const arrivals = new Map<number, number>();
  const response = await fetch(url);
  const connectedAt = Date.now();
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const now = Date.now();
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (block.includes('event: end')) return { connectedAt, arrivals };
      const id = /^id: (\d+)$/m.exec(block)?.[1];
      if (id && block.includes('event: step-completed')) arrivals.set(Number(id), now);
    }
  }
  return { connectedAt, arrivals };
}

/**
 * The studio's event path under load: `storycore serve` (a child process, as a user runs it) drives a draft run
 * while `streams` clients follow its event stream. Latency = arrival at the client − the event log's timestamp
 * (appended right after the step finished; same machine, same clock), over step-completed events that happened
 * after the client connected (replayed ones are not latency). RSS is the server process's, sampled every 100 ms.
 */
export async function benchStudio(options: { shots?: number; streams?: number } = {}): Promise<BenchRow[]> {
  const shots = options.shots ?? 240;
  const streams = options.streams ?? 20;
  const dir = await mkdtemp(join(tmpdir(), 'storycore-bench-studio-'));
  const workspace = join(dir, 'ws');
  const child = spawn(process.execPath, [CLI, '--workspace', workspace, 'serve', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const origin = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (c: string) => {
        out += c;
        const m = /StoryCore studio: (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error(`storycore serve exited: ${out}`)));
    });
    const idleRss = await rssMB(child.pid!);
    const project = {
      schemaVersion: 1,
      id: 'bench-studio',
      name: 'Bench studio',
      style: { prompt: 'moody cinematic illustration, deep teal and amber palette' },
      output: { width: 320, height: 180 },
      shots: Array.from({ length: shots }, (_, i) => ({
        id: `shot-${String(i + 1).padStart(3, '0')}`,
        prompt: `A lighthouse keeper climbs the stairs, take ${i + 1}`,
      })),
    };
    const post = (path: string, body?: unknown) =>
      fetch(`${origin}${path}`, {
        method: 'POST',
        ...(body === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
    await post('/api/projects', project);
    const { runId } = (await (await post('/api/projects/bench-studio/runs')).json()) as { runId: string };
    const samples: number[] = [];
    const sampler = setInterval(() => void rssMB(child.pid!).then((mb) => samples.push(mb)), 100);
    const t0 = performance.now();
    const followed = await Promise.all(
      Array.from({ length: streams }, () => follow(`${origin}/api/runs/${runId}/events`)),
    );
    const runMs = performance.now() - t0;
    clearInterval(sampler);

    const db = new Database(join(workspace, 'storycore.db'), { readonly: true });
    const at = new Map<number, number>();
    for (const row of db
      .prepare("SELECT seq, at FROM events WHERE run_id = ? AND type = 'step-completed'")
      .all(runId) as Array<{ seq: number; at: string }>) {
      at.set(row.seq, Date.parse(row.at));
    }
    db.close();
    const latencies: number[] = [];
    for (const { connectedAt, arrivals } of followed) {
      for (const [seq, arrived] of arrivals) {
        const stamped = at.get(seq);
        if (stamped !== undefined && stamped >= connectedAt) latencies.push(arrived - stamped);
      }
    }
    const p95 = percentile(latencies, 95);
    const group = `studio: ${shots}-shot draft run (320×180), ${streams} event streams`;
    return [
      { group, name: 'run time', value: runMs / 1000, unit: 's' },
      {
        group,
        name: 'step → SSE message latency, median',
        value: median(latencies),
        unit: 'ms',
        note: `${latencies.length} messages`,
      },
      {
        group,
        name: 'step → SSE message latency, p95',
        value: p95,
        unit: 'ms',
        note: 'the server renders on the same 2 cores',
      },
      { group, name: 'server RSS idle (before the run)', value: idleRss, unit: 'MB' },
      { group, name: 'server RSS peak during the run', value: Math.max(...samples), unit: 'MB' },
      { group, name: 'server RSS median during the run', value: median(samples), unit: 'MB' },
    ];
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}
