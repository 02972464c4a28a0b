import { rgbToLab, type Lab } from './color.js';
import type { Raster } from './raster.js';

export interface LabStats {
  mean: Lab;
  std: Lab;
}

/**
 * CIELAB of the pixels on a regular grid of at most about `maxSamples` points, as [L, a, b, L, a, b, …].
 * A grid rather than random picks: the same image always gives the same samples (palettes, DNA and colour
 * transfer are deterministic).
 */
export function sampleLabGrid(raster: Raster, maxSamples: number): Float64Array {
  const { width, height, data } = raster;
  const step = Math.max(1, Math.sqrt((width * height) / maxSamples));
  const out: number[] = [];
  for (let y = step / 2; y < height; y += step) {
    const row = Math.floor(y) * width;
    for (let x = step / 2; x < width; x += step) {
      const o = (row + Math.floor(x)) * 3;
      const lab = rgbToLab(data[o]!, data[o + 1]!, data[o + 2]!);
      out.push(lab[0], lab[1], lab[2]);
    }
  }
  return Float64Array.from(out);
}

/** Mean and standard deviation per Lab channel, over a regular grid of at most `maxSamples` pixels. */
export function labStats(raster: Raster, maxSamples = 16384): LabStats {
  const samples = sampleLabGrid(raster, maxSamples);
  const n = samples.length / 3;
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  for (let i = 0; i < samples.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const v = samples[i + c]!;
      sum[c]! += v;
      sq[c]! += v * v;
    }
  }
  const mean = sum.map((s) => s / Math.max(1, n));
  const std = sq.map((s, c) => Math.sqrt(Math.max(0, s / Math.max(1, n) - mean[c]! ** 2)));
  return { mean: [mean[0]!, mean[1]!, mean[2]!], std: [std[0]!, std[1]!, std[2]!] };
}
