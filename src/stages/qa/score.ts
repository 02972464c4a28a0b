import type { QaThresholds } from './thresholds.js';
import { QaIssue, type FrameAssessment, type FrameMetrics } from './types.js';

/** Points an issue costs at the least: any issue takes a frame below every passing frame's score. */
const ISSUE_BASE = 15;
/** Further points by severity (0–1): how far outside its limit the metric lies. */
const ISSUE_RANGE = 35;
/** At most this many points for a metric still inside its limit but in the last quarter of its band. */
const MARGIN_RANGE = 3;

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

interface Finding {
  issue: QaIssue;
  /** > 0: outside the limit, by this severity (0–1]; ≤ 0: inside, 0 at the limit, −1 a quarter-band away or more. */
  severity: number;
}

/**
 * A ratio finding on a log scale (sharpness spans orders of magnitude): `ratio` = limit / value for a lower
 * limit, value / limit for an upper one. Past the limit, `full` times beyond it is severity 1; inside, the warning
 * zone is the last factor of 4/3.
 */
function ratioFinding(issue: QaIssue, ratio: number, full: number): Finding {
  const r = Number.isFinite(ratio) ? ratio : 1e12;
  if (r > 1) return { issue, severity: Math.max(1e-6, clamp01(Math.log(r) / Math.log(full))) };
  return { issue, severity: -clamp01(-Math.log(Math.max(r, 1e-12)) / Math.log(4 / 3)) };
}

function findings(m: FrameMetrics, t: QaThresholds): Finding[] {
  const out: Finding[] = [];
  const s = Math.max(m.sharpnessNormalized, 1e-9);
  // Full severity only 64x below / 16x above the limit, so that a fix which triples a very soft frame's
  // sharpness still shows as a better score, even if not yet a pass.
  out.push(ratioFinding(QaIssue.TOO_SOFT, t.sharpnessMin / s, 64));
  out.push(ratioFinding(QaIssue.OVERSHARPENED, s / t.sharpnessMax, 16));

  const { meanLuma, clippedShadowsPct, clippedHighlightsPct } = m.exposure;
  const under = Math.max(
    (t.meanLumaMin - meanLuma) / Math.max(1, t.meanLumaMin),
    (clippedShadowsPct - t.clippedShadowsMaxPct) / Math.max(1, 100 - t.clippedShadowsMaxPct),
  );
  const over = Math.max(
    (meanLuma - t.meanLumaMax) / Math.max(1, 255 - t.meanLumaMax),
    (clippedHighlightsPct - t.clippedHighlightsMaxPct) / Math.max(1, 100 - t.clippedHighlightsMaxPct),
  );
  out.push(band(QaIssue.UNDEREXPOSED, under, meanLuma - t.meanLumaMin, (t.meanLumaMax - t.meanLumaMin) / 4));
  out.push(band(QaIssue.OVEREXPOSED, over, t.meanLumaMax - meanLuma, (t.meanLumaMax - t.meanLumaMin) / 4));
  const lowContrast = (t.contrastMin - m.contrastRms) / Math.max(1e-9, t.contrastMin);
  out.push(band(QaIssue.LOW_CONTRAST, lowContrast, m.contrastRms - t.contrastMin, t.contrastMin / 4));
  const noisy = (m.noiseSigma - t.noiseSigmaMax) / Math.max(1e-9, t.noiseSigmaMax);
  out.push(band(QaIssue.NOISY, noisy, t.noiseSigmaMax - m.noiseSigma, t.noiseSigmaMax / 4));
  const drift = (m.paletteDrift - t.paletteDriftMax) / Math.max(1e-9, t.paletteDriftMax);
  out.push(band(QaIssue.STYLE_DRIFT, drift, t.paletteDriftMax - m.paletteDrift, t.paletteDriftMax / 4));
  return out;
}

/** A linear finding: `beyond` > 0 is how far past the limit (fraction of the limit); `inside` is the distance left. */
function band(issue: QaIssue, beyond: number, inside: number, warnZone: number): Finding {
  if (beyond > 0) return { issue, severity: Math.max(1e-6, clamp01(beyond)) };
  return { issue, severity: -clamp01(inside / Math.max(1e-9, warnZone)) };
}

/**
 * Scores a measured frame against thresholds: 100 for a frame comfortably inside every limit; a metric in the
 * last quarter of its band costs up to 3 points (so of two passing versions the safer one ranks higher); each
 * issue costs 15 + 35 × severity. Issues are listed most severe first. A frame passes when it has no issue.
 */
export function assessFrame(metrics: FrameMetrics, thresholds: QaThresholds): FrameAssessment {
  let score = 100;
  const issues: Finding[] = [];
  for (const f of findings(metrics, thresholds)) {
    if (f.severity > 0) {
      score -= ISSUE_BASE + ISSUE_RANGE * f.severity;
      issues.push(f);
    } else {
      score -= MARGIN_RANGE * (1 + f.severity);
    }
  }
  issues.sort((a, b) => b.severity - a.severity);
  return {
    metrics,
    score: Math.round(Math.max(0, score) * 10) / 10,
    issues: issues.map((f) => f.issue),
    passed: issues.length === 0,
  };
}
