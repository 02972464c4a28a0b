import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { median, WARMUP } from './timing.js';
import type { BenchRow } from './types.js';

const run = promisify(execFile);
const BIN = new URL('../bin/storycore.js', import.meta.url).pathname;
const EXAMPLE = new URL('../examples/lighthouse/project.json', import.meta.url).pathname;

/** Wall time of one process, spawn to exit, as a user waits for it. */
async function wallMs(args: readonly string[]): Promise<number> {
  const started = performance.now();
  await run(process.execPath, args, { maxBuffer: 16 << 20 });
  return performance.now() - started;
}

/**
 * Issue 7's start-up targets, each a fresh process timed from spawn to exit (the built CLI, as installed):
 * `storycore --version` and `--help` ≤ 0.2 s, an unchanged rerun of the 12-shot example ≤ 0.3 s, side by side with
 * `node -e 0` (Node's own start-up on this machine). The commands take turns within each round, so a burst of load
 * from other processes on this shared machine hits all of them alike; medians after WARMUP rounds.
 */
export async function benchStartup(options: { rounds?: number } = {}): Promise<BenchRow[]> {
  const rounds = options.rounds ?? 15;
  const dir = await mkdtemp(join(tmpdir(), 'storycore-bench-startup-'));
  try {
    const rerun = [BIN, 'generate', EXAMPLE, '-w', join(dir, 'ws'), '-o', join(dir, 'out'), '--json'];
    const firstRunMs = await wallMs(rerun);
    const commands: Array<{ name: string; args: string[]; target?: number }> = [
      { name: 'node -e 0', args: ['-e', '0'] },
      { name: 'storycore --version', args: [BIN, '--version'], target: 200 },
      { name: 'storycore --help', args: [BIN, '--help'], target: 200 },
      { name: 'unchanged rerun of the 12-shot example', args: rerun, target: 300 },
    ];
    const times = commands.map(() => [] as number[]);
    for (let round = -WARMUP; round < rounds; round++) {
      for (const [i, command] of commands.entries()) {
        const ms = await wallMs(command.args);
        if (round >= 0) times[i]!.push(ms);
      }
    }
    const g = 'start-up (process spawn to exit)';
    const nodeMs = median(times[0]!);
    const rows: BenchRow[] = [];
    for (const [i, command] of commands.entries()) {
      const ms = median(times[i]!);
      const verdict =
        command.target === undefined
          ? 'Node itself, nothing loaded'
          : `target ≤ ${command.target / 1000} s: ${ms <= command.target ? 'met' : 'MISSED'}; ` +
            `${(ms / nodeMs).toFixed(1)}× node -e 0, +${(ms - nodeMs).toFixed(0)} ms`;
      rows.push({
        group: g,
        name: command.name,
        value: ms,
        unit: 'ms',
        note: `${verdict} (median of ${rounds}, best ${Math.min(...times[i]!).toFixed(0)} ms)`,
      });
    }
    rows.push({
      group: g,
      name: 'first run of the 12-shot example (for scale)',
      value: firstRunMs / 1000,
      unit: 's',
      note: 'the rerun above reuses every step of it',
    });
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
