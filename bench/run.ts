/**
 * `npm run bench`: every benchmark, side by side in one run, printed as one table. Figures on this shared 2-core
 * machine are noisy: read the ratios (measured in the same run) rather than the absolute times.
 */
import { benchAnimatic } from './animatic.bench.js';
import { benchComfyUi } from './comfyui.bench.js';
import { benchComfyUiPool } from './comfyui-pool.bench.js';
import { benchDistributedQueue } from './distributed-queue.bench.js';
import { benchDraft } from './draft.bench.js';
import { benchEndToEnd } from './e2e.bench.js';
import { benchImages } from './images.bench.js';
import { benchStartup } from './startup.bench.js';
import { benchStore } from './store.bench.js';
import { benchStudio } from './studio.bench.js';
import type { BenchRow } from './types.js';

const only = process.argv.slice(2);
const suites: Array<[string, () => Promise<BenchRow[]>]> = [
  ['startup', () => benchStartup()],
  ['draft', () => benchDraft()],
  ['images', () => benchImages()],
  ['comfyui', () => benchComfyUi()],
  ['store', () => benchStore()],
  ['pool', () => benchComfyUiPool()],
  [
    'studio',
    () =>
      benchStudio(
        process.env['BENCH_STUDIO_SHOTS'] ? { shots: Number(process.env['BENCH_STUDIO_SHOTS']) } : {},
      ),
  ],
  [
    'e2e',
    () =>
      benchEndToEnd(
        process.env['BENCH_BIG_SHOTS'] ? { bigShots: Number(process.env['BENCH_BIG_SHOTS']) } : {},
      ),
  ],
  ['animatic', () => benchAnimatic()],
  // Needs the Debian packages postgresql and redis-server (as test:distributed does).
  [
    'queue',
    () =>
      benchDistributedQueue(
        process.env['BENCH_QUEUE_JOBS'] ? { jobs: Number(process.env['BENCH_QUEUE_JOBS']) } : {},
      ),
  ],
];

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  return abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
}

const rows: BenchRow[] = [];
for (const [name, suite] of suites) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stderr.write(`running ${name}…\n`);
  rows.push(...(await suite()));
}
let group = '';
for (const row of rows) {
  if (row.group !== group) {
    group = row.group;
    console.log(`\n${group}`);
  }
  console.log(
    `  ${row.name.padEnd(52)} ${fmt(row.value).padStart(10)} ${row.unit.padEnd(6)} ${row.note ?? ''}`,
  );
}
