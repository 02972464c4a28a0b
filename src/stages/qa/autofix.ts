import { throwIfAborted } from '../../core/abort.js';
import { labStats } from '../../image/lab-stats.js';
import type { Raster } from '../../image/raster.js';
import type { VisualDna } from '../coherence/types.js';
import {
  applyLut,
  colourTransfer,
  denoise,
  gammaFor,
  gentleBlur,
  histogramPercentile,
  levelsLut,
  toneLut,
  unsharpMask,
} from './fixes.js';
import { lumaOf, measureFrame, type MeasureOptions } from './metrics.js';
import { assessFrame } from './score.js';
import { DEFAULT_QA_THRESHOLDS, type QaThresholds } from './thresholds.js';
import { QaIssue, type AutofixAttempt, type FrameAssessment } from './types.js';

/** The parts of the sheet's DNA that QA compares against and draws frames toward. */
export type QaDna = Pick<VisualDna, 'palette' | 'meanLab' | 'stdLab'>;

export interface RegeneratedFrame {
  raster: Raster;
  seed: number;
}

export interface AutofixOptions {
  /** @default DEFAULT_QA_THRESHOLDS */
  thresholds?: QaThresholds;
  signal?: AbortSignal;
  /**
   * Produces a fresh frame for the shot (the orchestrator derives the next operation seed from `attempt`, 1-based,
   * generates and promotes it). Called only when fixes cannot make the frame pass; omitted → never regenerate.
   */
  regenerate?: (attempt: number) => Promise<RegeneratedFrame>;
  /** Regenerations at most. @default 2 */
  regenerateBudget?: number;
  /** Fix passes per frame (the original and each regenerated one). @default 3 */
  maxFixPasses?: number;
  /** Called after every recorded attempt, e.g. to emit a progress event. */
  onAttempt?: (attempt: AutofixAttempt) => void;
  measure?: MeasureOptions;
}

export interface AutofixResult {
  /** The best version found: the input itself when it passed or nothing beat it. */
  raster: Raster;
  /** Seed of the regenerated frame the best version came from; absent when it came from the input. */
  seed?: number;
  initial: FrameAssessment;
  final: FrameAssessment;
  attempts: AutofixAttempt[];
  /** True when the kept frame is not the input (fixed or regenerated). */
  autofixApplied: boolean;
  regenerations: number;
}

/** Mean luma autofix aims for when correcting exposure: the middle of the default acceptable band. */
const TARGET_MEAN = 120;

interface Candidate {
  raster: Raster;
  assessment: FrameAssessment;
  seed?: number;
}

/**
 * Builds and applies the fixes for a frame's issues. `pass` (1-based) raises the strength: a pass that was not an
 * improvement is followed by a bolder one. Order matters: colour and tone first (they move luma statistics),
 * noise next, sharpening last (sharpening grain would amplify it).
 */
async function applyFixes(
  raster: Raster,
  assessment: FrameAssessment,
  dna: QaDna,
  thresholds: QaThresholds,
  pass: number,
): Promise<{ raster: Raster; actions: string[] }> {
  const issues = new Set(assessment.issues);
  const actions: string[] = [];
  let out = raster;

  if (issues.has(QaIssue.STYLE_DRIFT)) {
    const strength = Math.min(1, 0.7 + 0.15 * pass);
    out = colourTransfer(out, labStats(out), { mean: dna.meanLab, std: dna.stdLab }, strength);
    actions.push(`colour-transfer(reinhard-lab, strength=${strength.toFixed(2)})`);
  }
  if (issues.has(QaIssue.UNDEREXPOSED) || issues.has(QaIssue.OVEREXPOSED)) {
    const histogram = new Int32Array(256);
    lumaOf(out, histogram);
    let sum = 0;
    for (let v = 0; v < 256; v++) sum += v * histogram[v]!;
    const mean = sum / (out.width * out.height);
    // Later passes overshoot slightly past the target, in case the first gamma fell short on a skewed histogram.
    const target = issues.has(QaIssue.UNDEREXPOSED)
      ? TARGET_MEAN + 8 * (pass - 1)
      : TARGET_MEAN - 8 * (pass - 1);
    // Never the wrong way: a frame flagged underexposed for crushed blacks can already sit above the target mean,
    // and gamma toward the target would darken it (> 1 darkens, < 1 brightens); its floor lift below does the fix.
    const gamma = issues.has(QaIssue.UNDEREXPOSED)
      ? Math.min(1, gammaFor(mean, target))
      : Math.max(1, gammaFor(mean, target));
    // Crushed blacks / blown whites stay at 0 / 255 under any gamma: lift or pull the end points inside the clip limits.
    const floor =
      issues.has(QaIssue.UNDEREXPOSED) &&
      assessment.metrics.exposure.clippedShadowsPct > thresholds.clippedShadowsMaxPct
        ? 8
        : 0;
    const ceiling =
      issues.has(QaIssue.OVEREXPOSED) &&
      assessment.metrics.exposure.clippedHighlightsPct > thresholds.clippedHighlightsMaxPct
        ? 246
        : 255;
    out = applyLut(out, toneLut(gamma, floor, ceiling));
    actions.push(`exposure(gamma=${gamma.toFixed(3)}, floor=${floor}, ceiling=${ceiling})`);
  }
  if (issues.has(QaIssue.LOW_CONTRAST)) {
    const histogram = new Int32Array(256);
    lumaOf(out, histogram);
    const cut = Math.min(5, 0.5 * pass);
    const lo = histogramPercentile(histogram, cut);
    const hi = Math.max(lo + 1, histogramPercentile(histogram, 100 - cut));
    // Stretch toward, not onto, the ends, so the stretch itself does not create clipping issues.
    out = applyLut(out, levelsLut(lo, hi, 10, 245));
    actions.push(`contrast-stretch(p${cut}=${lo}, p${100 - cut}=${hi} → 10..245)`);
  }
  if (issues.has(QaIssue.NOISY)) {
    const size = pass >= 2 ? 5 : 3;
    out = await denoise(out, size);
    actions.push(`denoise(median ${size}x${size})`);
  } else if (issues.has(QaIssue.OVERSHARPENED)) {
    const sigma = 0.5 + 0.3 * pass;
    out = await gentleBlur(out, sigma);
    actions.push(`blur(sigma=${sigma.toFixed(1)})`);
  }
  if (issues.has(QaIssue.TOO_SOFT) && !issues.has(QaIssue.NOISY)) {
    const sigma = 0.8 + 0.4 * pass;
    const amount = 1.5 * pass;
    out = await unsharpMask(out, sigma, amount);
    actions.push(`unsharp-mask(sigma=${sigma.toFixed(1)}, amount=${amount.toFixed(1)})`);
  }
  return { raster: out, actions };
}

/**
 * Stage 4 for one frame: measure; if it fails, fix by its issues and measure again, keeping a version only if it
 * scores higher than the best so far (a fix never makes the result worse). Still failing after `maxFixPasses` and
 * `regenerate` is given: ask for a new frame, up to `regenerateBudget` times, fixing each the same way. Every
 * attempt is recorded with its actions, the assessment before and after and whether it was kept.
 * Rejects with CancelledError when the signal aborts (checked between attempts and around every fix).
 */
export async function autofixFrame(
  raster: Raster,
  dna: QaDna,
  options: AutofixOptions = {},
): Promise<AutofixResult> {
  const thresholds = options.thresholds ?? DEFAULT_QA_THRESHOLDS;
  const budget = Math.max(0, Math.floor(options.regenerateBudget ?? 2));
  const passes = Math.max(0, Math.floor(options.maxFixPasses ?? 3));
  const { signal } = options;
  const assess = (r: Raster): FrameAssessment =>
    assessFrame(
      // The thresholds' resolution exponent is what their sharpness limits are written against.
      measureFrame(r, dna, { sharpnessScaleExponent: thresholds.sharpnessScaleExponent, ...options.measure }),
      thresholds,
    );

  throwIfAborted(signal);
  const initial = assess(raster);
  const attempts: AutofixAttempt[] = [];
  let best: Candidate = { raster, assessment: initial };
  const record = (attempt: Omit<AutofixAttempt, 'attempt' | 'delta'>): void => {
    const full: AutofixAttempt = {
      attempt: attempts.length + 1,
      ...attempt,
      delta: Math.round((attempt.after.score - attempt.before.score) * 10) / 10,
    };
    attempts.push(full);
    options.onAttempt?.(full);
  };

  /** Fix passes starting from `start`; updates `best` whenever a version beats it. */
  const fixFrom = async (start: Candidate): Promise<void> => {
    let current = start;
    for (let pass = 1; pass <= passes && !current.assessment.passed; pass++) {
      throwIfAborted(signal);
      const { raster: fixed, actions } = await applyFixes(
        current.raster,
        current.assessment,
        dna,
        thresholds,
        pass,
      );
      throwIfAborted(signal);
      const after = assess(fixed);
      const improved = after.score > current.assessment.score;
      const kept = improved && after.score > best.assessment.score;
      record({
        kind: 'fix',
        actions,
        before: current.assessment,
        after,
        kept,
        ...(start.seed !== undefined ? { seed: start.seed } : {}),
      });
      if (improved)
        current = {
          raster: fixed,
          assessment: after,
          ...(start.seed !== undefined ? { seed: start.seed } : {}),
        };
      if (kept) best = current;
    }
  };

  if (!initial.passed) await fixFrom(best);

  let regenerations = 0;
  while (!best.assessment.passed && options.regenerate && regenerations < budget) {
    throwIfAborted(signal);
    regenerations++;
    const fresh = await options.regenerate(regenerations);
    throwIfAborted(signal);
    const after = assess(fresh.raster);
    const kept = after.score > best.assessment.score;
    record({
      kind: 'regenerate',
      actions: [`regenerate(seed=${fresh.seed})`],
      seed: fresh.seed,
      before: best.assessment,
      after,
      kept,
    });
    const candidate: Candidate = { raster: fresh.raster, assessment: after, seed: fresh.seed };
    if (kept) best = candidate;
    if (!after.passed) await fixFrom(candidate);
  }

  return {
    raster: best.raster,
    ...(best.seed !== undefined ? { seed: best.seed } : {}),
    initial,
    final: best.assessment,
    attempts,
    autofixApplied: best.raster !== raster,
    regenerations,
  };
}
