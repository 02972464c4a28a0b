import type { Raster } from '../../image/raster.js';
import { emptyFrameSums, type FrameSums } from './frame-sweep.js';
import {
  MAX_LAPLACIAN_WIDTH,
  MAX_LUMA_BLOCKS,
  STATS,
  sweepKernels,
  type SweepKernels,
} from './simd-kernel.js';

/** Pixels per band: one `luma` call's worth, so RGB (≤ 384 KiB) and luma stay in L2 between the two kernels. */
const BAND_PIXELS = MAX_LUMA_BLOCKS * 16;
const PAGE = 65536;

/** Scalar luma for the < 16 pixels a band leaves after its 16-pixel blocks. */
function lumaTail(
  heap: Uint8Array,
  src: number,
  dst: number,
  count: number,
  clipHigh: number,
  clipLow: number,
  acc: FrameSums,
): void {
  for (let i = 0; i < count; i++, src += 3) {
    const v = (heap[src]! * 9798 + heap[src + 1]! * 19235 + heap[src + 2]! * 3735 + 16384) >> 15;
    heap[dst + i] = v;
    acc.lumaSum += v;
    acc.lumaSumSq += v * v;
    if (v >= clipHigh) acc.highCount++;
    if (v <= clipLow) acc.lowCount++;
  }
}

/** Laplacian of a full row whose upper and lower neighbours start at `up` and `dn` (first/last row: both the same row). */
function edgeRow(heap: Uint8Array, w: number, up: number, mid: number, dn: number, acc: FrameSums): void {
  for (let x = 0; x < w; x++) {
    const left = x > 0 ? x - 1 : 1;
    const right = x < w - 1 ? x + 1 : w - 2;
    const lap = heap[up + x]! + heap[dn + x]! + heap[mid + left]! + heap[mid + right]! - 4 * heap[mid + x]!;
    acc.lapSum += lap;
    acc.lapSumSq += lap * lap;
  }
}

/**
 * What the vector kernel leaves of an interior row: columns 0 and w-1 (Laplacian only, reflect-101) and the
 * columns from `from` to w-2 that do not fill a vector of 8 (Laplacian and Immerkær).
 */
function rowRemainder(heap: Uint8Array, w: number, mid: number, from: number, acc: FrameSums): void {
  const up = mid - w;
  const dn = mid + w;
  const l0 = heap[up]! + heap[dn]! + 2 * heap[mid + 1]! - 4 * heap[mid]!;
  const l1 = heap[up + w - 1]! + heap[dn + w - 1]! + 2 * heap[mid + w - 2]! - 4 * heap[mid + w - 1]!;
  let sum = l0 + l1;
  let sq = l0 * l0 + l1 * l1;
  let noise = 0;
  for (let x = from; x < w - 1; x++) {
    const cross = heap[up + x]! + heap[dn + x]! + heap[mid + x - 1]! + heap[mid + x + 1]!;
    const lap = cross - 4 * heap[mid + x]!;
    sum += lap;
    sq += lap * lap;
    noise += Math.abs(
      heap[up + x - 1]! +
        heap[up + x + 1]! +
        heap[dn + x - 1]! +
        heap[dn + x + 1]! -
        2 * cross +
        4 * heap[mid + x]!,
    );
  }
  acc.lapSum += sum;
  acc.lapSumSq += sq;
  acc.noiseAbsSum += noise;
}

function addLumaStats(k: SweepKernels, acc: FrameSums): void {
  const i32 = new Uint32Array(k.memory.buffer, 0, STATS.high / 4);
  const i16 = new Uint16Array(k.memory.buffer, STATS.high, (STATS.lapSum - STATS.high) / 2);
  for (let i = 0; i < 4; i++) {
    acc.lumaSum += i32[i]!;
    acc.lumaSumSq += i32[4 + i]!;
  }
  for (let i = 0; i < 8; i++) {
    acc.highCount += i16[i]!;
    acc.lowCount += i16[8 + i]!;
  }
}

function addLaplacianStats(k: SweepKernels, acc: FrameSums): void {
  const f64 = new Float64Array(k.memory.buffer, STATS.lapSum, 6);
  acc.lapSum += f64[0]! + f64[1]!;
  acc.lapSumSq += f64[2]! + f64[3]!;
  acc.noiseAbsSum += f64[4]! + f64[5]!;
}

/**
 * `sweepFrame`'s sums computed with WebAssembly SIMD, band by band: each band's RGB is copied into wasm memory,
 * turned into luma rows after the two rows carried over from the previous band, and the Laplacian/noise kernel
 * runs on every interior row whose neighbours are present. Identical results (all sums are exact integers).
 * Returns `undefined` where it does not apply (no SIMD, frames narrower than 16 or wider than 8192 px, fewer
 * than 3 rows); the caller then uses the scalar sweep.
 */
export function sweepFrameSimd(raster: Raster, clipHigh: number, clipLow: number): FrameSums | undefined {
  const { width: w, height: h } = raster;
  if (
    w < 16 ||
    w > MAX_LAPLACIAN_WIDTH ||
    h < 3 ||
    clipHigh < 0 ||
    clipHigh > 255 ||
    clipLow < 0 ||
    clipLow > 255
  ) {
    return undefined;
  }
  const k = sweepKernels();
  if (!k) return undefined;
  const bandRows = Math.floor(BAND_PIXELS / w);
  const lumaAt = STATS.end;
  const rgbAt = (lumaAt + (bandRows + 2) * w + 64) & ~15;
  const needed = rgbAt + bandRows * w * 3 + 64;
  if (k.memory.buffer.byteLength < needed)
    k.memory.grow(Math.ceil((needed - k.memory.buffer.byteLength) / PAGE));
  const heap = new Uint8Array(k.memory.buffer);
  const data = raster.data;
  const acc = emptyFrameSums();
  const vecs = (w - 2) >> 3;
  const from = 1 + 8 * vecs;
  // luma slot s holds image row y0 - 2 + s: slots 0 and 1 are the previous band's last two rows
  for (let y0 = 0; y0 < h; y0 += bandRows) {
    const y1 = Math.min(h, y0 + bandRows);
    const pixels = (y1 - y0) * w;
    heap.set(data.subarray(y0 * w * 3, y1 * w * 3), rgbAt);
    const blocks = pixels >> 4;
    k.luma(rgbAt, lumaAt + 2 * w, blocks, clipHigh, clipLow);
    addLumaStats(k, acc);
    const done = blocks * 16;
    lumaTail(heap, rgbAt + done * 3, lumaAt + 2 * w + done, pixels - done, clipHigh, clipLow, acc);

    const slot = (y: number): number => lumaAt + (y - y0 + 2) * w;
    if (y0 === 0) edgeRow(heap, w, slot(1), slot(0), slot(1), acc);
    const ya = Math.max(1, y0 - 1);
    const yb = Math.min(h - 2, y1 - 2);
    if (yb >= ya) {
      k.laplacian(slot(ya), w, yb - ya + 1, vecs);
      addLaplacianStats(k, acc);
      for (let y = ya; y <= yb; y++) rowRemainder(heap, w, slot(y), from, acc);
    }
    if (y1 === h) edgeRow(heap, w, slot(h - 2), slot(h - 1), slot(h - 2), acc);
    heap.copyWithin(lumaAt, lumaAt + (y1 - y0) * w, lumaAt + (y1 - y0 + 2) * w);
  }
  return acc;
}
