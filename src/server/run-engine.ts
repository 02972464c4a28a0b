import { ConflictError } from '../core/errors.js';
import type { ImageBackend } from '../backends/types.js';
import type {
  GenerateSequenceOptions,
  SequenceGenerationService,
} from '../pipeline/sequence-generation-service.js';
import type { Project } from '../project/schema.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { asyncRunStore, type AsyncRunStore } from '../store/async-run-store.js';
import type { RunRecord } from '../store/run-store.js';
import { deleteProjectRuns, type DeletedRuns } from './run-deletion.js';

/** How a recorded run is driven again (resume, adoption): its project and the options that put it back on its engine. */
export interface RunResumption {
  project: Project;
  /** generateSequence options beyond the transport's (signal, onEvent): where, how, and on what it runs. */
  options: GenerateSequenceOptions;
  /** The backend to drive it with, when the engine has its own (a queue's stand-in); else the studio's settings. */
  backend?: ImageBackend;
}

/**
 * Where the studio's runs are kept and where they execute — the one seam between the studio and the engine under
 * it. The embedded engine: this workspace's journal and artifact folder, every run executed in this process. A
 * shared engine on a queue (`serve --queue`): the shared run store and artifacts, every run executed by the
 * workers; this process coordinates the runs it starts and follows the others through the store's event log.
 */
export interface StudioEngine {
  readonly kind: 'embedded' | 'queue';
  /** Runs, journals and event logs, of this process's runs and of every other process's on the same store. */
  readonly runs: AsyncRunStore;
  readonly artifacts: ArtifactStore;
  /** Event appends may land after the listener heard of them (a networked store): streams poll rather than wait. */
  readonly appendsAsync: boolean;
  /** The run, or a NotFoundError naming it and where it was looked for. */
  getRun(runId: string): Promise<RunRecord>;
  /**
   * What a new run of a project needs to execute on this engine (the queue's coordinator), given the signal that
   * tells a coordinator to leave its run to the workers when the studio stops.
   */
  runOptions(leave: AbortSignal): Pick<GenerateSequenceOptions, 'runner'>;
  /** How to drive a recorded run again; a run this engine cannot resume is refused, naming it. */
  resumption(run: RunRecord, leave: AbortSignal): RunResumption;
  /** Of these runs, the ones another process drives now (their lease is fresh). */
  liveElsewhere(runs: readonly RunRecord[]): Promise<Set<string>>;
  /** Cancels a run another process drives; its coordinator and workers see it in the store and stop. */
  cancelElsewhere(run: RunRecord): Promise<void>;
  /** Deletes runs of a project (never a live one: 409 naming it). */
  deleteRuns(
    projectId: string,
    runIds: readonly string[],
    liveHere: (runId: string) => boolean,
    signal?: AbortSignal,
  ): Promise<DeletedRuns>;
  /** Runs whose coordinator is gone, for a studio to adopt (a queue's runs survive a studio restart). */
  orphans(): Promise<RunRecord[]>;
  close(): Promise<void>;
}

/** The default: the service's workspace, every run in this process (the behaviour before queues existed). */
export function embeddedEngine(service: SequenceGenerationService): StudioEngine {
  const workspace = service.getStore();
  const runs = asyncRunStore(workspace.runs);
  return {
    kind: 'embedded',
    runs,
    artifacts: workspace.artifacts,
    appendsAsync: false,
    getRun: (runId) => Promise.resolve(service.getRun(runId)),
    runOptions: () => ({}),
    resumption: (run) => {
      const snapshot = (run.options ?? {}) as {
        project?: Project;
        outDir?: string;
        projectDir?: string;
        failFast?: boolean;
      };
      if (!snapshot.project) {
        throw new ConflictError(`run ${run.id} has no project snapshot to resume from`, {
          details: { runId: run.id },
        });
      }
      return {
        project: snapshot.project,
        options: {
          runId: run.id,
          ...(snapshot.outDir ? { outDir: snapshot.outDir } : {}),
          ...(snapshot.projectDir ? { projectDir: snapshot.projectDir } : {}),
          ...(snapshot.failFast ? { failFast: true } : {}),
        },
      };
    },
    // A CLI run of the same workspace is shown by its status, as before: the studio only calls its own runs live.
    liveElsewhere: () => Promise.resolve(new Set<string>()),
    cancelElsewhere: (run) =>
      Promise.reject(
        new ConflictError(
          run.status === 'running'
            ? `run ${run.id} is driven by another process (pid ${run.pid ?? '?'}); cancel it there`
            : `run ${run.id} is not running (it is ${run.status})`,
          { details: { runId: run.id, status: run.status } },
        ),
      ),
    deleteRuns: (projectId, runIds, liveHere, signal) =>
      deleteProjectRuns(service, liveHere, projectId, runIds, signal),
    orphans: () => Promise.resolve([]),
    // The service owns the workspace store and closes it.
    close: () => Promise.resolve(),
  };
}
