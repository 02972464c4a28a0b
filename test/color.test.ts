import { describe, expect, it } from 'vitest';
import { deltaE2000, labToRgb, linearToSrgb8, rgbToLab, type Lab } from '../src/image/color.js';

/**
 * Reference pairs from Sharma, Wu & Dalal, "The CIEDE2000 Color-Difference Formula: Implementation Notes,
 * Supplementary Test Data, and Mathematical Observations" (2005), table 1 — the published test set for ΔE2000.
 */
const SHARMA: Array<[Lab, Lab, number]> = [
  [[50, 2.6772, -79.7751], [50, 0, -82.7485], 2.0425],
  [[50, 3.1571, -77.2803], [50, 0, -82.7485], 2.8615],
  [[50, 2.8361, -74.02], [50, 0, -82.7485], 3.4412],
  [[50, -1.3802, -84.2814], [50, 0, -82.7485], 1.0],
  [[50, 0, 0], [50, -1, 2], 2.3669],
  [[50, -1, 2], [50, 0, 0], 2.3669],
  [[50, 2.49, -0.001], [50, -2.49, 0.0009], 7.1792],
  [[50, 2.5, 0], [73, 25, -18], 27.1492],
  [[50, 2.5, 0], [61, -5, 29], 22.8977],
  [[50, 2.5, 0], [56, -27, -3], 31.903],
  [[50, 2.5, 0], [58, 24, 15], 19.4535],
  [[60.2574, -34.0099, 36.2677], [60.4626, -34.1751, 39.4387], 1.2644],
  [[22.7233, 20.0904, -46.694], [23.0331, 14.973, -42.5619], 2.0373],
  [[90.8027, -2.0831, 1.441], [91.1528, -1.6435, 0.0447], 1.4441],
  [[2.0776, 0.0795, -1.135], [0.9033, -0.0636, -0.5514], 0.9082],
];

describe('colour science', () => {
  it.each(SHARMA)('ΔE2000(%j, %j) = %d, as Sharma et al. publish', (a, b, expected) => {
    expect(deltaE2000(a, b)).toBeCloseTo(expected, 4);
    expect(deltaE2000(b, a)).toBeCloseTo(expected, 4); // symmetric
  });

  it('converts sRGB to CIELAB (D65) at known points and back without loss on a grid', () => {
    const white = rgbToLab(255, 255, 255);
    expect(white[0]).toBeCloseTo(100, 2);
    expect(Math.abs(white[1])).toBeLessThan(0.01);
    expect(Math.abs(white[2])).toBeLessThan(0.01);
    const red = rgbToLab(255, 0, 0);
    expect(red[0]).toBeCloseTo(53.24, 1);
    expect(red[1]).toBeCloseTo(80.09, 1);
    expect(red[2]).toBeCloseTo(67.2, 1);
    for (let r = 0; r < 256; r += 17)
      for (let g = 0; g < 256; g += 17)
        for (let b = 0; b < 256; b += 17) expect(labToRgb(...rgbToLab(r, g, b))).toEqual([r, g, b]);
  });

  it('encodes linear light to sRGB 8-bit exactly as the IEC formula rounds it, at and beside every step', () => {
    // linearToSrgb8 (and so labToRgb) encodes through a table of step boundaries; this is the formula it must equal.
    const formula = (c: number): number => {
      const v = c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
      return Math.max(0, Math.min(255, Math.round(v * 255)));
    };
    let checked = 0;
    const check = (c: number): void => {
      if (linearToSrgb8(c) !== formula(c)) expect([c, linearToSrgb8(c)]).toEqual([c, formula(c)]);
      checked++;
    };
    for (let v = 0; v < 257; v++) {
      // The linear value whose sRGB code is v − ½, where the rounding flips: ±1e-9 around it in steps of 1e-12
      // (relative), then the 64 doubles nearest it.
      const edge = (v - 0.5) / 255;
      const lin = edge <= 0.04045 ? edge / 12.92 : ((edge + 0.055) / 1.055) ** 2.4;
      for (let k = -1000; k <= 1000; k++) check(lin * (1 + k * 1e-12));
      for (let k = -32; k < 32; k++) check(lin + k * Math.abs(lin) * Number.EPSILON);
    }
    for (const c of [-1, -Number.MIN_VALUE, 0, Number.MIN_VALUE, 0.0031308, 1, 1.2, Infinity, -Infinity])
      check(c);
    expect(linearToSrgb8(NaN)).toBeNaN();
    let seed = 1;
    for (let i = 0; i < 200_000; i++) {
      seed = (seed * 48271) % 2147483647;
      const L = (seed / 2147483647) * 110 - 5;
      seed = (seed * 48271) % 2147483647;
      const a = (seed / 2147483647) * 260 - 130;
      seed = (seed * 48271) % 2147483647;
      const b = (seed / 2147483647) * 260 - 130;
      const fy = (L + 16) / 116;
      const inv = (t: number): number =>
        t * t * t > 216 / 24389 ? t * t * t : (116 * t - 16) / (24389 / 27);
      const x = inv(fy + a / 500) * 0.95047;
      const y = inv(fy);
      const z = inv(fy - b / 200) * 1.08883;
      expect(labToRgb(L, a, b)).toEqual([
        formula(3.2404542 * x - 1.5371385 * y - 0.4985314 * z),
        formula(-0.969266 * x + 1.8760108 * y + 0.041556 * z),
        formula(0.0556434 * x - 0.2040259 * y + 1.0572252 * z),
      ]);
    }
    expect(checked).toBe(257 * (2001 + 64) + 9);
  });
});
