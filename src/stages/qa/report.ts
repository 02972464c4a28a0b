import type { AutofixResult } from './autofix.js';
import type { QaThresholds } from './thresholds.js';
import type { QaReport, QaShotScore, ShotQaResult, ShotWithoutFrame } from './types.js';

/** One shot's QA outcome from its autofix run. */
export function shotQaResult(shotId: string, result: AutofixResult): ShotQaResult {
  return {
    shotId,
    score: result.final.score,
    issues: result.final.issues,
    passed: result.final.passed,
    metrics: result.final.metrics,
    initial: result.initial,
    attempts: result.attempts,
    autofixApplied: result.autofixApplied,
  };
}

/**
 * The sequence's QA report in the note's shape (`overallScore`, `shotScores`, `autofixApplied`) plus every shot's
 * measurements and attempts and the thresholds used. `results` lists every shot of the run in order; a shot that
 * never reached a frame counts as failed with score 0 — an average over the measured shots alone would call a run
 * where every shot failed "100, passed". The overall score is the mean (one decimal); an empty sequence scores 100
 * and passes (nothing failed).
 */
export function buildQaReport(
  results: ReadonlyArray<ShotQaResult | ShotWithoutFrame>,
  thresholds: QaThresholds,
): QaReport {
  const measured = results.filter((r): r is ShotQaResult => 'metrics' in r);
  const missing = results.filter((r): r is ShotWithoutFrame => !('metrics' in r));
  const shotScores: QaShotScore[] = results.map((r) =>
    'metrics' in r
      ? { shotId: r.shotId, score: r.score, issues: [...r.issues], passed: r.passed }
      : {
          shotId: r.shotId,
          score: 0,
          issues: [],
          passed: false,
          noFrame: { stage: r.stage, reason: r.reason },
        },
  );
  const total = shotScores.reduce((sum, r) => sum + r.score, 0);
  return {
    overallScore: results.length === 0 ? 100 : Math.round((total / results.length) * 10) / 10,
    shotScores,
    autofixApplied: measured.some((r) => r.autofixApplied),
    passed: shotScores.every((r) => r.passed),
    shots: measured,
    shotsWithoutFrame: missing.map((m) => ({ shotId: m.shotId, stage: m.stage, reason: m.reason })),
    thresholds: { ...thresholds },
  };
}

const fmt = (n: number, digits = 1): string => n.toFixed(digits);

/** A human-readable summary of the report (Markdown), for library callers and logs. */
export function formatQaReport(report: QaReport): string {
  const lines: string[] = [
    '# QA report',
    '',
    `Overall score: **${fmt(report.overallScore)}** — ${report.passed ? 'all shots pass' : 'some shots fail'}` +
      (report.autofixApplied ? ' (autofix applied)' : ''),
    '',
    '| shot | score | issues | before → after | sharpness | mean luma | contrast | noise σ | drift ΔE |',
    '| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of report.shots) {
    const m = s.metrics;
    lines.push(
      `| ${s.shotId} | ${fmt(s.score)} | ${s.issues.join(', ') || '—'} | ${fmt(s.initial.score)} → ${fmt(s.score)} | ` +
        `${fmt(m.sharpnessNormalized, 0)} | ${fmt(m.exposure.meanLuma)} | ${fmt(m.contrastRms, 3)} | ${fmt(m.noiseSigma, 2)} | ${fmt(m.paletteDrift)} |`,
    );
  }
  for (const s of report.shotsWithoutFrame) {
    lines.push(`| ${s.shotId} | 0.0 | no frame (${s.stage}: ${s.reason}) | — | — | — | — | — | — |`);
  }
  for (const s of report.shots.filter((shot) => shot.attempts.length > 0)) {
    lines.push('', `## ${s.shotId}: ${s.attempts.length} attempt(s)`, '');
    for (const a of s.attempts) {
      lines.push(
        `${a.attempt}. ${a.kind}: ${a.actions.join('; ')} — ${fmt(a.before.score)} → ${fmt(a.after.score)} ` +
          `(${a.delta >= 0 ? '+' : ''}${fmt(a.delta)}), ${a.kept ? 'kept' : 'discarded'}` +
          (a.after.issues.length > 0 ? `; remaining: ${a.after.issues.join(', ')}` : ''),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
