/**
 * QA thresholds: configuration, not constants buried in code. Every limit applies to one FrameMetrics field;
 * a frame outside a limit gets the named issue. Defaults were calibrated by measurement, not guessed:
 *
 * Resolution scaling of sharpness (Laplacian variance, log-log slope against min(w,h)):
 *   - the same vector scene rendered natively at 256…2048 px:            783 @512 → 330 @1024 → 162 @2048, slope −1.06
 *   - storyboard drafts rendered natively at 512², 1024×576, 1920×1080:  ~800 → ~690 → ~340, slope −1.08
 *   - the 512-px render Lanczos3-upscaled to 768…2048 px:                783 → 75 @1024 → 6.4 @2048, slope −3.46
 * Native detail falls roughly as 1/size (edges cover a shrinking share of pixels), upscaled detail as size^−3.5
 * (a band-limited image: second derivative ∝ 1/s², variance ∝ 1/s⁴, a little less through Lanczos ringing).
 * QA sees promoted frames, which are either native or upscaled, so p = 2 sits between the two: a frame promoted
 * up to 2× keeps its normalised score within ~2–3× of what the same content scores natively, while a 3.75×
 * upscale (a 512² draft cropped and blown up to 1080p: normalised ≈ 20) is, rightly, flagged as soft.
 *
 * Drafts from the embedded renderer (examples/lighthouse and night-market, promoted to 1920×1080):
 *   - rendered at 1920×1080: normalised sharpness 1450–1600, noise σ 2.0–2.3, contrast 0.108–0.25, mean luma 73–134
 *   - rendered at 1024×576:  normalised sharpness 310–370, noise σ 0.4
 *   - palette drift to the sheet's DNA when the request carries the sheet's palette: 2.6–10.3 ΔE2000; the same
 *     frames against the other project's sheet: 23–41; hue-rotated by 120°: 14–23.
 * Hence: the sharpness ceiling at 3000 (grain and fine texture read as "sharp" to a Laplacian; the original's 180
 * would fail every textured frame), contrast floor 0.08, drift limit 12.
 */
export interface QaThresholds {
  /**
   * Below this normalised sharpness (Laplacian variance at the 512-px reference) a frame is `too_soft`.
   * The original's value for 512-px panels.
   * @default 50
   */
  sharpnessMin: number;
  /**
   * Above this normalised sharpness a frame is `oversharpened`. The original used 180 on 512-px panels, which
   * flags nearly every textured or grainy frame (Laplacian variance counts noise and fine texture as "sharp");
   * raised so typical storyboard drafts and photographic frames pass (see the calibration note above).
   * @default 3000
   */
  sharpnessMax: number;
  /**
   * Exponent p of the resolution scaling `sharpness × (min(w,h)/512)^p` (measured, see above).
   * @default 2
   */
  sharpnessScaleExponent: number;
  /** Mean luma (0–255) below which a frame is `underexposed`. @default 60 */
  meanLumaMin: number;
  /** Mean luma above which a frame is `overexposed`. @default 200 */
  meanLumaMax: number;
  /** Percent of pixels with luma ≤ 5 above which a frame is `underexposed`. @default 25 */
  clippedShadowsMaxPct: number;
  /** Percent of pixels with luma ≥ 250 above which a frame is `overexposed`. @default 10 */
  clippedHighlightsMaxPct: number;
  /** RMS contrast (std of luma / 255) below which a frame is `low_contrast`. @default 0.08 */
  contrastMin: number;
  /** Estimated noise sigma (8-bit levels, Immerkær) above which a frame is `noisy`. @default 8 */
  noiseSigmaMax: number;
  /** Palette drift (mean ΔE2000 to the sheet's palette) above which a frame is `style_drift`. @default 12 */
  paletteDriftMax: number;
}

export const DEFAULT_QA_THRESHOLDS: Readonly<QaThresholds> = Object.freeze({
  sharpnessMin: 50,
  sharpnessMax: 3000,
  sharpnessScaleExponent: 2,
  meanLumaMin: 60,
  meanLumaMax: 200,
  clippedShadowsMaxPct: 25,
  clippedHighlightsMaxPct: 10,
  contrastMin: 0.08,
  noiseSigmaMax: 8,
  paletteDriftMax: 12,
});
