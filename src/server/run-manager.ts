import { EventEmitter } from 'node:events';
import { abortWith } from '../core/abort.js';
import { ConflictError, InternalError, errorMessage } from '../core/errors.js';
import type { ImageBackend } from '../backends/types.js';
import type { PipelineEvent } from '../pipeline/events.js';
import type {
  GenerateSequenceOptions,
  GenerationResults,
  SequenceGenerationService,
} from '../pipeline/sequence-generation-service.js';
import type { Project } from '../project/schema.js';
import type { RunRecord } from '../store/run-store.js';
import { backendFor, type RunSettings } from './backend-settings.js';
import { embeddedEngine, type StudioEngine } from './run-engine.js';

export type PreviewEvent = Extract<PipelineEvent, { type: 'preview' }>;

interface LiveRun {
  runId: string;
  projectId: string;
  controller: AbortController;
  lastProgress?: Extract<PipelineEvent, { type: 'progress' }>;
  /** The latest live preview of each shot still being generated (never journaled: memory only). */
  previews: Map<string, PreviewEvent>;
}

/** Told that the run's event log grew (no argument), or given a live preview, which is in no log. */
export type RunListener = (preview?: PreviewEvent) => void;

export interface RunManagerOptions {
  /** Coherence-sheet panel side for every run (tests and benchmarks use small ones). @default 512 */
  panelSize?: number;
  /** Told about a run that ended in an unexpected error. @default process.emitWarning */
  onWarning?: (message: string) => void;
  /** Where runs are kept and execute. @default the service's workspace, every run in this process */
  engine?: StudioEngine;
}

/**
 * The runs this server process drives. Each run is the service's `generateSequence` with its own abort controller,
 * executed where the engine says (here, or on a queue's workers with this process as the coordinator); the manager
 * only keeps what a transport needs that the store does not: which runs are live here, the latest progress, and a
 * wake-up per run so event streams read the store's event log as soon as something was appended (the log, not
 * this emitter, is what they send: ids and replay come from one place).
 */
export class RunManager {
  readonly engine: StudioEngine;
  /** Aborted on close: coordinators of queued runs leave them to the workers instead of cancelling them. */
  private readonly leaving = new AbortController();
  private adopting: ReturnType<typeof setInterval> | undefined;
  private readonly live = new Map<string, LiveRun>();
  /** projectId → runId, or '' while a run is being created. */
  private readonly byProject = new Map<string, string>();
  private readonly pending = new Set<Promise<void>>();
  private readonly wake = new EventEmitter();

  constructor(
    private readonly service: SequenceGenerationService,
    private readonly options: RunManagerOptions = {},
  ) {
    // Every open event stream listens on its run; 20 browsers on one run is normal, not a leak.
    this.wake.setMaxListeners(0);
    this.engine = options.engine ?? embeddedEngine(service);
  }

  /** Starts a run of the project; resolves to its id once the run exists (claims and conflicts are settled). */
  start(project: Project, settings: RunSettings): Promise<string> {
    return this.launch(project.id, project, settings, (options) =>
      this.service.generateSequence(project, {
        ...options,
        ...(settings.fresh ? { fresh: true } : {}),
        ...this.engine.runOptions(this.leaving.signal),
      }),
    );
  }

  /** Resumes a run (the project snapshot it started from); resolves to its id once it is claimed again. */
  async resume(runId: string, settings: RunSettings): Promise<string> {
    return this.relaunch(await this.engine.getRun(runId), settings);
  }

  /**
   * Every `intervalMs`, adopts the engine's orphaned runs — runs on a queue whose coordinator is gone (a studio that
   * restarted, a `generate --queue` that died): this process becomes their coordinator, so they finish and their
   * progress keeps coming. Two studios adopting the same run at once: the store lets one claim it.
   */
  adoptOrphans(intervalMs: number): void {
    // A run this studio cannot drive (recorded by another version, say) is said once, not every round.
    const refused = new Set<string>();
    const round = async (): Promise<void> => {
      for (const run of await this.engine.orphans()) {
        if (this.leaving.signal.aborted || this.byProject.has(run.projectId) || refused.has(run.id)) continue;
        await this.relaunch(run, { backend: 'draft' }).catch((error: unknown) => {
          // Claimed by another studio meanwhile (a conflict): it is theirs to finish.
          if (error instanceof ConflictError) return;
          refused.add(run.id);
          (this.options.onWarning ?? process.emitWarning)(
            `run ${run.id} has no coordinator and cannot be adopted here: ${errorMessage(error)}`,
          );
        });
      }
    };
    let busy = false;
    const tick = (): void => {
      if (busy) return;
      busy = true;
      round()
        .catch((error: unknown) =>
          (this.options.onWarning ?? process.emitWarning)(`adopting runs: ${errorMessage(error)}`),
        )
        .finally(() => (busy = false));
    };
    tick();
    this.adopting = setInterval(tick, intervalMs);
    this.adopting.unref();
  }

  /** A recorded run driven again from its snapshot (a resume, an adoption). */
  private async relaunch(run: RunRecord, settings: RunSettings): Promise<string> {
    const resumption = this.engine.resumption(run, this.leaving.signal);
    return this.launch(
      run.projectId,
      resumption.project,
      settings,
      (options) => this.service.generateSequence(resumption.project, { ...options, ...resumption.options }),
      resumption.backend,
    );
  }

  /** Aborts a run this process drives; false when it is not live here. */
  cancel(runId: string): boolean {
    const run = this.live.get(runId);
    if (!run) return false;
    abortWith(run.controller, 'user');
    return true;
  }

  isLive(runId: string): boolean {
    return this.live.has(runId);
  }

  liveRunOf(projectId: string): string | undefined {
    return this.byProject.get(projectId) || undefined;
  }

  lastProgress(runId: string): Extract<PipelineEvent, { type: 'progress' }> | undefined {
    return this.live.get(runId)?.lastProgress;
  }

  /** The latest preview of each shot of the run still being generated, for a stream that opens mid-run. */
  previewsOf(runId: string): PreviewEvent[] {
    return [...(this.live.get(runId)?.previews.values() ?? [])];
  }

  /**
   * Calls `listener` after each event of the run is in the log, and once more when the run settles; live previews
   * are handed to it as they come (they are in no log).
   */
  subscribe(runId: string, listener: RunListener): () => void {
    this.wake.on(runId, listener);
    return () => this.wake.off(runId, listener);
  }

  /**
   * Cancels every live run and waits for each to settle (journal closed, backend closed). On a queue, runs are left
   * to the workers instead (they keep running; the next studio to start adopts them), then the engine closes.
   */
  async close(): Promise<void> {
    clearInterval(this.adopting);
    abortWith(this.leaving, 'shutdown');
    if (this.engine.kind === 'embedded') {
      for (const run of this.live.values()) abortWith(run.controller, 'shutdown');
    }
    await Promise.allSettled([...this.pending]);
    await this.engine.close();
  }

  private launch(
    projectId: string,
    project: Project,
    settings: RunSettings,
    body: (options: GenerateSequenceOptions) => Promise<GenerationResults | null>,
    /** The engine's own backend for the run (a queue's identity stand-in); else one built from `settings`. */
    given?: ImageBackend,
  ): Promise<string> {
    const holder = this.byProject.get(projectId);
    if (holder !== undefined) {
      throw new ConflictError(
        holder
          ? `project "${projectId}" already has a live run: ${holder} (cancel it first)`
          : `project "${projectId}" is starting a run`,
        { details: { projectId, ...(holder ? { runId: holder } : {}) } },
      );
    }
    this.byProject.set(projectId, '');
    const controller = new AbortController();
    let live: LiveRun | undefined;
    let started!: (runId: string) => void;
    let failed!: (error: unknown) => void;
    const id = new Promise<string>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    const onEvent = (event: PipelineEvent): void => {
      if (event.type === 'run-started') {
        live = { runId: event.runId, projectId, controller, previews: new Map() };
        this.live.set(event.runId, live);
        this.byProject.set(projectId, event.runId);
        started(event.runId);
      } else if (!live) {
        return;
      } else if (event.type === 'progress') {
        live.lastProgress = event;
      } else if (event.type === 'preview') {
        live.previews.set(event.shotId, event);
        this.wake.emit(live.runId, event);
        return;
      } else if (
        (event.type === 'step-completed' || event.type === 'step-failed' || event.type === 'step-reused') &&
        event.shotId !== undefined &&
        event.stepId === `generate:${event.shotId}`
      ) {
        // The shot's request settled: its frame (or error) replaces the preview.
        live.previews.delete(event.shotId);
      }
      this.wake.emit(live.runId);
    };
    const work = (async () => {
      const backend =
        given ?? (await backendFor(settings, project, this.service.workspace, controller.signal));
      try {
        await body({
          signal: controller.signal,
          onEvent,
          ...(backend ? { backend } : {}),
          ...(this.options.panelSize === undefined ? {} : { panelSize: this.options.panelSize }),
        });
        if (!live) failed(new InternalError('the run ended before it started'));
      } finally {
        if (given === undefined) await backend?.close?.();
      }
    })();
    const settled = work
      .catch((error: unknown) => {
        // Before the run existed (a conflict, a bad workflow): the caller gets the error. After: the run's own
        // record and event log already say what happened.
        if (!live) failed(error);
        else (this.options.onWarning ?? process.emitWarning)(`run ${live.runId}: ${String(error)}`);
      })
      .finally(() => {
        if (this.byProject.get(projectId) === (live?.runId ?? '')) this.byProject.delete(projectId);
        if (live) {
          this.live.delete(live.runId);
          this.wake.emit(live.runId);
        }
        this.pending.delete(settled);
      });
    this.pending.add(settled);
    return id;
  }
}
