import type { ImageBackend } from '../backends/types.js';
import type { Project } from '../project/schema.js';
import type { QaThresholds } from '../stages/qa/index.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { PipelineEvent, PipelineStage } from './events.js';
import type { PipelineProgress } from './progress.js';
import type { StepRunner } from './step-runner.js';

/** What every stage's steps of one run share. Built once by runPipeline. */
export interface RunContext {
  project: Project;
  backend: ImageBackend;
  artifacts: ArtifactStore;
  steps: StepRunner;
  progress: PipelineProgress;
  stages: StageClock;
  /** The run's signal: the caller's cancel, or a fail-fast stop. */
  signal: AbortSignal;
  now: () => number;
  /** Requests in flight at once (panels, shots). */
  concurrency: number;
  panelSize: number;
  thresholds: QaThresholds;
  regenerateBudget: number;
  /** The run's event stream, for events no step or stage reports (a shot's live previews). */
  emit: (event: PipelineEvent) => void;
}

/**
 * Emits stage-started the first time a stage begins and stage-completed once all its units are done. Stages overlap
 * (shots are pipelined), so "started" and "completed" are about the stage's units, not a barrier.
 */
export class StageClock {
  private readonly started = new Map<PipelineStage, number>();
  private readonly completed = new Set<PipelineStage>();

  constructor(
    private readonly progress: PipelineProgress,
    private readonly emit: (event: PipelineEvent) => void,
    private readonly now: () => number,
  ) {}

  start(stage: PipelineStage): void {
    if (this.started.has(stage)) return;
    this.started.set(stage, this.now());
    this.emit({ type: 'stage-started', stage });
  }

  /** `result` is computed only when the stage really completes. */
  finishIfDone(stage: PipelineStage, result: () => Record<string, unknown>): void {
    if (this.completed.has(stage) || !this.progress.isStageDone(stage)) return;
    this.completed.add(stage);
    const durationMs = this.now() - (this.started.get(stage) ?? this.now());
    this.emit({ type: 'stage-completed', stage, durationMs, result: result() });
  }
}
