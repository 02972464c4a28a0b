import type { Raster } from '../../image/raster.js';

/** Exact integer sums over one frame, everything the QA metrics need except the palette. */
export interface FrameSums {
  /** Σ luma and Σ luma² over every pixel. */
  lumaSum: number;
  lumaSumSq: number;
  /** Pixels with luma ≥ `clipHigh` / ≤ `clipLow`. */
  highCount: number;
  lowCount: number;
  /** Σ Laplacian and Σ Laplacian² over every pixel, reflect-101 borders (OpenCV's default). */
  lapSum: number;
  lapSumSq: number;
  /** Σ |I * N| over the interior, N = Immerkær's noise mask. */
  noiseAbsSum: number;
}

/** All sums zero: where every sweep starts. */
export function emptyFrameSums(): FrameSums {
  return { lumaSum: 0, lumaSumSq: 0, highCount: 0, lowCount: 0, lapSum: 0, lapSumSq: 0, noiseAbsSum: 0 };
}

/**
 * Longest run of pixels whose Σ lap² fits an int32: |lap| ≤ 1020, 2048 · 1020² < 2^31. Rows are walked in
 * chunks of this many columns so the hot sums stay integers (a double accumulator is a 4-cycle add chain).
 */
const CHUNK = 2048;

/**
 * Ring of three luma rows. Grown, never shrunk, and reused across calls: the sweep allocates nothing per frame
 * once it has seen the widest frame.
 */
let sharedRing = new Int32Array(0);

/**
 * Luma of row `y` (OpenCV's 15-bit BT.601) into `ring[at … at+w)`, adding its luma statistics to `acc`.
 * `lowBound` is `clipLow + 1`, `highShift` turns `v + (256 - clipHigh)` into 1 exactly when v ≥ clipHigh.
 */
function lumaRow(
  ring: Int32Array,
  data: Uint8Array,
  w: number,
  y: number,
  at: number,
  clipHigh: number,
  clipLow: number,
  acc: FrameSums,
): void {
  let o = y * w * 3;
  let sum = 0;
  let sumSq = 0;
  let high = 0;
  let low = 0;
  const hiOff = 256 - clipHigh;
  const loOff = clipLow + 1;
  for (let x = 0; x < w; x++, o += 3) {
    const v = (data[o]! * 9798 + data[o + 1]! * 19235 + data[o + 2]! * 3735 + 16384) >> 15;
    ring[at + x] = v;
    sum = (sum + v) | 0;
    sumSq += v * v;
    high += (v + hiOff) >> 8;
    low += (v - loOff) >>> 31;
  }
  acc.lumaSum += sum;
  acc.lumaSumSq += sumSq;
  acc.highCount += high;
  acc.lowCount += low;
}

/** Laplacian sums for a whole row whose neighbours above/below are the ring rows `up`/`dn` (borders reflected). */
function lapRow(ring: Int32Array, w: number, up: number, mid: number, dn: number, acc: FrameSums): void {
  let sum = 0;
  let sumSq = 0;
  for (let x = 0; x < w; x++) {
    const left = x > 0 ? x - 1 : w > 1 ? 1 : 0;
    const right = x < w - 1 ? x + 1 : w > 1 ? w - 2 : 0;
    const lap = ring[up + x]! + ring[dn + x]! + ring[mid + left]! + ring[mid + right]! - 4 * ring[mid + x]!;
    sum += lap;
    sumSq += lap * lap;
  }
  acc.lapSum += sum;
  acc.lapSumSq += sumSq;
}

/**
 * Interior row y (1 ≤ y ≤ h-2, w ≥ 3): Laplacian and Immerkær sums for columns 1…w-2 while computing luma row
 * y+1 into `dn` on the fly, so every RGB byte is read once and every luma value is written once, read twice,
 * all inside a 3-row ring that stays in L1. The 3x3 window slides in locals.
 */
function fusedRow(
  ring: Int32Array,
  data: Uint8Array,
  w: number,
  y: number,
  up: number,
  mid: number,
  dn: number,
  hiOff: number,
  loOff: number,
  acc: FrameSums,
): void {
  const src = (y + 1) * w * 3;
  // luma of row y+1 at columns 0 and 1, which the window needs before its first step
  const d0 = (data[src]! * 9798 + data[src + 1]! * 19235 + data[src + 2]! * 3735 + 16384) >> 15;
  const d1 = (data[src + 3]! * 9798 + data[src + 4]! * 19235 + data[src + 5]! * 3735 + 16384) >> 15;
  ring[dn] = d0;
  ring[dn + 1] = d1;
  let lSum = d0 + d1;
  let lSq = d0 * d0 + d1 * d1;
  let high = ((d0 + hiOff) >> 8) + ((d1 + hiOff) >> 8);
  let low = ((d0 - loOff) >>> 31) + ((d1 - loOff) >>> 31);
  let lapSum = 0;
  let lapSq = 0;
  let noise = 0;

  let ua = ring[up]!;
  let ub = ring[up + 1]!;
  let ma = ring[mid]!;
  let mb = ring[mid + 1]!;
  let da = d0;
  let db = d1;
  for (let x0 = 1; x0 < w - 1; x0 += CHUNK) {
    const x1 = Math.min(w - 1, x0 + CHUNK);
    let rowSq = 0;
    // Σ luma² of the chunk fits int32 (2048 × 255² < 2³¹); the row's total may not (past 33,025 px), so it is a double.
    let chunkLumaSq = 0;
    let o = src + (x0 + 1) * 3;
    for (let x = x0; x < x1; x++, o += 3) {
      const uc = ring[up + x + 1]!;
      const mc = ring[mid + x + 1]!;
      const dc = (data[o]! * 9798 + data[o + 1]! * 19235 + data[o + 2]! * 3735 + 16384) >> 15;
      ring[dn + x + 1] = dc;
      lSum = (lSum + dc) | 0;
      chunkLumaSq = (chunkLumaSq + dc * dc) | 0;
      high = (high + ((dc + hiOff) >> 8)) | 0;
      low = (low + ((dc - loOff) >>> 31)) | 0;
      const cross = ub + db + ma + mc;
      const lap = cross - 4 * mb;
      lapSum = (lapSum + lap) | 0;
      rowSq = (rowSq + Math.imul(lap, lap)) | 0;
      const nz = ua + uc + da + dc - 2 * cross + 4 * mb;
      const sign = nz >> 31;
      noise = (noise + ((nz ^ sign) - sign)) | 0;
      ua = ub;
      ub = uc;
      ma = mb;
      mb = mc;
      da = db;
      db = dc;
    }
    lapSq += rowSq;
    lSq += chunkLumaSq;
  }
  // columns 0 and w-1 of row y, reflect-101: the missing neighbour is the one on the other side
  const l0 = ring[up]! + ring[dn]! + 2 * ring[mid + 1]! - 4 * ring[mid]!;
  const l1 = ring[up + w - 1]! + ring[dn + w - 1]! + 2 * ring[mid + w - 2]! - 4 * ring[mid + w - 1]!;
  acc.lumaSum += lSum;
  acc.lumaSumSq += lSq;
  acc.highCount += high;
  acc.lowCount += low;
  acc.lapSum += lapSum + l0 + l1;
  acc.lapSumSq += lapSq + l0 * l0 + l1 * l1;
  acc.noiseAbsSum += noise;
}

/**
 * Every per-pixel sum of the QA metrics in one sweep over the rows: luma (bit-exact with OpenCV), its moments and
 * clipping counts, the Laplacian's Σ and Σ² and Immerkær's Σ|I*N|. All sums are exact integers.
 * Synchronous and not re-entrant (the ring is module state), which is fine: JS runs one sweep at a time per thread.
 */
export function sweepFrame(raster: Raster, clipHigh: number, clipLow: number): FrameSums {
  const { width: w, height: h } = raster;
  const data = new Uint8Array(raster.data.buffer, raster.data.byteOffset, raster.data.length);
  const acc = emptyFrameSums();
  if (w === 0 || h === 0) return acc;
  if (sharedRing.length < 3 * w) sharedRing = new Int32Array(3 * w);
  const r = sharedRing;
  const hiOff = 256 - clipHigh;
  const loOff = clipLow + 1;

  lumaRow(r, data, w, 0, 0, clipHigh, clipLow, acc);
  if (h === 1) {
    lapRow(r, w, 0, 0, 0, acc);
    return acc;
  }
  lumaRow(r, data, w, 1, w, clipHigh, clipLow, acc);
  lapRow(r, w, w, 0, w, acc); // row 0: the row above is row 1 (reflect-101)
  let up = 0;
  let mid = w;
  let dn = 2 * w;
  for (let y = 1; y < h - 1; y++) {
    if (w >= 3) fusedRow(r, data, w, y, up, mid, dn, hiOff, loOff, acc);
    else {
      lumaRow(r, data, w, y + 1, dn, clipHigh, clipLow, acc);
      lapRow(r, w, up, mid, dn, acc);
    }
    const free = up;
    up = mid;
    mid = dn;
    dn = free;
  }
  lapRow(r, w, up, mid, up, acc); // row h-1: the row below is row h-2
  return acc;
}
