/**
 * A child process for the "killed run" test: runs the real pipeline one shot at a time and, when the step named
 * in argv finishes, says READY on stdout and freezes (event loop blocked) so the parent can SIGKILL it with the
 * journal in a known state. Usage: node --import tsx kill-target.ts <workspace> <outDir> <project.json> <stepId>
 */
import { readFileSync, writeSync } from 'node:fs';
import { createDraftBackend } from '../../src/backends/draft/index.js';
import { runPipeline } from '../../src/pipeline/orchestrator.js';
import { projectSchema } from '../../src/project/schema.js';
import { asyncRunStore } from '../../src/store/async-run-store.js';
import { openWorkspaceStore } from '../../src/store/workspace-store.js';
import { TEST_PANEL_SIZE } from './pipeline-harness.js';
import { quickRetryPolicy } from './temp-workspace.js';

const [workspace, outDir, projectPath, stopAfter] = process.argv.slice(2);
if (!workspace || !outDir || !projectPath || !stopAfter) {
  throw new Error('usage: kill-target.ts <workspace> <outDir> <project.json> <stepId>');
}
const project = projectSchema.parse(JSON.parse(readFileSync(projectPath, 'utf8')));
const store = openWorkspaceStore(workspace);
await runPipeline(project, {
  backend: createDraftBackend({ capacity: 1 }),
  store: asyncRunStore(store.runs),
  artifacts: store.artifacts,
  outDir,
  retryPolicy: quickRetryPolicy(),
  panelSize: TEST_PANEL_SIZE,
  concurrency: 1,
  onEvent: (event) => {
    if (event.type === 'run-started') writeSync(1, `RUN ${event.runId}\n`);
    if (event.type === 'step-completed' && event.stepId === stopAfter) {
      writeSync(1, 'READY\n');
      // Freeze with the step journaled: nothing else can run until the parent's SIGKILL lands.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
    }
  },
});
writeSync(1, 'FINISHED\n');
