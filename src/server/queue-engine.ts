import { NotFoundError } from '../core/errors.js';
import { runOnQueue } from '../distributed/coordinator.js';
import type { QueueHandle } from '../distributed/queue-handle.js';
import { isQueuedRun, queuedResumption } from '../distributed/run-settings.js';
import type { GenerateSequenceOptions } from '../pipeline/sequence-generation-service.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import { deleteSharedRuns } from './run-deletion.js';
import type { StudioEngine } from './run-engine.js';

type Runner = NonNullable<GenerateSequenceOptions['runner']>;

/** The shared engine `serve --queue` fronts: opened (and checked) by whoever starts the studio, closed by it. */
export interface SharedEngine {
  queue: QueueHandle;
  store: AsyncRunStore;
  artifacts: ArtifactStore;
  /** @default the distributed runner's queue name */
  queueName?: string;
  /** See QueuedRunOptions.idleWarningMs. @default 30000 */
  idleWarningMs?: number;
  close(): Promise<void>;
}

/**
 * The studio as a front end of a shared engine: runs are read from the shared store (every machine's, so a run
 * started by `generate --queue` elsewhere is listed and followed), executed by the workers, and this process is the
 * coordinator only of the runs it starts, resumes or adopts.
 */
export function queueEngine(shared: SharedEngine, outDir: string): StudioEngine {
  const { store } = shared;
  // This process as the run's coordinator, over the shared store and artifacts whatever the service assembled.
  const runner =
    (leave: AbortSignal): Runner =>
    (project, options) =>
      runOnQueue(project, {
        ...options,
        store,
        artifacts: shared.artifacts,
        queue: shared.queue,
        leave,
        ...(shared.queueName === undefined ? {} : { queueName: shared.queueName }),
        ...(shared.idleWarningMs === undefined ? {} : { idleWarningMs: shared.idleWarningMs }),
      });
  return {
    kind: 'queue',
    runs: store,
    artifacts: shared.artifacts,
    appendsAsync: true,
    async getRun(runId) {
      const run = await store.getRun(runId);
      if (run === undefined) {
        throw new NotFoundError(`no run with id "${runId}" in the shared run store (${shared.queue.label})`, {
          details: { runId },
        });
      }
      return run;
    },
    runOptions: (leave) => ({ runner: runner(leave) }),
    resumption(run, leave) {
      // A run that was not started on a queue is refused here, naming it (ValidationError → 400).
      const r = queuedResumption(run);
      return {
        project: r.project,
        backend: r.backend,
        options: {
          runId: run.id,
          outDir: r.outDir,
          projectDir: r.projectDir,
          panelSize: r.panelSize,
          ...(r.failFast ? { failFast: true } : {}),
          ...(r.verify ? { verify: true } : {}),
          runner: runner(leave),
        },
      };
    },
    async liveElsewhere(runs) {
      const projects = [...new Set(runs.filter((r) => r.status === 'running').map((r) => r.projectId))];
      const holders = await Promise.all(projects.map((id) => store.runHolders(id)));
      return new Set(holders.flat().flatMap((h) => (h.live ? [h.run.id] : [])));
    },
    async cancelElsewhere(run) {
      const coordinated = (await store.runHolders(run.projectId)).some((h) => h.live && h.run.id === run.id);
      // The workers poll the run's status and stop its steps; its coordinator (if any) removes its waiting jobs.
      await store.setRunStatus(run.id, 'cancelled', {
        error: { code: 'CANCELLED', message: 'cancelled from the studio' },
      });
      // A run nobody coordinates gets the ending its coordinator would have logged, so its followers see it end.
      if (!coordinated) {
        await store.appendEvent(run.id, 'run-finished', {
          type: 'run-finished',
          status: 'cancelled',
          durationMs: Date.now() - Date.parse(run.createdAt),
          error: { code: 'CANCELLED', message: 'cancelled from the studio', retryable: false },
        });
      }
    },
    deleteRuns: (projectId, runIds, liveHere) => deleteSharedRuns(store, outDir, liveHere, projectId, runIds),
    async orphans() {
      const running = await store.listRuns({ status: 'running', limit: 1000 });
      const projects = [...new Set(running.filter(isQueuedRun).map((r) => r.projectId))];
      const holders = await Promise.all(projects.map((id) => store.runHolders(id)));
      // Not live: its coordinator stopped (a studio restarting) or died, and its lease lapsed.
      return holders.flat().flatMap((h) => (!h.live && isQueuedRun(h.run) ? [h.run] : []));
    },
    close: () => shared.close(),
  };
}
