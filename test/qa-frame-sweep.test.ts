import { describe, expect, it } from 'vitest';
import { createRaster, type Raster } from '../src/image/raster.js';
import { emptyFrameSums, sweepFrame, type FrameSums } from '../src/stages/qa/frame-sweep.js';
import { CLIP_HIGH, CLIP_LOW, lumaOf, measureFrame } from '../src/stages/qa/metrics.js';
import { sweepFrameSimd } from '../src/stages/qa/simd-sweep.js';

/** The definitions, pixel by pixel: OpenCV luma, 3x3 Laplacian with reflect-101 borders, Immerkær's mask inside. */
function reference(raster: Raster): FrameSums {
  const { width: w, height: h } = raster;
  const luma = lumaOf(raster);
  const at = (x: number, y: number): number => {
    const rx = w === 1 ? 0 : x < 0 ? -x : x >= w ? 2 * w - 2 - x : x;
    const ry = h === 1 ? 0 : y < 0 ? -y : y >= h ? 2 * h - 2 - y : y;
    return luma[ry * w + rx]!;
  };
  const out = emptyFrameSums();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = at(x, y);
      out.lumaSum += v;
      out.lumaSumSq += v * v;
      if (v >= CLIP_HIGH) out.highCount++;
      if (v <= CLIP_LOW) out.lowCount++;
      const lap = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4 * v;
      out.lapSum += lap;
      out.lapSumSq += lap * lap;
      if (x > 0 && y > 0 && x < w - 1 && y < h - 1) {
        const corners = at(x - 1, y - 1) + at(x + 1, y - 1) + at(x - 1, y + 1) + at(x + 1, y + 1);
        const edges = at(x, y - 1) + at(x - 1, y) + at(x + 1, y) + at(x, y + 1);
        out.noiseAbsSum += Math.abs(corners - 2 * edges + 4 * v);
      }
    }
  }
  return out;
}

/** Random bytes from a fixed LCG, with every 7th byte forced to 255 and every 11th to 0 so both clip ends occur. */
function randomFrame(width: number, height: number, seed: number): Raster {
  const data = Buffer.alloc(width * height * 3);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[i] = i % 7 === 0 ? 255 : i % 11 === 0 ? 0 : state >>> 24;
  }
  return createRaster(width, height, data);
}

/** Black/white checkerboard: |Laplacian| = 1020 at every interior pixel, the worst case for the integer lanes. */
function checkerboard(width: number, height: number): Raster {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++)
      if ((x + y) & 1) data.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
  }
  return createRaster(width, height, data);
}

describe('the fused frame sweep gives exactly the per-pixel sums', () => {
  // widths around the 8- and 16-pixel vectors, heights across band boundaries (1920 px → 68-row bands)
  const sizes: Array<[number, number]> = [
    [16, 3],
    [17, 4],
    [18, 5],
    [25, 40],
    [161, 97],
    [1920, 150],
    [1921, 139],
    [333, 1000],
    [8192, 20],
  ];

  it('the WebAssembly SIMD kernel is available on this Node', () => {
    expect(sweepFrameSimd(randomFrame(32, 8, 1), CLIP_HIGH, CLIP_LOW)).toBeDefined();
  });

  for (const [w, h] of sizes) {
    it(`SIMD and scalar sweeps match the definitions on a random ${w}x${h} frame`, () => {
      const raster = randomFrame(w, h, w * 31 + h);
      const expected = reference(raster);
      expect(sweepFrameSimd(raster, CLIP_HIGH, CLIP_LOW)).toEqual(expected);
      expect(sweepFrame(raster, CLIP_HIGH, CLIP_LOW)).toEqual(expected);
    });
  }

  for (const [w, h] of [
    [8192, 40],
    [2049, 3],
    [4500, 6],
  ] as Array<[number, number]>) {
    it(`holds at the largest Laplacian on a ${w}x${h} checkerboard (no lane overflows)`, () => {
      const raster = checkerboard(w, h);
      const expected = reference(raster);
      expect(expected.lapSumSq).toBeGreaterThan(1020 ** 2 * (w - 2) * (h - 2));
      expect(sweepFrame(raster, CLIP_HIGH, CLIP_LOW)).toEqual(expected);
      expect(sweepFrameSimd(raster, CLIP_HIGH, CLIP_LOW)).toEqual(expected);
    });
  }

  it('frames the vector kernel does not take (too narrow, too wide, too short) go through the scalar sweep', () => {
    for (const [w, h] of [
      [1, 1],
      [1, 9],
      [9, 1],
      [2, 2],
      [15, 40],
      [40, 2],
      [8200, 3],
    ] as Array<[number, number]>) {
      const raster = randomFrame(w, h, w + 7 * h);
      expect(sweepFrameSimd(raster, CLIP_HIGH, CLIP_LOW)).toBeUndefined();
      expect(sweepFrame(raster, CLIP_HIGH, CLIP_LOW)).toEqual(reference(raster));
    }
  });

  it('keeps Σ luma² exact on rows wider than int32 can sum (40000 px of white)', () => {
    const w = 40000;
    const h = 3;
    const white = createRaster(w, h, Buffer.alloc(w * h * 3, 255));
    const sums = sweepFrame(white, CLIP_HIGH, CLIP_LOW);
    expect(sums.lumaSum).toBe(w * h * 255);
    expect(sums.lumaSumSq).toBe(w * h * 255 * 255);
  });

  it('measureFrame turns the sums into the variance, through either path', () => {
    // 8200 px wide takes the scalar sweep, 640 px the vector one
    for (const raster of [randomFrame(8200, 3, 5), randomFrame(640, 360, 9)]) {
      const e = reference(raster);
      const n = raster.width * raster.height;
      const mean = e.lapSum / n;
      const m = measureFrame(raster, { palette: [] });
      expect(m.sharpness).toBe(e.lapSumSq / n - mean * mean);
      expect(m.exposure.meanLuma).toBe(e.lumaSum / n);
      expect(m.exposure.clippedHighlightsPct).toBe((100 * e.highCount) / n);
    }
  });
});
