import { describe, expect, it } from 'vitest';
import {
  assessFrame,
  buildQaReport,
  DEFAULT_QA_THRESHOLDS,
  formatQaReport,
  QaIssue,
  type FrameMetrics,
  type ShotQaResult,
} from '../src/stages/qa/index.js';

const good: FrameMetrics = {
  sharpness: 300,
  sharpnessNormalized: 300,
  exposure: { meanLuma: 120, clippedHighlightsPct: 0, clippedShadowsPct: 0 },
  contrastRms: 0.2,
  noiseSigma: 2,
  paletteDrift: 3,
};
const dark: FrameMetrics = {
  ...good,
  exposure: { meanLuma: 30, clippedHighlightsPct: 0, clippedShadowsPct: 0 },
};

function shot(shotId: string, initial: FrameMetrics, final: FrameMetrics, fixed: boolean): ShotQaResult {
  const before = assessFrame(initial, DEFAULT_QA_THRESHOLDS);
  const after = assessFrame(final, DEFAULT_QA_THRESHOLDS);
  return {
    shotId,
    score: after.score,
    issues: after.issues,
    passed: after.passed,
    metrics: final,
    initial: before,
    attempts: fixed
      ? [
          {
            attempt: 1,
            kind: 'fix',
            actions: ['exposure(gamma=0.5)'],
            before,
            after,
            delta: after.score - before.score,
            kept: true,
          },
        ]
      : [],
    autofixApplied: fixed,
  };
}

describe('buildQaReport', () => {
  it('averages shot scores and says whether autofix was applied anywhere', () => {
    const report = buildQaReport(
      [shot('a', good, good, false), shot('b', dark, dark, false)],
      DEFAULT_QA_THRESHOLDS,
    );
    expect(report.shotScores[1]).toMatchObject({ shotId: 'b', issues: [QaIssue.UNDEREXPOSED] });
    expect(report.overallScore).toBeCloseTo(
      (report.shotScores[0]!.score + report.shotScores[1]!.score) / 2,
      1,
    );
    expect(report.autofixApplied).toBe(false);
    expect(report.passed).toBe(false);
    expect(report.thresholds.sharpnessMin).toBe(DEFAULT_QA_THRESHOLDS.sharpnessMin);
  });

  it('an empty sequence scores 100 and passes', () => {
    expect(buildQaReport([], DEFAULT_QA_THRESHOLDS)).toMatchObject({
      overallScore: 100,
      passed: true,
      shotScores: [],
    });
  });

  it('formats a readable summary with before → after and every attempt', () => {
    const text = formatQaReport(buildQaReport([shot('harbour', dark, good, true)], DEFAULT_QA_THRESHOLDS));
    expect(text).toContain('| harbour | 100.0 |');
    expect(text).toMatch(/→ 100\.0/);
    expect(text).toContain('1. fix: exposure(gamma=0.5)');
    expect(text).toContain('kept');
  });
});
