import type { ErrorCode } from '../core/errors.js';
import type { PipelineStage } from '../core/status-tracker.js';
import type { ServerStatus } from '../backends/types.js';

/**
 * The pipeline's typed event stream. The orchestrator emits these; the service maps them onto the note's
 * callbacks, the store journals them, the CLI renders them. Transports never compute anything themselves.
 */

/** The stage names are the note's (status-tracker), one definition for both. */
export type { PipelineStage };

export interface ErrorInfo {
  code: ErrorCode | string;
  message: string;
  /** Message of the innermost cause, when it differs: what actually went wrong. */
  rootCause?: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export type PipelineEvent =
  | { type: 'run-started'; runId: string; projectId: string; totalShots: number; resumed: boolean }
  | { type: 'stage-started'; stage: PipelineStage }
  | { type: 'stage-completed'; stage: PipelineStage; durationMs: number; result: Record<string, unknown> }
  | { type: 'step-started'; stepId: string; stage: PipelineStage; shotId?: string }
  | { type: 'step-reused'; stepId: string; stage: PipelineStage; shotId?: string; fromRunId: string }
  | {
      type: 'step-completed';
      stepId: string;
      stage: PipelineStage;
      shotId?: string;
      durationMs: number;
      attempts: number;
    }
  | {
      type: 'step-failed';
      stepId: string;
      stage: PipelineStage;
      shotId?: string;
      attempt: number;
      /** What happens next: another attempt after `delayMs`, or the step gives up. */
      next: 'retry' | 'give-up';
      delayMs?: number;
      error: ErrorInfo;
    }
  | {
      type: 'progress';
      /** The earliest stage not finished: moves only forward, even while later stages already run. */
      stage: PipelineStage;
      /** Every stage with work in flight (shots are pipelined, so several at once), in pipeline order. */
      activeStages: PipelineStage[];
      /** Overall 0–100, monotonic. */
      progress: number;
      stageProgress: number;
      currentShot: number;
      totalShots: number;
      elapsedMs: number;
      etaMs: number;
      estimatedCompletion: number;
      message?: string;
    }
  /**
   * The backend's servers (a ComfyUI pool): every server's state and load, at most twice a second while jobs come and
   * go, and at once with a `message` when something happened ("gpu2:8188 unreachable (…): its 2 shots moved to
   * gpu1:8188"), each said once. Only events with a message go to the run's event log.
   */
  | { type: 'servers'; servers: ServerStatus[]; message?: string }
  /**
   * A live preview of a shot being generated (ComfyUI's sampler previews): a small JPEG (no side over 256 px), at most
   * twice a second per shot, none after the shot's `generate:<id>` step ends. Transient: never journaled (the frame
   * replaces it), so a transport keeps or relays only the latest per shot.
   */
  | {
      type: 'preview';
      shotId: string;
      stepId: string;
      mime: 'image/jpeg';
      width: number;
      height: number;
      /** The JPEG, base64. */
      data: string;
    }
  /** Something the user should know that does not fail the run (e.g. why an export has no animatic video). */
  | { type: 'warning'; stage: PipelineStage; message: string }
  | {
      type: 'run-finished';
      status: 'succeeded' | 'failed' | 'cancelled';
      durationMs: number;
      error?: ErrorInfo;
    };

export type PipelineEventListener = (event: PipelineEvent) => void;
