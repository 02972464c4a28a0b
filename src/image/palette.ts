import { deltaE2000, labToRgb, rgbToHex, type Lab } from './color.js';
import { sampleLabGrid } from './lab-stats.js';
import type { Raster } from './raster.js';

export interface PaletteEntry {
  hex: string;
  lab: Lab;
  /** Share of sampled pixels in this cluster, 0–1. */
  weight: number;
}

export interface PaletteOptions {
  /** Number of clusters. @default 7 */
  k?: number;
  /** Upper bound on pixels sampled (a regular grid, so the result is deterministic). @default 16384 */
  maxSamples?: number;
  /** Lloyd iterations at most. @default 12 */
  iterations?: number;
}

/**
 * Dominant colours by k-means in CIELAB (Euclidean Lab ≈ perceptual distance for clustering).
 * Deterministic: samples a regular pixel grid and seeds centroids by farthest-point selection from the
 * mean colour, so the same image always gives the same palette (no random init).
 * Sorted by weight, descending; empty clusters are dropped.
 */
export function extractPalette(raster: Raster, options: PaletteOptions = {}): PaletteEntry[] {
  const k = options.k ?? 7;
  const maxSamples = options.maxSamples ?? 16384;
  const iterations = options.iterations ?? 12;
  const samples = sampleLabGrid(raster, maxSamples);
  const n = samples.length / 3;
  if (n === 0) return [];

  // Farthest-point initialisation from the mean: deterministic and spreads centroids over the gamut used.
  const centroids: number[] = [];
  let mL = 0;
  let mA = 0;
  let mB = 0;
  for (let i = 0; i < n; i++) {
    mL += samples[i * 3]!;
    mA += samples[i * 3 + 1]!;
    mB += samples[i * 3 + 2]!;
  }
  let seed = [mL / n, mA / n, mB / n];
  const minDist = new Float64Array(n).fill(Infinity);
  for (let c = 0; c < k; c++) {
    let far = -1;
    let farD = -1;
    for (let i = 0; i < n; i++) {
      const dl = samples[i * 3]! - seed[0]!;
      const da = samples[i * 3 + 1]! - seed[1]!;
      const db = samples[i * 3 + 2]! - seed[2]!;
      const d = dl * dl + da * da + db * db;
      if (d < minDist[i]!) minDist[i] = d;
      if (minDist[i]! > farD) {
        farD = minDist[i]!;
        far = i;
      }
    }
    if (far < 0 || (c > 0 && farD === 0)) break;
    seed = [samples[far * 3]!, samples[far * 3 + 1]!, samples[far * 3 + 2]!];
    centroids.push(seed[0]!, seed[1]!, seed[2]!);
  }
  const kk = centroids.length / 3;
  const assign = new Int32Array(n);
  const counts = new Float64Array(kk);
  for (let iter = 0; iter < iterations; iter++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < kk; c++) {
        const dl = samples[i * 3]! - centroids[c * 3]!;
        const da = samples[i * 3 + 1]! - centroids[c * 3 + 1]!;
        const db = samples[i * 3 + 2]! - centroids[c * 3 + 2]!;
        const d = dl * dl + da * da + db * db;
        if (d < bestD) {
          bestD = d;
          best = c;
        }
      }
      if (assign[i] !== best || iter === 0) changed++;
      assign[i] = best;
    }
    const sums = new Float64Array(kk * 3);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assign[i]!;
      counts[c]!++;
      sums[c * 3] = sums[c * 3]! + samples[i * 3]!;
      sums[c * 3 + 1] = sums[c * 3 + 1]! + samples[i * 3 + 1]!;
      sums[c * 3 + 2] = sums[c * 3 + 2]! + samples[i * 3 + 2]!;
    }
    for (let c = 0; c < kk; c++) {
      if (counts[c]! > 0) {
        centroids[c * 3] = sums[c * 3]! / counts[c]!;
        centroids[c * 3 + 1] = sums[c * 3 + 1]! / counts[c]!;
        centroids[c * 3 + 2] = sums[c * 3 + 2]! / counts[c]!;
      }
    }
    if (changed === 0) break;
  }
  const out: PaletteEntry[] = [];
  for (let c = 0; c < kk; c++) {
    if (counts[c] === 0) continue;
    const lab: Lab = [centroids[c * 3]!, centroids[c * 3 + 1]!, centroids[c * 3 + 2]!];
    out.push({ hex: rgbToHex(labToRgb(lab[0], lab[1], lab[2])), lab, weight: counts[c]! / n });
  }
  return out.sort((a, b) => b.weight - a.weight || a.hex.localeCompare(b.hex));
}

/**
 * Palette drift: weighted mean, over the frame's palette, of the ΔE2000 to the nearest reference colour.
 * 0 = the frame uses only the reference's colours; ~10+ is a visibly different grade.
 */
export function paletteDistance(frame: readonly PaletteEntry[], reference: readonly { lab: Lab }[]): number {
  if (frame.length === 0 || reference.length === 0) return 0;
  let sum = 0;
  let weight = 0;
  for (const colour of frame) {
    let best = Infinity;
    for (const ref of reference) best = Math.min(best, deltaE2000(colour.lab, ref.lab));
    sum += best * colour.weight;
    weight += colour.weight;
  }
  return weight > 0 ? sum / weight : 0;
}
