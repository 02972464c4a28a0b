import { ValidationError } from './errors.js';

/**
 * Progress of a generation run: five weighted stages, each reporting real fractions (done units of a stage's
 * unit count), overall progress that never goes backwards, and an ETA by linear extrapolation.
 */

export type PipelineStage = 'grid' | 'comfyui' | 'promotion' | 'qa' | 'export';
export type GenerationStage = 'idle' | PipelineStage | 'complete' | 'error';

export const PIPELINE_STAGES: readonly PipelineStage[] = Object.freeze([
  'grid',
  'comfyui',
  'promotion',
  'qa',
  'export',
]);

/** Share of the whole run, in percent (sums to 100). */
export const STAGE_WEIGHTS: Readonly<Record<PipelineStage, number>> = Object.freeze({
  grid: 20,
  comfyui: 40,
  promotion: 15,
  qa: 15,
  export: 10,
});

/** Stages whose unit is a shot; the others default to one unit (grid callers pass 9 panels, export its steps). */
const SHOT_STAGES: ReadonlySet<PipelineStage> = new Set(['comfyui', 'promotion', 'qa']);

/** What the orchestrator emits to `onProgress`. */
export interface GenerationStatus {
  /** During a run: the earliest stage not finished (it never goes back while later stages already run). */
  stage: GenerationStage;
  /** Stages with work in flight at once (shots are pipelined), in pipeline order; set by the pipeline. */
  activeStages?: PipelineStage[];
  /** Overall progress, 0–100, never decreasing within a run. */
  progress: number;
  currentShot: number;
  totalShots: number;
  message?: string;
  /** Epoch ms. */
  estimatedCompletion?: number;
  elapsedMs?: number;
  etaMs?: number;
  /** Progress of the current stage, 0–100. */
  stageProgress?: number;
}

/** Anything with a stage, as the `is…` helpers need. */
export interface GenerationStatusLike {
  stage: GenerationStage;
  progress?: number;
}

export interface ProgressCalculation {
  overallProgress: number;
  currentStageProgress: number;
  elapsedTime: number;
  estimatedTimeRemaining: number;
  /** Epoch ms. */
  estimatedCompletion: number;
}

export interface StageTiming {
  stage: PipelineStage;
  startTime: number;
  endTime?: number;
  duration?: number;
  units: number;
}

export interface GenerationStatusTrackerOptions {
  /** Clock in epoch ms. @default Date.now */
  now?: () => number;
}

const BASE_ESTIMATE_MS = 5 * 60_000;
const PER_SHOT_ESTIMATE_MS = 30_000;
// Extrapolating from less than a second of history is noise; the default estimate is better until then.
const MIN_ELAPSED_FOR_EXTRAPOLATION_MS = 1000;

function clamp(value: number, lo: number, hi: number): number {
  return Number.isNaN(value) ? lo : Math.min(hi, Math.max(lo, value));
}

function isPipelineStage(stage: GenerationStage): stage is PipelineStage {
  return (PIPELINE_STAGES as readonly string[]).includes(stage);
}

/** Start of a stage's band in overall percent. */
function stageOffset(stage: PipelineStage): number {
  let offset = 0;
  for (const s of PIPELINE_STAGES) {
    if (s === stage) break;
    offset += STAGE_WEIGHTS[s];
  }
  return offset;
}

/** `done + fraction` of `total` as percent, clamped to [0, 100]; a stage with nothing to do is 100. */
export function calculateStageProgressPercentage(
  currentShot: number,
  totalShots: number,
  fractionOfShot = 0,
): number {
  if (!(totalShots > 0)) return 100;
  const done = clamp(currentShot, 0, totalShots) + clamp(fractionOfShot, 0, 1);
  return clamp((done / totalShots) * 100, 0, 100);
}

export class GenerationStatusTracker {
  private readonly now: () => number;
  private startTime: number | null = null;
  private totalShots = 0;
  private maxProgress = 0;
  private readonly units = new Map<PipelineStage, number>();
  private readonly stageMax = new Map<PipelineStage, number>();
  private timings: StageTiming[] = [];

  constructor(options: GenerationStatusTrackerOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Starts tracking a new run of `totalShots` shots. */
  initialize(totalShots: number): void {
    if (!Number.isInteger(totalShots) || totalShots < 0) {
      throw new ValidationError(`totalShots must be a non-negative integer (got ${String(totalShots)})`, [
        { path: 'totalShots', message: 'must be a non-negative integer' },
      ]);
    }
    this.reset();
    this.totalShots = totalShots;
    this.startTime = this.now();
  }

  get shotCount(): number {
    return this.totalShots;
  }

  /**
   * Records a stage's start. `units` is how many units the stage counts (the grid passes 9 panels, export its
   * steps). @default totalShots for comfyui/promotion/qa, 1 for grid/export
   */
  startStage(stage: PipelineStage, units?: number): void {
    if (units !== undefined && (!Number.isInteger(units) || units < 0)) {
      throw new ValidationError(
        `units for stage ${stage} must be a non-negative integer (got ${String(units)})`,
        [{ path: 'units', message: 'must be a non-negative integer' }],
      );
    }
    if (this.startTime === null) this.startTime = this.now();
    this.units.set(stage, units ?? this.defaultUnits(stage));
    this.timings.push({ stage, startTime: this.now(), units: this.unitsOf(stage) });
  }

  /** Records a stage's end and moves overall progress to the end of its band. */
  completeStage(stage: PipelineStage): void {
    const end = this.now();
    const timing = [...this.timings].reverse().find((t) => t.stage === stage && t.endTime === undefined);
    if (timing) {
      timing.endTime = end;
      timing.duration = end - timing.startTime;
    }
    this.stageMax.set(stage, 100);
    this.maxProgress = Math.max(this.maxProgress, stageOffset(stage) + STAGE_WEIGHTS[stage]);
  }

  /**
   * Progress with `currentShot` units of `stage` done and `fractionOfShot` (0–1) of the next one.
   * Out-of-range inputs are clamped rather than thrown: a progress report must never break a run.
   */
  calculateProgress(stage: GenerationStage, currentShot: number, fractionOfShot = 0): ProgressCalculation {
    let stageProgress = 0;
    if (stage === 'complete') {
      this.maxProgress = 100;
      stageProgress = 100;
    } else if (isPipelineStage(stage)) {
      const pct = Math.max(
        this.stageMax.get(stage) ?? 0,
        calculateStageProgressPercentage(currentShot, this.unitsOf(stage), fractionOfShot),
      );
      this.stageMax.set(stage, pct);
      stageProgress = pct;
      const overall = stageOffset(stage) + (STAGE_WEIGHTS[stage] * pct) / 100;
      this.maxProgress = clamp(Math.max(this.maxProgress, overall), 0, 100);
    }
    const elapsedTime = this.getElapsedTime();
    const estimatedTimeRemaining =
      stage === 'complete' ? 0 : this.estimateRemaining(this.maxProgress, elapsedTime);
    return {
      overallProgress: this.maxProgress,
      currentStageProgress: stageProgress,
      elapsedTime,
      estimatedTimeRemaining,
      estimatedCompletion: this.now() + estimatedTimeRemaining,
    };
  }

  /**
   * Progress when stages overlap (shots are pipelined: shot 1 is in QA while shot 5 still generates): overall is
   * the weighted sum of each stage's done fraction (0–1). Still monotonic: the result never drops below what was
   * reported before.
   */
  calculateConcurrentProgress(fractions: Partial<Record<PipelineStage, number>>): ProgressCalculation {
    let overall = 0;
    for (const stage of PIPELINE_STAGES) {
      const f = clamp(fractions[stage] ?? 0, 0, 1);
      overall += STAGE_WEIGHTS[stage] * f;
      this.stageMax.set(stage, Math.max(this.stageMax.get(stage) ?? 0, f * 100));
    }
    this.maxProgress = clamp(Math.max(this.maxProgress, overall), 0, 100);
    const elapsedTime = this.getElapsedTime();
    const estimatedTimeRemaining = this.estimateRemaining(this.maxProgress, elapsedTime);
    return {
      overallProgress: this.maxProgress,
      currentStageProgress: overall,
      elapsedTime,
      estimatedTimeRemaining,
      estimatedCompletion: this.now() + estimatedTimeRemaining,
    };
  }

  /** The same calculation shaped as the status the orchestrator emits. */
  toStatus(
    stage: GenerationStage,
    currentShot: number,
    options: { fractionOfShot?: number; message?: string } = {},
  ): GenerationStatus {
    const p = this.calculateProgress(stage, currentShot, options.fractionOfShot ?? 0);
    return {
      stage,
      progress: p.overallProgress,
      currentShot,
      totalShots: this.totalShots,
      ...(options.message === undefined ? {} : { message: options.message }),
      estimatedCompletion: p.estimatedCompletion,
      elapsedMs: p.elapsedTime,
      etaMs: p.estimatedTimeRemaining,
      stageProgress: p.currentStageProgress,
    };
  }

  /** Highest overall progress reported so far. */
  getProgress(): number {
    return this.maxProgress;
  }

  getElapsedTime(): number {
    return this.startTime === null ? 0 : Math.max(0, this.now() - this.startTime);
  }

  getFormattedElapsedTime(): string {
    return formatDuration(this.getElapsedTime());
  }

  getFormattedTimeRemaining(): string {
    return formatDuration(
      this.maxProgress >= 100 ? 0 : this.estimateRemaining(this.maxProgress, this.getElapsedTime()),
    );
  }

  getStageTimings(): StageTiming[] {
    return this.timings.map((t) => ({ ...t }));
  }

  reset(): void {
    this.startTime = null;
    this.totalShots = 0;
    this.maxProgress = 0;
    this.units.clear();
    this.stageMax.clear();
    this.timings = [];
  }

  /** Default whole-run estimate before there is progress to extrapolate from: 5 min + 30 s per shot. */
  defaultEstimate(): number {
    return BASE_ESTIMATE_MS + PER_SHOT_ESTIMATE_MS * this.totalShots;
  }

  private estimateRemaining(progress: number, elapsed: number): number {
    if (progress >= 100) return 0;
    if (progress > 0 && elapsed >= MIN_ELAPSED_FOR_EXTRAPOLATION_MS) {
      return Math.round((elapsed * (100 - progress)) / progress);
    }
    return Math.round((this.defaultEstimate() * (100 - progress)) / 100);
  }

  private defaultUnits(stage: PipelineStage): number {
    return SHOT_STAGES.has(stage) ? this.totalShots : 1;
  }

  private unitsOf(stage: PipelineStage): number {
    return this.units.get(stage) ?? this.defaultUnits(stage);
  }
}

/** `"Xh Ym"` from one hour up, else `"Xm Ys"`; negative or non-finite durations read as zero. */
export function formatDuration(ms: number): string {
  const totalSeconds = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0 ? `${hours}h ${minutes}m` : `${minutes}m ${seconds}s`;
}

export interface FormatTimestampOptions {
  /** Format in UTC instead of local time. @default false */
  utc?: boolean;
}

/** `HH:MM:SS` (24-hour) of an epoch-ms timestamp; locale-independent so logs and tests agree everywhere. */
export function formatTimestamp(timestamp: number, options: FormatTimestampOptions = {}): string {
  const d = new Date(timestamp);
  if (Number.isNaN(d.getTime())) return '--:--:--';
  const parts = options.utc
    ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getHours(), d.getMinutes(), d.getSeconds()];
  return parts.map((n) => String(n).padStart(2, '0')).join(':');
}

const DISPLAY_NAMES: Record<GenerationStage, string> = {
  idle: 'Ready',
  grid: 'Master Coherence Sheet',
  comfyui: 'Generating Shots',
  promotion: 'Promoting Shots',
  qa: 'Quality Analysis',
  export: 'Exporting',
  complete: 'Complete',
  error: 'Error',
};

const ICONS: Record<GenerationStage, string> = {
  idle: '⏸️',
  grid: '🎨',
  comfyui: '🖼️',
  promotion: '⬆️',
  qa: '🔍',
  export: '📦',
  complete: '✅',
  error: '❌',
};

const COLORS: Record<GenerationStage, string> = {
  idle: '#9ca3af',
  grid: '#8b5cf6',
  comfyui: '#3b82f6',
  promotion: '#06b6d4',
  qa: '#f59e0b',
  export: '#6366f1',
  complete: '#22c55e',
  error: '#ef4444',
};

export function getStageDisplayName(stage: GenerationStage): string {
  return DISPLAY_NAMES[stage] ?? String(stage);
}

export function getStageIcon(stage: GenerationStage): string {
  return ICONS[stage] ?? '•';
}

/** A CSS hex colour per stage (green when complete, red on error). */
export function getProgressColor(stage: GenerationStage): string {
  return COLORS[stage] ?? COLORS.idle;
}

export function isGenerationInProgress(status: GenerationStatusLike | null | undefined): boolean {
  return status != null && isPipelineStage(status.stage);
}

export function isGenerationComplete(status: GenerationStatusLike | null | undefined): boolean {
  return status?.stage === 'complete';
}

export function hasGenerationError(status: GenerationStatusLike | null | undefined): boolean {
  return status?.stage === 'error';
}

/** A tracker shared by code that has no run of its own to hand it one (the note's usage example). */
export const defaultStatusTracker = new GenerationStatusTracker();
