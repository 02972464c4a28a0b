/**
 * The long version of test/crash-resume.test.ts: kill -9 the CLI at random moments at least N times, resuming each
 * round until its run succeeds, then check every round against an uninterrupted run and the journal.
 *
 *   npm run build && npx tsx scripts/soak-crash.ts [kills=50] [--seed <n>] [--shots <n>] [--keep]
 *
 * Exits 0 when nothing disagreed, 1 with the problems listed otherwise, 2 on bad arguments. `--keep` leaves the
 * workspaces in the temp folder for inspection.
 */
import { parseArgs } from 'node:util';
import { assertCliBuilt, tempDir } from '../test/helpers/cli.js';
import { runCrashLoop, type CrashLoopReport } from '../test/helpers/crash-loop.js';

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

function summary(report: CrashLoopReport, elapsedMs: number): string {
  const finished = report.cycles.filter((c) => c.outcome === 'finished').length;
  const delays = report.cycles.flatMap((c) => (c.killedAfterMs === undefined ? [] : [c.killedAfterMs]));
  return [
    `kills:            ${report.kills} in ${report.rounds} round(s), ${report.cycles.length} processes (${finished} ran to the end)`,
    `kills by phase:   ${Object.entries(report.killsByPhase)
      .map(([p, n]) => `${p} ${n}`)
      .join(', ')}`,
    `kills landed:     ${Math.min(...delays)}–${Math.max(...delays)} ms after the spawn (reference run ${report.reference.totalMs.toFixed(0)} ms)`,
    `executions:       ${report.executions} journaled across all rounds`,
    `export leftovers: ${report.exportLeftovers} '.tmp-*' entries from exports killed half-way`,
    `elapsed:          ${(elapsedMs / 1000).toFixed(1)} s`,
    report.problems.length === 0
      ? 'result:           OK: every round matched the uninterrupted run; no finished step ran twice; integrity_check ok'
      : `result:           ${report.problems.length} problem(s):\n${report.problems.map((p) => `  - ${p}`).join('\n')}`,
  ].join('\n');
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seed: { type: 'string' }, shots: { type: 'string' }, keep: { type: 'boolean' } },
});
const kills = positive('kills', positionals[0], 50);
const seed = positive('--seed', values.seed, Date.now() % 1_000_000);
const shots = positive('--shots', values.shots, 8);

assertCliBuilt();
const dir = await tempDir('soak');
const started = performance.now();
console.log(`soak: ≥ ${kills} kills, ${shots} shots at 480×270, seed ${seed}, in ${dir.path}`);
try {
  const report = await runCrashLoop({
    dir: dir.path,
    minKills: kills,
    seed,
    shots,
    log: (line) => console.log(line),
  });
  console.log(`\n${summary(report, performance.now() - started)}`);
  process.exitCode = report.problems.length === 0 ? 0 : 1;
} finally {
  if (values.keep) console.log(`kept ${dir.path}`);
  else await dir.remove();
}
