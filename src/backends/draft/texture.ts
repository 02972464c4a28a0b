import { sfc32, type Prng } from './prng.js';

/**
 * A fixed table of unit-variance grain values. Each frame row reads a slice of it at an offset drawn from the
 * frame's PRNG: one PRNG draw per row instead of one per pixel, and rows at independent offsets show no pattern.
 */
const GRAIN_TABLE_SIZE = 1 << 18;
const GRAIN_TABLE: Float32Array = (() => {
  const rng = sfc32(0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x6a09e667);
  const table = new Float32Array(GRAIN_TABLE_SIZE);
  // Sum of three 10-bit uniforms ≈ Gaussian (Irwin–Hall), scaled to unit variance (σ of the sum is 512).
  for (let i = 0; i < GRAIN_TABLE_SIZE; i++) {
    const t = rng.nextUint32();
    table[i] = ((t & 1023) + ((t >>> 10) & 1023) + ((t >>> 20) & 1023) - 1534.5) / 512;
  }
  return table;
})();

export interface TextureOptions {
  /** Standard deviation of the luma film grain, in 8-bit levels. @default 2 */
  grain?: number;
  /** Amplitude of the low-frequency mottling (paper/lens unevenness), in 8-bit levels. @default 5 */
  mottle?: number;
  /** Darkening at the corners, 0–1. @default 0.12 */
  vignette?: number;
}

/**
 * Turns the flat vector render into something with photographic texture: a vignette, low-frequency mottling
 * and seeded luma grain. Flat vector art has a near-zero Laplacian variance almost everywhere, which a
 * sharpness check reads as "blurry"; the grain gives the frame real high-frequency detail at a level normal
 * photographs have. Also drops the alpha channel librsvg produces (the scene is opaque).
 */
export function applyTexture(
  src: Buffer,
  channels: number,
  width: number,
  height: number,
  rng: Prng,
  options: TextureOptions = {},
): Buffer {
  const grain = options.grain ?? 2;
  const mottle = options.mottle ?? 5;
  const vignette = options.vignette ?? 0.12;
  const out = new Uint8ClampedArray(width * height * 3);

  const cell = Math.max(8, Math.round(Math.min(width, height) / 10));
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const grid = new Float32Array(gw * gh);
  for (let i = 0; i < grid.length; i++) grid[i] = (rng.next() * 2 - 1) * mottle;
  const colCell = new Int32Array(width);
  const colFrac = new Float32Array(width);
  const colVig = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const gx = x / cell;
    colCell[x] = Math.floor(gx);
    const f = gx - Math.floor(gx);
    colFrac[x] = f * f * (3 - 2 * f);
    const dx = (x + 0.5) / width - 0.5;
    colVig[x] = dx * dx;
  }
  const row = new Float32Array(gw);
  const vigK = vignette * 2;
  const span = GRAIN_TABLE_SIZE - width;
  for (let y = 0; y < height; y++) {
    const gy = y / cell;
    const y0 = Math.floor(gy);
    let fy = gy - y0;
    fy = fy * fy * (3 - 2 * fy);
    for (let i = 0; i < gw; i++) {
      const a = grid[y0 * gw + i]!;
      row[i] = a + (grid[(y0 + 1) * gw + i]! - a) * fy;
    }
    const dy = (y + 0.5) / height - 0.5;
    const rowVig = dy * dy;
    let si = y * width * channels;
    let di = y * width * 3;
    const g0 = rng.nextUint32() % span;
    for (let x = 0; x < width; x++) {
      const c = colCell[x]!;
      const m0 = row[c]!;
      const low = m0 + (row[c + 1]! - m0) * colFrac[x]!;
      const v = 1 - vigK * (colVig[x]! + rowVig);
      const n = GRAIN_TABLE[g0 + x]! * grain + low;
      out[di] = src[si]! * v + n;
      out[di + 1] = src[si + 1]! * v + n;
      out[di + 2] = src[si + 2]! * v + n;
      si += channels;
      di += 3;
    }
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}
