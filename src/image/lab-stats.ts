import { rgbToLab, type Lab } from './color.js';
import type { Raster } from './raster.js';

export interface LabStats {
  mean: Lab;
  std: Lab;
}

/** Mean and standard deviation per Lab channel, over a regular grid of at most `maxSamples` pixels. */
export function labStats(raster: Raster, maxSamples = 16384): LabStats {
  const { width, height, data } = raster;
  const step = Math.max(1, Math.sqrt((width * height) / maxSamples));
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  let n = 0;
  for (let y = step / 2; y < height; y += step) {
    const row = Math.floor(y) * width;
    for (let x = step / 2; x < width; x += step) {
      const o = (row + Math.floor(x)) * 3;
      const lab = rgbToLab(data[o]!, data[o + 1]!, data[o + 2]!);
      for (let c = 0; c < 3; c++) {
        sum[c]! += lab[c]!;
        sq[c]! += lab[c]! * lab[c]!;
      }
      n++;
    }
  }
  const mean = sum.map((s) => s / Math.max(1, n));
  const std = sq.map((s, c) => Math.sqrt(Math.max(0, s / Math.max(1, n) - mean[c]! ** 2)));
  return { mean: [mean[0]!, mean[1]!, mean[2]!], std: [std[0]!, std[1]!, std[2]!] };
}
