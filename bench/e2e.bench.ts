import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchRow } from './types.js';

const run = promisify(execFile);
const CHILD = new URL('./e2e-child.mjs', import.meta.url).pathname;
const EXAMPLE = new URL('../examples/lighthouse/project.json', import.meta.url).pathname;

interface ChildResult {
  durationMs: number;
  peakRssMB: number;
  shots: number;
  executed: number;
  reused: number;
}

/** A project of `count` shots at 1920×1080, cycling the lighthouse example's shots with distinct ids and prompts. */
async function writeProject(dir: string, count: number): Promise<string> {
  const example = JSON.parse(await readFile(EXAMPLE, 'utf8')) as {
    shots: Array<Record<string, unknown>>;
  } & Record<string, unknown>;
  const shots = Array.from({ length: count }, (_, i) => {
    const base = example.shots[i % example.shots.length]!;
    return {
      ...base,
      id: `shot-${String(i + 1).padStart(3, '0')}`,
      prompt: `${String(base['prompt'])} (take ${Math.floor(i / example.shots.length) + 1})`,
    };
  });
  const project = {
    ...example,
    id: `bench-${count}`,
    name: `Bench ${count}`,
    output: { width: 1920, height: 1080 },
    shots,
  };
  const path = join(dir, `bench-${count}.json`);
  await writeFile(path, JSON.stringify(project));
  return path;
}

/** One run in its own process; `wallMs` is what a user waits, process start and module loading included. */
async function generate(
  project: string,
  workspace: string,
  out: string,
): Promise<ChildResult & { wallMs: number }> {
  const started = performance.now();
  const { stdout } = await run(process.execPath, [CHILD, project, workspace, out], { maxBuffer: 1 << 20 });
  const wallMs = performance.now() - started;
  return { ...(JSON.parse(stdout.trim().split('\n').pop()!) as ChildResult), wallMs };
}

/**
 * Issue 4's benchmark: end-to-end time and peak RSS of a 24-shot draft project at 1920×1080, peak RSS at 24 vs 240
 * shots (target ≤ 1.2× and ≤ 400 MB), and an unchanged rerun as a % of the first run (target ≤ 5 %).
 * Each run is its own process so RSS is that run's alone.
 */
export async function benchEndToEnd(options: { bigShots?: number } = {}): Promise<BenchRow[]> {
  const big = options.bigShots ?? 240;
  const dir = await mkdtemp(join(tmpdir(), 'storycore-bench-'));
  try {
    const p24 = await writeProject(dir, 24);
    const pBig = await writeProject(dir, big);
    const first = await generate(p24, join(dir, 'ws24'), join(dir, 'out24'));
    const rerun = await generate(p24, join(dir, 'ws24'), join(dir, 'out24'));
    const large = await generate(pBig, join(dir, 'wsBig'), join(dir, 'outBig'));
    const g = 'end-to-end (draft, 1920×1080)';
    const rssRatio = large.peakRssMB / first.peakRssMB;
    const rerunPct = (rerun.durationMs / first.durationMs) * 100;
    const rerunWallPct = (rerun.wallMs / first.wallMs) * 100;
    return [
      {
        group: g,
        name: '24 shots: wall time',
        value: first.durationMs / 1000,
        unit: 's',
        note: `${(first.durationMs / 24).toFixed(0)} ms/shot, ${first.executed} steps`,
      },
      { group: g, name: '24 shots: peak RSS', value: first.peakRssMB, unit: 'MB' },
      {
        group: g,
        name: `${big} shots: wall time`,
        value: large.durationMs / 1000,
        unit: 's',
        note: `${(large.durationMs / big).toFixed(0)} ms/shot`,
      },
      {
        group: g,
        name: `${big} shots: peak RSS`,
        value: large.peakRssMB,
        unit: 'MB',
        note: `target ≤ 400 MB: ${large.peakRssMB <= 400 ? 'met' : 'MISSED'}`,
      },
      {
        group: g,
        name: `peak RSS ${big} / 24 shots`,
        value: rssRatio,
        unit: '×',
        note:
          `target ≤ 1.2×: ${rssRatio <= 1.2 ? 'met' : 'MISSED'}, ${Math.abs(((1.2 - rssRatio) / 1.2) * 100).toFixed(0)} % ` +
          `${rssRatio <= 1.2 ? 'below' : 'above'} it (${large.peakRssMB.toFixed(0)} vs ${first.peakRssMB.toFixed(0)} MB)`,
      },
      {
        group: g,
        name: 'unchanged rerun (24 shots)',
        value: rerun.durationMs,
        unit: 'ms',
        note: `${rerun.reused} steps reused, ${rerun.executed} run`,
      },
      {
        group: g,
        name: 'rerun / first run (the generation call)',
        value: rerunPct,
        unit: '%',
        note: `target ≤ 5 %: ${rerunPct <= 5 ? 'met' : 'MISSED'}`,
      },
      {
        group: g,
        name: 'rerun / first run (whole process, as a user waits)',
        value: rerunWallPct,
        unit: '%',
        note: `${(rerun.wallMs / 1000).toFixed(2)} s vs ${(first.wallMs / 1000).toFixed(2)} s: process start and module loading included`,
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
