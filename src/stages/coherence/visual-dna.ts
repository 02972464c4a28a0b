import { ValidationError } from '../../core/errors.js';
import { SRGB_TO_LINEAR } from '../../image/color.js';
import { extractPalette } from '../../image/palette.js';
import { labStats } from '../../image/lab-stats.js';
import { createRaster, type Raster } from '../../image/raster.js';
import type { VisualDna } from './types.js';

export interface VisualDnaOptions {
  /** Clusters of the palette's k-means (empty clusters are dropped, so the palette has at most k colours). @default 7 */
  k?: number;
  /** Upper bound on pixels converted to Lab for meanLab/stdLab (a regular grid: deterministic). @default 65536 */
  maxLabSamples?: number;
}

/** Colour temperatures outside this range are not meaningful for McCamy's cubic; clamp to it. */
export const CCT_RANGE_K = [1000, 25000] as const;
/** Reported for a black image, where chromaticity is undefined: D65, the neutral of sRGB. */
const NEUTRAL_CCT_K = 6504;

/**
 * Correlated colour temperature of an sRGB colour given in *linear* light, by McCamy's (1992) cubic in the
 * CIE 1931 xy chromaticity. Accurate near the Planckian locus (2856–6504 K within a few K); for strongly
 * saturated colours it is an ordering, not a physical temperature, so the result is clamped to CCT_RANGE_K.
 */
export function correlatedColourTemperature(rLin: number, gLin: number, bLin: number): number {
  const X = 0.4124564 * rLin + 0.3575761 * gLin + 0.1804375 * bLin;
  const Y = 0.2126729 * rLin + 0.7151522 * gLin + 0.072175 * bLin;
  const Z = 0.0193339 * rLin + 0.119192 * gLin + 0.9503041 * bLin;
  const sum = X + Y + Z;
  if (sum <= 1e-9) return NEUTRAL_CCT_K;
  const x = X / sum;
  const y = Y / sum;
  const n = (x - 0.332) / (0.1858 - y);
  const cct = 449 * n ** 3 + 3525 * n ** 2 + 6823.3 * n + 5520.33;
  if (!Number.isFinite(cct)) return CCT_RANGE_K[1];
  return Math.min(CCT_RANGE_K[1], Math.max(CCT_RANGE_K[0], cct));
}

/**
 * Measures the look of an image: dominant palette (k-means in Lab), BT.601 luma mean and standard deviation,
 * RMS contrast, colour temperature of the mean colour (averaged in linear light, as light adds), and the Lab
 * mean/standard deviation that Reinhard colour transfer moves a frame toward.
 */
export function measureVisualDna(raster: Raster, options: VisualDnaOptions = {}): VisualDna {
  const { width, height, data } = raster;
  const total = width * height;
  if (total === 0)
    throw new ValidationError('cannot measure the visual DNA of an empty image', [
      { path: 'raster', message: `${width}x${height}` },
    ]);
  let lumaSum = 0;
  let rl = 0;
  let gl = 0;
  let bl = 0;
  for (let i = 0, o = 0; i < total; i++, o += 3) {
    const r = data[o]!;
    const g = data[o + 1]!;
    const b = data[o + 2]!;
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    lumaSum += y;
    rl += SRGB_TO_LINEAR[r]!;
    gl += SRGB_TO_LINEAR[g]!;
    bl += SRGB_TO_LINEAR[b]!;
  }
  const mean = lumaSum / total;
  // Second pass around the mean: E[y²]-E[y]² loses precision to cancellation (a flat image must read 0).
  let dev = 0;
  for (let o = 0; o < data.length; o += 3) {
    const d = 0.299 * data[o]! + 0.587 * data[o + 1]! + 0.114 * data[o + 2]! - mean;
    dev += d * d;
  }
  const stdDev = Math.sqrt(dev / total);

  // Lab statistics on a regular grid (labStats): converting every pixel of a 1600² sheet costs ~10× more for the same numbers.
  const { mean: meanLab, std: stdLab } = labStats(raster, options.maxLabSamples ?? 65536);

  const palette = extractPalette(raster, { k: options.k ?? 7 }).map((p) => ({
    hex: p.hex,
    lab: p.lab,
    weight: p.weight,
  }));
  return {
    palette,
    luminance: { mean, stdDev },
    contrastRms: stdDev / 255,
    colorTemperatureK: correlatedColourTemperature(rl / total, gl / total, bl / total),
    meanLab,
    stdLab,
  };
}

/**
 * The DNA of a coherence sheet, measured on its nine panels only: the gutters are a neutral frame, not part of
 * the look, and would otherwise pull the palette and the luminance toward dark grey.
 */
export function measureSheetDna(panels: readonly Raster[], options: VisualDnaOptions = {}): VisualDna {
  const first = panels[0];
  if (!first)
    throw new ValidationError('a coherence sheet needs panels to measure', [
      { path: 'panels', message: 'empty' },
    ]);
  panels.forEach((p, i) => {
    if (p.width !== first.width || p.height !== first.height) {
      throw new ValidationError(
        `sheet panel ${i} is ${p.width}x${p.height}, expected ${first.width}x${first.height} like panel 0`,
        [{ path: `panels[${i}]`, message: 'size differs from panel 0' }],
      );
    }
  });
  // Stacked vertically, the panels form one image whose pixels are exactly the panels' pixels.
  const stacked = createRaster(
    first.width,
    first.height * panels.length,
    Buffer.concat(panels.map((p) => p.data)),
  );
  return measureVisualDna(stacked, options);
}
