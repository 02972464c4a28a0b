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

/** The note's shape `{overallScore, shotScores[{shotId, score, issues}], autofixApplied}` plus the measurements. */
export interface QaReport {
  overallScore: number;
  shotScores: Array<{ shotId: string; score: number; issues: QaIssue[] }>;
  autofixApplied: boolean;
  passed: boolean;
  shots: ShotQaResult[];
  thresholds: Record<string, number>;
}
