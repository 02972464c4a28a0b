// Runs one generation in a fresh process (so peak RSS is this run's alone) and prints one JSON line.
// Uses the built package (dist/), as a user would.
import { availableParallelism } from 'node:os';

// As the CLI launcher does (bin/storycore.js): one libuv worker per core, set before the pool starts.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(2, availableParallelism()));
const { SequenceGenerationService, loadProjectFile } = await import('../dist/index.js');

const [projectPath, workspace, outDir] = process.argv.slice(2);
const project = await loadProjectFile(projectPath);
const service = new SequenceGenerationService({ workspace, outDir });
let peakRss = 0;
const sample = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};
const timer = setInterval(sample, 50);
const started = performance.now();
const result = await service.generateSequence(project, { onProgress: sample });
const durationMs = performance.now() - started;
clearInterval(timer);
sample();
service.close();
if (!result?.success) {
  console.error(JSON.stringify(result?.errors ?? 'no result'));
  process.exit(1);
}
console.log(
  JSON.stringify({
    durationMs,
    peakRssMB: Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 1048576,
    shots: result.generatedShots.length,
    executed: result.executedSteps,
    reused: result.reusedSteps,
  }),
);
