export { autofixFrame } from './autofix.js';
export type { AutofixOptions, AutofixResult, QaDna, RegeneratedFrame } from './autofix.js';
export { measureFrame } from './metrics.js';
export type { MeasureOptions } from './metrics.js';
export { buildQaReport, formatQaReport, shotQaResult } from './report.js';
export { assessFrame } from './score.js';
export { DEFAULT_QA_THRESHOLDS } from './thresholds.js';
export type { QaThresholds } from './thresholds.js';
export { QaIssue } from './types.js';
export type {
  AutofixAttempt,
  FrameAssessment,
  FrameMetrics,
  QaReport,
  QaShotScore,
  ShotQaResult,
  ShotWithoutFrame,
} from './types.js';
