import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { prngFrom } from '../../src/backends/draft/prng.js';
import { SqliteRunStore } from '../../src/store/index.js';
import {
  distFingerprint,
  firstDifference,
  frameHashes,
  integrity,
  journalProblems,
  manifestView,
} from './crash-checks.js';
import { isEvent, parseJsonLines, runCli, startCli, testProject, writeTestProject } from './cli.js';

/**
 * The crash test of issue 4, shared by test/crash-resume.test.ts and scripts/soak-crash.ts: an uninterrupted
 * reference run, then rounds of "spawn the CLI, kill -9 it after a random delay, resume" until each round's run
 * succeeds, then the proof: same manifest, same frames, and a journal in which no finished step ran twice.
 */

/** After this many kills during the export, a round is let finish: the rest of the kills go to a fresh round. */
const EXPORT_KILLS_PER_ROUND = 2;

/** `reuse`: a resumed process looking up and journaling the steps an earlier one finished. */
export type Phase = 'startup' | 'reuse' | 'sheet' | 'shots' | 'export' | 'finishing';

export interface CrashLoopOptions {
  /** Folder for projects, workspaces and exports (the caller creates and removes it). */
  dir: string;
  /** Keep starting rounds until at least this many kills happened. */
  minKills: number;
  /** Seed of the PRNG that draws delays and generate/resume choices. */
  seed: number;
  /** @default 8 */
  shots?: number;
  /** @default 480 */
  width?: number;
  /** @default 270 */
  height?: number;
  log?: (line: string) => void;
}

export interface CycleRecord {
  round: number;
  cycle: number;
  command: 'generate' | 'resume';
  /** The kill drawn for this process; undefined for a process let run to the end. */
  killAt?: KillAt;
  /** When the kill actually happened, ms after the spawn. */
  killedAfterMs?: number;
  /** `killed`: kill -9 landed; `finished`: the run succeeded before the kill was due. */
  outcome: 'killed' | 'finished';
  /** What the child was doing when it was killed (from its last JSON line). */
  phase: Phase;
  stepsCompleted: number;
}

export interface ReferenceTimeline {
  /** ms from spawn: first output line, sheet done, all shots through QA, exit. */
  firstLineMs: number;
  sheetDoneMs: number;
  shotsDoneMs: number;
  totalMs: number;
  /** When each step-completed line arrived, in order. */
  stepDoneMs: number[];
  /** Cost of reusing one journaled step (lookup, journal write, event), from a rerun of the finished reference. */
  reusePerStepMs: number;
}

export interface CrashLoopReport {
  reference: ReferenceTimeline;
  delayRange: [number, number];
  cycles: CycleRecord[];
  kills: number;
  rounds: number;
  killsByPhase: Record<Phase, number>;
  /** Everything that disagrees with the uninterrupted run or breaks the journal's promises; empty on success. */
  problems: string[];
  /** Executions counted across all rounds (interrupted ones included). */
  executions: number;
  /** `.tmp-*` leftovers of exports killed half-way, across all rounds' output folders. */
  exportLeftovers: number;
}

interface CycleRun {
  killedAfterMs?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  phase: Phase;
  stepsCompleted: number;
  exportDir?: string;
  stderr: string;
}

function phaseOf(line: string, current: Phase): Phase {
  let event: { type?: string; stage?: string };
  try {
    event = JSON.parse(line) as { type?: string; stage?: string };
  } catch {
    return current;
  }
  if (event.type === 'run-finished' || event.type === 'result') return 'finishing';
  if (event.type === 'step-reused') return 'reuse';
  // Progress lines follow every step event; they do not move a process out of its reuse phase.
  if (event.type === 'progress' && current !== 'startup') return current;
  switch (event.stage) {
    case 'grid':
      return 'sheet';
    case 'comfyui':
    case 'promotion':
    case 'qa':
      return 'shots';
    case 'export':
      return 'export';
    default:
      return event.type === 'run-started' ? 'sheet' : current;
  }
}

/**
 * When to kill: `ms` after the spawn, or after the first output line (the run has started: the process start-up,
 * whose length varies with the machine's load, is then out of the measure). Undefined: never.
 */
export interface KillAt {
  ms: number;
  from: 'spawn' | 'first-line';
}

/** Spawns one generate/resume; kills it with SIGKILL at `killAt` unless it ends first. */
async function runCycle(args: string[], killAt: KillAt | undefined): Promise<CycleRun> {
  const cli = startCli(args, { timeoutMs: 120_000 });
  let phase: Phase = 'startup';
  let phaseAtKill: Phase | undefined;
  let killedAfterMs: number | undefined;
  let steps = 0;
  cli.child.stdout.on('data', () => {
    // Recomputed from all complete lines: cheap for a few hundred lines and immune to chunk boundaries.
    phase = 'startup';
    steps = 0;
    for (const line of cli.lines()) {
      phase = phaseOf(line, phase);
      if (isEvent(line, 'step-completed')) steps++;
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const kill = (ms: number): void => {
    timer = setTimeout(() => {
      phaseAtKill = phase;
      killedAfterMs = performance.now() - cli.startedAt;
      cli.child.kill('SIGKILL');
    }, ms);
  };
  if (killAt?.from === 'spawn') kill(killAt.ms);
  else if (killAt !== undefined) {
    cli
      .waitForLine(() => true)
      .then(
        () => kill(killAt.ms),
        () => {}, // exited without output: nothing to kill
      );
  }
  const exit = await cli.exited;
  clearTimeout(timer);
  const result = parseJsonLines(cli.stdout()).find((l) => l.type === 'result');
  const exportDir = typeof result?.['exportDir'] === 'string' ? result['exportDir'] : undefined;
  return {
    ...(killedAfterMs === undefined ? {} : { killedAfterMs: Math.round(killedAfterMs) }),
    code: exit.code,
    signal: exit.signal,
    phase: phaseAtKill ?? phase,
    stepsCompleted: steps,
    ...(exportDir === undefined ? {} : { exportDir }),
    stderr: cli.stderr(),
  };
}

/** The uninterrupted run, timed phase by phase from the moment each line reached us. */
async function referenceRun(args: string[]): Promise<{ timeline: ReferenceTimeline; exportDir: string }> {
  const cli = startCli(args, { timeoutMs: 120_000 });
  const at = (match: (l: string) => boolean): Promise<number> =>
    cli.waitForLine(match).then(() => performance.now() - cli.startedAt);
  const [firstLineMs, sheetDoneMs, shotsDoneMs] = await Promise.all([
    at(() => true),
    at((l) => isEvent(l, 'stage-completed') && l.includes('"stage":"grid"')),
    at((l) => isEvent(l, 'stage-completed') && l.includes('"stage":"qa"')),
  ]);
  const exit = await cli.exited;
  const times = cli.lineTimes();
  const stepDoneMs = cli.lines().flatMap((line, i) => (isEvent(line, 'step-completed') ? [times[i]!] : []));
  const result = parseJsonLines(cli.stdout()).find((l) => l.type === 'result');
  if (exit.code !== 0 || result?.['success'] !== true || typeof result['exportDir'] !== 'string') {
    throw new Error(`the reference run failed (exit ${exit.code}): ${cli.stderr()}`);
  }
  // The same command again reuses every step: its pace is what a resumed process spends before new work.
  const rerun = startCli(args, { timeoutMs: 120_000 });
  await rerun.exited;
  const rerunTimes = rerun.lineTimes();
  const reusedAt = rerun.lines().flatMap((line, i) => (isEvent(line, 'step-reused') ? [rerunTimes[i]!] : []));
  const reusePerStepMs =
    reusedAt.length === 0 ? 0 : (reusedAt.at(-1)! - (rerunTimes[0] ?? reusedAt[0]!)) / reusedAt.length;
  return {
    timeline: { firstLineMs, sheetDoneMs, shotsDoneMs, totalMs: exit.durationMs, stepDoneMs, reusePerStepMs },
    exportDir: result['exportDir'],
  };
}

/**
 * What a user would do after a crash: ask `storycore runs` for the newest run. `runs` only reads, so a kill during
 * start-up, before the workspace existed, is "no workspace at …" (exit 2): there is no run to resume yet.
 */
async function newestRunId(ws: string): Promise<string | undefined> {
  const listed = await runCli(['-w', ws, 'runs', '--json', '-n', '1']);
  if (listed.code === 2 && listed.stderr.startsWith(`✖ no workspace at ${ws}`)) return undefined;
  if (listed.code !== 0)
    throw new Error(`storycore runs failed after a kill (exit ${listed.code}): ${listed.stderr}`);
  const [run] = parseJsonLines(listed.stdout);
  return typeof run?.['id'] === 'string' ? run['id'] : undefined;
}

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopReport> {
  const log = options.log ?? (() => {});
  const project = testProject({
    id: 'crash',
    shots: options.shots ?? 8,
    width: options.width ?? 480,
    height: options.height ?? 270,
  });
  const projectFile = await writeTestProject(join(options.dir, 'project'), project);
  const rng = prngFrom('crash-loop', options.seed);
  const dist = await distFingerprint();

  // The first process after a while reads node_modules and sharp's native library from disk; a warm-up keeps
  // that one-off cost out of the reference timeline the kill moments are calibrated on.
  await runCli(['validate', projectFile]);
  const refWs = join(options.dir, 'reference', 'ws');
  const ref = await referenceRun([
    '-w',
    refWs,
    'generate',
    projectFile,
    '-o',
    join(options.dir, 'reference', 'out'),
  ]);
  const t = ref.timeline;
  log(
    `reference run: first line ${t.firstLineMs.toFixed(0)} ms, sheet done ${t.sheetDoneMs.toFixed(0)} ms, ` +
      `shots done ${t.shotsDoneMs.toFixed(0)} ms, exit ${t.totalMs.toFixed(0)} ms; reusing a step takes ` +
      `${t.reusePerStepMs.toFixed(1)} ms`,
  );
  // Stratified: a phase window of the reference timeline is drawn first, then a moment in it, so the short phases
  // (the shots take ~15 % of the time) are hit as often as the long ones. A process of a round that already
  // journaled `done` steps reuses them in a few ms and carries on from where the reference was after as many steps,
  // so its delay is shifted by that much (less the measured cost of reusing them): kills land in the phase drawn,
  // and rounds see several kills in a row.
  const windows: Array<[number, number]> = [
    [t.firstLineMs * 0.3, t.firstLineMs],
    [t.firstLineMs, t.sheetDoneMs],
    [t.sheetDoneMs, t.shotsDoneMs],
    [t.shotsDoneMs, t.totalMs],
  ];
  const delayRange: [number, number] = [Math.round(windows[0]![0]), Math.round(t.totalMs)];
  const drawKill = (done: number): KillAt => {
    // Reference time the process no longer spends: the work of the steps already journaled.
    const last = t.stepDoneMs[Math.min(done, t.stepDoneMs.length) - 1];
    const skipped = last === undefined ? 0 : Math.max(0, last - t.firstLineMs);
    const resumeAt = t.firstLineMs + skipped;
    const open = windows
      .map(([from, to], i): [number, number] => (i === 0 ? [from, to] : [Math.max(from, resumeAt), to]))
      .filter(([from, to]) => to > from);
    const [from, to] = rng.pick(open);
    const moment = rng.range(from, to);
    if (moment <= t.firstLineMs) return { ms: Math.round(moment), from: 'spawn' };
    // Measured from the first line: the process's start-up varies with load, its work much less.
    return { ms: Math.round(moment - t.firstLineMs - skipped + done * t.reusePerStepMs), from: 'first-line' };
  };
  log(
    `kill delays: a phase window drawn at random, then a moment in it: ` +
      `${windows.map(([a, b]) => `[${a.toFixed(0)}, ${b.toFixed(0)}]`).join(' ')} ms (seed ${options.seed})`,
  );
  const refManifest = await manifestView(ref.exportDir);
  const refFrames = await frameHashes(ref.exportDir);

  const cycles: CycleRecord[] = [];
  const problems: string[] = [];
  let kills = 0;
  let rounds = 0;
  let executions = 0;
  let exportLeftovers = 0;
  while (kills < options.minKills) {
    rounds++;
    const ws = join(options.dir, `round-${rounds}`, 'ws');
    const out = join(options.dir, `round-${rounds}`, 'out');
    const dbPath = join(ws, 'storycore.db');
    let runId: string | undefined;
    let exportDir: string | undefined;
    let journaled = 0;
    for (let cycle = 1; exportDir === undefined; cycle++) {
      if (cycle > 200) throw new Error(`round ${rounds} made no progress in 200 cycles`);
      const command = runId !== undefined && rng.next() < 0.6 ? 'resume' : 'generate';
      const args =
        command === 'resume'
          ? ['-w', ws, 'resume', runId!, '-o', out]
          : ['-w', ws, 'generate', projectFile, '-o', out];
      // Once enough kills happened the round's last process runs to the end ("resume until done"); so it does
      // after a few kills in the export, the one phase that is left at the end of every round.
      const exportKills = cycles.filter(
        (c) => c.round === rounds && c.outcome === 'killed' && c.phase === 'export',
      ).length;
      const keepKilling = kills < options.minKills && exportKills < EXPORT_KILLS_PER_ROUND;
      const killAt = keepKilling ? drawKill(journaled) : undefined;
      const run = await runCycle(args, killAt);
      const killed = run.signal === 'SIGKILL';
      if (killed) kills++;
      else if (run.code !== 0 || run.exportDir === undefined) {
        throw new Error(
          `round ${rounds} cycle ${cycle}: ${command} exited ${run.code} without a result: ${run.stderr}`,
        );
      } else exportDir = run.exportDir;
      const record: CycleRecord = {
        round: rounds,
        cycle,
        command,
        ...(killAt === undefined ? {} : { killAt }),
        ...(killed && run.killedAfterMs !== undefined ? { killedAfterMs: run.killedAfterMs } : {}),
        outcome: killed ? 'killed' : 'finished',
        phase: killed ? run.phase : 'finishing',
        stepsCompleted: run.stepsCompleted,
      };
      cycles.push(record);
      const planned =
        killAt === undefined
          ? 'no kill'
          : `${killAt.ms} ms after the ${killAt.from === 'spawn' ? 'spawn' : 'first line'}`;
      log(
        `round ${rounds} cycle ${cycle}: ${command.padEnd(8)} ` +
          (killed
            ? `kill -9 at ${run.killedAfterMs} ms (${planned}) during ${run.phase}`
            : `finished (${killAt === undefined ? 'no kill' : `kill was due ${planned}`})`) +
          `, ${run.stepsCompleted} steps completed`,
      );
      if (killed) {
        journaled += run.stepsCompleted;
        runId = (await newestRunId(ws)) ?? runId;
      }
    }

    const manifestDiff = firstDifference(await manifestView(exportDir), refManifest);
    if (manifestDiff !== undefined) {
      problems.push(
        `round ${rounds}: manifest.json (stable view) differs from the uninterrupted run's at ${manifestDiff}`,
      );
    }
    const framesDiff = firstDifference(await frameHashes(exportDir), refFrames);
    if (framesDiff !== undefined) problems.push(`round ${rounds}: frame files differ at ${framesDiff}`);
    const store = SqliteRunStore.open({ path: dbPath });
    try {
      const list = store.listExecutions({ limit: 100_000 });
      executions += list.length;
      problems.push(...journalProblems(list).map((p) => `round ${rounds}: ${p}`));
      const unfinished = store.listRuns({ limit: 1000 }).filter((r) => r.status === 'running');
      if (unfinished.length > 0)
        problems.push(`round ${rounds}: runs left 'running': ${unfinished.map((r) => r.id).join(', ')}`);
    } finally {
      store.close();
    }
    const check = integrity(dbPath);
    if (check !== 'ok') problems.push(`round ${rounds}: PRAGMA integrity_check: ${check}`);
    exportLeftovers += (await readdir(out)).filter((n) => n.startsWith('.tmp-')).length;
  }

  if ((await distFingerprint()) !== dist) {
    problems.push(
      'dist/ was rebuilt while the crash loop ran: runs of two code versions were compared; run it again',
    );
  }
  const killsByPhase: Record<Phase, number> = {
    startup: 0,
    reuse: 0,
    sheet: 0,
    shots: 0,
    export: 0,
    finishing: 0,
  };
  for (const c of cycles) if (c.outcome === 'killed') killsByPhase[c.phase]++;
  return {
    reference: t,
    delayRange,
    cycles,
    kills,
    rounds,
    killsByPhase,
    problems,
    executions,
    exportLeftovers,
  };
}
