import { labToRgb, rgbToLab } from '../../image/color.js';
import type { LabStats } from '../../image/lab-stats.js';
import { createRaster, rasterToSharp, type Raster } from '../../image/raster.js';

/**
 * The repairs autofix can apply. Each takes and returns raw RGB rasters (no encode/decode); sharp does the
 * convolutions, 8-bit LUTs and a 3D LUT do the tone and colour work in plain loops.
 */

async function viaSharp(
  raster: Raster,
  build: (s: ReturnType<typeof rasterToSharp>) => ReturnType<typeof rasterToSharp>,
): Promise<Raster> {
  const { data, info } = await build(rasterToSharp(raster))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== raster.width || info.height !== raster.height || info.channels !== 3) {
    throw new RangeError(`fix changed the frame to ${info.width}x${info.height}x${info.channels}`);
  }
  return createRaster(info.width, info.height, data);
}

/** Unsharp mask on lightness (sharp's `sharpen`): `sigma` is the blur radius, `amount` the gain on edges. */
export function unsharpMask(raster: Raster, sigma: number, amount: number): Promise<Raster> {
  return viaSharp(raster, (s) => s.sharpen({ sigma, m1: amount / 2, m2: amount, x1: 2, y2: 10, y3: 20 }));
}

/** Gaussian blur, for oversharpened frames (halos, crunchy texture). */
export function gentleBlur(raster: Raster, sigma: number): Promise<Raster> {
  return viaSharp(raster, (s) => s.blur(Math.max(0.3, sigma)));
}

/** Median filter: removes grain and salt-and-pepper noise while keeping edges. */
export function denoise(raster: Raster, size: 3 | 5): Promise<Raster> {
  return viaSharp(raster, (s) => s.median(size));
}

/** Applies one 256-entry table to every channel of every pixel. */
export function applyLut(raster: Raster, lut: Uint8Array): Raster {
  const src = raster.data;
  const out = Buffer.allocUnsafe(src.length);
  for (let i = 0; i < src.length; i++) out[i] = lut[src[i]!]!;
  return createRaster(raster.width, raster.height, out);
}

/**
 * Tone curve `out = floor + (ceiling − floor) · (in/255)^gamma` as a LUT: gamma < 1 brightens, > 1 darkens;
 * floor/ceiling (0–255) lift crushed blacks or pull clipped whites back inside the clip limits.
 */
export function toneLut(gamma: number, floor = 0, ceiling = 255): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) {
    const y = floor + (ceiling - floor) * (v / 255) ** gamma;
    lut[v] = Math.max(0, Math.min(255, Math.round(y)));
  }
  return lut;
}

/** Gamma that moves a mean luma to a target mean (exact for a flat frame, close for real ones). */
export function gammaFor(meanLuma: number, targetMean: number): number {
  const m = Math.min(254, Math.max(1, meanLuma)) / 255;
  const t = Math.min(254, Math.max(1, targetMean)) / 255;
  return Math.min(3, Math.max(1 / 3, Math.log(t) / Math.log(m)));
}

/** Value at a percentile (0–100) of a 256-bin histogram. */
export function histogramPercentile(histogram: Int32Array, pct: number): number {
  let total = 0;
  for (let v = 0; v < 256; v++) total += histogram[v]!;
  const target = (pct / 100) * total;
  let acc = 0;
  for (let v = 0; v < 256; v++) {
    acc += histogram[v]!;
    if (acc >= target && acc > 0) return v;
  }
  return 255;
}

/** Percentile levels: maps [lo, hi] linearly onto [outLo, outHi], clipping outside. */
export function levelsLut(lo: number, hi: number, outLo = 0, outHi = 255): Uint8Array {
  const lut = new Uint8Array(256);
  const span = Math.max(1, hi - lo);
  for (let v = 0; v < 256; v++) {
    const y = outLo + ((v - lo) / span) * (outHi - outLo);
    lut[v] = Math.max(0, Math.min(255, Math.round(y)));
  }
  return lut;
}

/** Grid points per axis of the colour-transfer 3D LUT: 33 is the size film and grading tools use. */
const LUT_SIZE = 33;

/**
 * Reinhard et al. (2001) colour transfer in CIELAB: each channel's mean and spread are matched to the target's,
 * `v' = (v − μs) · σt/σs + μt`, blended by `strength` (0–1). The spread ratio is held to [0.5, 2] so a flat
 * source channel is not blown up. Applied through a 33³ RGB→RGB LUT with trilinear interpolation, so the
 * Lab round trip runs 36k times, not once per pixel.
 */
export function colourTransfer(raster: Raster, source: LabStats, target: LabStats, strength = 1): Raster {
  const [s0, s1, s2] = [0, 1, 2].map((c) =>
    Math.min(2, Math.max(0.5, target.std[c]! / Math.max(1e-6, source.std[c]!))),
  ) as [number, number, number];
  const [ms0, ms1, ms2] = source.mean;
  const [mt0, mt1, mt2] = target.mean;
  const grid = labGrid();
  const lut = new Float32Array(grid.length);
  for (let o = 0; o < grid.length; o += 3) {
    const L = grid[o]!;
    const a = grid[o + 1]!;
    const b = grid[o + 2]!;
    // Same arithmetic, in the same order, as moving each channel by (v − μs)·σt/σs + μt and blending by strength.
    const rgb = labToRgb(
      L + ((L - ms0) * s0 + mt0 - L) * strength,
      a + ((a - ms1) * s1 + mt1 - a) * strength,
      b + ((b - ms2) * s2 + mt2 - b) * strength,
    );
    lut[o] = rgb[0];
    lut[o + 1] = rgb[1];
    lut[o + 2] = rgb[2];
  }
  return applyLut3d(raster, lut, LUT_SIZE);
}

let cachedLabGrid: Float64Array | undefined;

/** CIELAB of the LUT's 33³ RGB grid points, in LUT order: the same for every frame, so computed once. */
function labGrid(): Float64Array {
  if (cachedLabGrid) return cachedLabGrid;
  const n = LUT_SIZE;
  const grid = new Float64Array(n * n * n * 3);
  for (let r = 0; r < n; r++) {
    for (let g = 0; g < n; g++) {
      for (let b = 0; b < n; b++) {
        const lab = rgbToLab(
          Math.round((r * 255) / (n - 1)),
          Math.round((g * 255) / (n - 1)),
          Math.round((b * 255) / (n - 1)),
        );
        grid.set(lab, ((r * n + g) * n + b) * 3);
      }
    }
  }
  cachedLabGrid = grid;
  return grid;
}

function applyLut3d(raster: Raster, lut: Float32Array, n: number): Raster {
  const src = raster.data;
  const out = Buffer.allocUnsafe(src.length);
  const k = (n - 1) / 255;
  const sG = n * 3;
  const sR = n * n * 3;
  for (let i = 0; i < src.length; i += 3) {
    const fr = src[i]! * k;
    const fg = src[i + 1]! * k;
    const fb = src[i + 2]! * k;
    const r0 = Math.min(n - 2, fr | 0);
    const g0 = Math.min(n - 2, fg | 0);
    const b0 = Math.min(n - 2, fb | 0);
    const dr = fr - r0;
    const dg = fg - g0;
    const db = fb - b0;
    const base = r0 * sR + g0 * sG + b0 * 3;
    for (let c = 0; c < 3; c++) {
      const o = base + c;
      const c00 = lut[o]! + (lut[o + 3]! - lut[o]!) * db;
      const c01 = lut[o + sG]! + (lut[o + sG + 3]! - lut[o + sG]!) * db;
      const c10 = lut[o + sR]! + (lut[o + sR + 3]! - lut[o + sR]!) * db;
      const c11 = lut[o + sR + sG]! + (lut[o + sR + sG + 3]! - lut[o + sR + sG]!) * db;
      const c0 = c00 + (c01 - c00) * dg;
      const c1 = c10 + (c11 - c10) * dg;
      out[i + c] = Math.round(c0 + (c1 - c0) * dr);
    }
  }
  return createRaster(raster.width, raster.height, out);
}
