import { GenerationStatusTracker, PIPELINE_STAGES } from '../core/status-tracker.js';
import { PANEL_COUNT } from '../stages/coherence/panels.js';
import type { PipelineEvent, PipelineStage } from './events.js';

/** Steps of stage 1: one per sheet panel, then the compose step. */
export const SHEET_STEPS = PANEL_COUNT + 1;

/**
 * Progress of a pipelined run. Shots flow through generate → promote → QA independently, so several stages advance
 * at once; overall progress is the weighted sum of every stage's done fraction (weights 20/40/15/15/10 as in the
 * note), each stage's fraction counting finished units plus the running fraction of units in flight. Elapsed time,
 * ETA and monotonicity come from the GenerationStatusTracker.
 */
export class PipelineProgress {
  private readonly units = new Map<PipelineStage, number>();
  private readonly done = new Map<PipelineStage, Set<string>>();
  private readonly partial = new Map<PipelineStage, Map<string, number>>();
  /** Measured durations of steps that executed, per stage: what the ETA is made of once there is one. */
  private readonly measured = new Map<PipelineStage, { sum: number; count: number }>();
  readonly tracker: GenerationStatusTracker;
  private readonly now: () => number;

  constructor(
    private readonly totalShots: number,
    private readonly emit: (event: Extract<PipelineEvent, { type: 'progress' }>) => void,
    now?: () => number,
    /** Units worked on at once (the run's concurrency): remaining work is divided by it. @default 1 */
    private readonly parallelism = 1,
  ) {
    this.now = now ?? Date.now;
    this.tracker = new GenerationStatusTracker(now ? { now } : {});
    this.tracker.initialize(totalShots);
    for (const stage of PIPELINE_STAGES) {
      this.units.set(
        stage,
        stage === 'grid' ? SHEET_STEPS : stage === 'export' ? 1 : Math.max(1, totalShots),
      );
      this.done.set(stage, new Set());
      this.partial.set(stage, new Map());
    }
  }

  /** A unit of `stage` (a panel, a shot, the export) is `fraction` done. */
  update(stage: PipelineStage, unit: string, fraction: number, message?: string): void {
    if (this.done.get(stage)!.has(unit)) return;
    if (fraction >= 1) {
      this.done.get(stage)!.add(unit);
      this.partial.get(stage)!.delete(unit);
    } else {
      const map = this.partial.get(stage)!;
      map.set(unit, Math.max(map.get(unit) ?? 0, Math.max(0, fraction)));
    }
    this.report(stage, message);
  }

  stageFraction(stage: PipelineStage): number {
    const units = this.units.get(stage)!;
    let sum = this.done.get(stage)!.size;
    for (const f of this.partial.get(stage)!.values()) sum += f;
    return Math.min(1, sum / units);
  }

  isStageDone(stage: PipelineStage): boolean {
    return this.done.get(stage)!.size >= this.units.get(stage)!;
  }

  /** A step of `stage` executed in `durationMs` (reused steps cost nothing and are not counted). */
  recordStepDuration(stage: PipelineStage, durationMs: number): void {
    const m = this.measured.get(stage) ?? { sum: 0, count: 0 };
    m.sum += Math.max(0, durationMs);
    m.count++;
    this.measured.set(stage, m);
  }

  /**
   * The stage the run is in: the earliest one not finished. Stages overlap (shot 1 is in QA while shot 5 still
   * generates), so the stage of whichever unit moved last jumped back and forth; this one only ever moves forward.
   */
  currentStage(): PipelineStage {
    return PIPELINE_STAGES.find((s) => !this.isStageDone(s)) ?? 'export';
  }

  /** Stages with work started and not finished, in pipeline order. */
  activeStages(): PipelineStage[] {
    return PIPELINE_STAGES.filter(
      (s) => !this.isStageDone(s) && (this.partial.get(s)!.size > 0 || this.done.get(s)!.size > 0),
    );
  }

  /**
   * Remaining time from what this run measured: every stage's remaining units × its mean step duration (a stage
   * not measured yet borrows the mean over all measured steps), divided by the units worked on at once.
   * Undefined until one step has executed — until then only the tracker's default guess exists.
   */
  private etaFromSteps(): number | undefined {
    let sum = 0;
    let count = 0;
    for (const m of this.measured.values()) {
      sum += m.sum;
      count += m.count;
    }
    if (count === 0) return undefined;
    let work = 0;
    for (const stage of PIPELINE_STAGES) {
      const m = this.measured.get(stage);
      const perUnit = m ? m.sum / m.count : sum / count;
      const units = this.units.get(stage)!;
      work += units * (1 - this.stageFraction(stage)) * perUnit;
    }
    return Math.round(work / Math.max(1, this.parallelism));
  }

  /** Shots through QA (what a person means by "shot 7 of 12"). */
  shotsDone(): number {
    return this.done.get('qa')!.size;
  }

  complete(): void {
    const status = this.tracker.toStatus('complete', this.totalShots);
    this.emit({
      type: 'progress',
      stage: 'export',
      activeStages: [],
      progress: 100,
      stageProgress: 100,
      currentShot: this.totalShots,
      totalShots: this.totalShots,
      elapsedMs: status.elapsedMs ?? 0,
      etaMs: 0,
      estimatedCompletion: status.estimatedCompletion ?? Date.now(),
    });
  }

  private report(_moved: PipelineStage, message?: string): void {
    const fractions: Partial<Record<PipelineStage, number>> = {};
    for (const s of PIPELINE_STAGES) fractions[s] = this.stageFraction(s);
    const p = this.tracker.calculateConcurrentProgress(fractions);
    // Never report 100 before the run has really finished: that is complete()'s job.
    const progress = Math.min(p.overallProgress, 99.9);
    const stage = this.currentStage();
    const eta = this.etaFromSteps() ?? p.estimatedTimeRemaining;
    this.emit({
      type: 'progress',
      stage,
      activeStages: this.activeStages(),
      progress,
      stageProgress: Math.round(this.stageFraction(stage) * 1000) / 10,
      currentShot: this.shotsDone(),
      totalShots: this.totalShots,
      elapsedMs: p.elapsedTime,
      etaMs: eta,
      estimatedCompletion: this.now() + eta,
      ...(message === undefined ? {} : { message }),
    });
  }
}
