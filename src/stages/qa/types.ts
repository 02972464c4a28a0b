export const QaIssue = {
  TOO_SOFT: 'too_soft',
  OVERSHARPENED: 'oversharpened',
  UNDEREXPOSED: 'underexposed',
  OVEREXPOSED: 'overexposed',
  LOW_CONTRAST: 'low_contrast',
  NOISY: 'noisy',
  STYLE_DRIFT: 'style_drift',
} as const;
export type QaIssue = (typeof QaIssue)[keyof typeof QaIssue];

export interface FrameMetrics {
  /** Variance of the 3x3 Laplacian of the 8-bit BT.601 luma, reflect-101 borders (= cv2.Laplacian(gray, CV_64F).var()). */
  sharpness: number;
  /** Sharpness scaled to the 512-px reference the thresholds are written for (see thresholds docs). */
  sharpnessNormalized: number;
  exposure: { meanLuma: number; clippedHighlightsPct: number; clippedShadowsPct: number };
  /** Standard deviation of luma / 255. */
  contrastRms: number;
  /** Estimated noise sigma in 8-bit levels. */
  noiseSigma: number;
  /** Mean ΔE2000 from each of the frame's dominant colours to the nearest colour of the sheet's palette. */
  paletteDrift: number;
}

export interface FrameAssessment {
  metrics: FrameMetrics;
  /** 0–100. */
  score: number;
  issues: QaIssue[];
  passed: boolean;
}

export interface AutofixAttempt {
  attempt: number;
  kind: 'fix' | 'regenerate';
  actions: string[];
  seed?: number;
  before: FrameAssessment;
  after: FrameAssessment;
  delta: number;
  kept: boolean;
}

export interface ShotQaResult {
  shotId: string;
  score: number;
  issues: QaIssue[];
  passed: boolean;
  metrics: FrameMetrics;
  /** Assessment of the frame as it came from promotion, before any fix. */
  initial: FrameAssessment;
  attempts: AutofixAttempt[];
  autofixApplied: boolean;
}

/** A shot that never reached a measured frame (its generation, promotion or QA failed for good). */
export interface ShotWithoutFrame {
  shotId: string;
  /** The stage whose step gave up, e.g. `comfyui`. */
  stage: string;
  /** Why, in the words of the error that ended it. */
  reason: string;
}

/** One line of `shotScores`: a measured shot, or one without a frame (score 0, failed, with `noFrame` saying why). */
export interface QaShotScore {
  shotId: string;
  score: number;
  issues: QaIssue[];
  passed: boolean;
  noFrame?: { stage: string; reason: string };
}

/** The note's shape `{overallScore, shotScores[{shotId, score, issues}], autofixApplied}` plus the measurements. */
export interface QaReport {
  /** Mean over every shot of the run; a shot without a frame counts as 0. */
  overallScore: number;
  /** Every shot of the run, in project order, measured or not. */
  shotScores: QaShotScore[];
  autofixApplied: boolean;
  /** False as soon as one shot failed QA or has no frame. */
  passed: boolean;
  /** The measured shots, with their metrics and attempts. */
  shots: ShotQaResult[];
  /** Shots without a frame, listed (they are in `shotScores` with score 0 too). */
  shotsWithoutFrame: ShotWithoutFrame[];
  thresholds: Record<string, number>;
}
