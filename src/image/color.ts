/**
 * Colour science used by the coherence sheet (palette in CIELAB) and QA (palette drift as ΔE2000).
 * sRGB (D65) → linear → XYZ → CIELAB, the standard formulas; ΔE2000 per Sharma, Wu & Dalal (2005).
 */

export type Rgb = readonly [number, number, number];
export type Lab = readonly [number, number, number];

/** sRGB 8-bit value → linear light (0–1), the IEC 61966-2-1 transfer function, tabulated. */
export const SRGB_TO_LINEAR = new Float64Array(256);
for (let i = 0; i < 256; i++) {
  const c = i / 255;
  SRGB_TO_LINEAR[i] = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

const XN = 0.95047;
const YN = 1.0;
const ZN = 1.08883;

function fLab(t: number): number {
  return t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116;
}

/** sRGB 0–255 → CIELAB (D65). */
export function rgbToLab(r: number, g: number, b: number): Lab {
  const rl = SRGB_TO_LINEAR[r & 255]!;
  const gl = SRGB_TO_LINEAR[g & 255]!;
  const bl = SRGB_TO_LINEAR[b & 255]!;
  const x = (0.4124564 * rl + 0.3575761 * gl + 0.1804375 * bl) / XN;
  const y = (0.2126729 * rl + 0.7151522 * gl + 0.072175 * bl) / YN;
  const z = (0.0193339 * rl + 0.119192 * gl + 0.9503041 * bl) / ZN;
  const fx = fLab(x);
  const fy = fLab(y);
  const fz = fLab(z);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

function fInv(t: number): number {
  const t3 = t * t * t;
  return t3 > 216 / 24389 ? t3 : (116 * t - 16) / (24389 / 27);
}

/** Linear light → sRGB 8-bit by the formula: the definition the table below is derived from. */
function linearToSrgb8Exact(c: number): number {
  const v = c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
  return Math.max(0, Math.min(255, Math.round(v * 255)));
}

/**
 * `SRGB8_FROM[v]` (v = 1…255) is the smallest linear value the formula maps to v or above, found by bisecting
 * doubles down to adjacent ones with the formula itself, so the lookup below returns exactly what the formula does
 * (the formula is monotonic) without a `pow` per call: colour transfer builds 36k-entry LUTs per frame with it.
 */
const SRGB8_FROM = new Float64Array(256);
for (let v = 1; v < 256; v++) {
  let lo = v === 1 ? 0 : SRGB8_FROM[v - 1]!; // maps below v
  let hi = 1.5; // maps to 255
  for (;;) {
    const mid = lo + (hi - lo) / 2;
    if (mid === lo || mid === hi) break;
    if (linearToSrgb8Exact(mid) >= v) hi = mid;
    else lo = mid;
  }
  SRGB8_FROM[v] = hi;
}

/** Linear light (0–1) → sRGB 8-bit, rounded and clamped as the IEC 61966-2-1 formula does, by table. */
export function linearToSrgb8(c: number): number {
  if (!(c >= SRGB8_FROM[1]!)) return c === c ? 0 : linearToSrgb8Exact(c);
  // Largest v with SRGB8_FROM[v] <= c: eight halvings of [1, 255].
  let lo = 1;
  let hi = 256;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (SRGB8_FROM[mid]! <= c) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** CIELAB (D65) → sRGB 0–255, clamped to the gamut. */
export function labToRgb(L: number, a: number, b: number): Rgb {
  const fy = (L + 16) / 116;
  const fx = fy + a / 500;
  const fz = fy - b / 200;
  const x = fInv(fx) * XN;
  const y = fInv(fy) * YN;
  const z = fInv(fz) * ZN;
  const rl = 3.2404542 * x - 1.5371385 * y - 0.4985314 * z;
  const gl = -0.969266 * x + 1.8760108 * y + 0.041556 * z;
  const bl = 0.0556434 * x - 0.2040259 * y + 1.0572252 * z;
  return [linearToSrgb8(rl), linearToSrgb8(gl), linearToSrgb8(bl)];
}

export function rgbToHex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

export function hexToRgb(hex: string): Rgb {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) throw new RangeError(`not a #rrggbb colour: ${hex}`);
  const n = parseInt(m[1]!, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const DEG = Math.PI / 180;

/** CIEDE2000 colour difference between two Lab colours (kL = kC = kH = 1). */
export function deltaE2000(lab1: Lab, lab2: Lab): number {
  const [L1, a1, b1] = lab1;
  const [L2, a2, b2] = lab2;
  const C1 = Math.hypot(a1, b1);
  const C2 = Math.hypot(a2, b2);
  const Cbar = (C1 + C2) / 2;
  const Cbar7 = Cbar ** 7;
  const G = 0.5 * (1 - Math.sqrt(Cbar7 / (Cbar7 + 25 ** 7)));
  const a1p = (1 + G) * a1;
  const a2p = (1 + G) * a2;
  const C1p = Math.hypot(a1p, b1);
  const C2p = Math.hypot(a2p, b2);
  const hp = (b: number, a: number): number => {
    if (a === 0 && b === 0) return 0;
    const h = Math.atan2(b, a) / DEG;
    return h < 0 ? h + 360 : h;
  };
  const h1p = hp(b1, a1p);
  const h2p = hp(b2, a2p);
  const dLp = L2 - L1;
  const dCp = C2p - C1p;
  let dhp = 0;
  if (C1p * C2p !== 0) {
    dhp = h2p - h1p;
    if (dhp > 180) dhp -= 360;
    else if (dhp < -180) dhp += 360;
  }
  const dHp = 2 * Math.sqrt(C1p * C2p) * Math.sin((dhp / 2) * DEG);
  const Lbarp = (L1 + L2) / 2;
  const Cbarp = (C1p + C2p) / 2;
  let hbarp = h1p + h2p;
  if (C1p * C2p !== 0) {
    if (Math.abs(h1p - h2p) > 180) hbarp = h1p + h2p < 360 ? (h1p + h2p + 360) / 2 : (h1p + h2p - 360) / 2;
    else hbarp = (h1p + h2p) / 2;
  }
  const T =
    1 -
    0.17 * Math.cos((hbarp - 30) * DEG) +
    0.24 * Math.cos(2 * hbarp * DEG) +
    0.32 * Math.cos((3 * hbarp + 6) * DEG) -
    0.2 * Math.cos((4 * hbarp - 63) * DEG);
  const dTheta = 30 * Math.exp(-(((hbarp - 275) / 25) ** 2));
  const Cbarp7 = Cbarp ** 7;
  const Rc = 2 * Math.sqrt(Cbarp7 / (Cbarp7 + 25 ** 7));
  const Sl = 1 + (0.015 * (Lbarp - 50) ** 2) / Math.sqrt(20 + (Lbarp - 50) ** 2);
  const Sc = 1 + 0.045 * Cbarp;
  const Sh = 1 + 0.015 * Cbarp * T;
  const Rt = -Math.sin(2 * dTheta * DEG) * Rc;
  const l = dLp / Sl;
  const c = dCp / Sc;
  const h = dHp / Sh;
  return Math.sqrt(l * l + c * c + h * h + Rt * c * h);
}

/** The colour at lightness L, chroma C and hue h (degrees) in CIE LCh(ab), as sRGB hex (clamped to the gamut). */
export function lchToHex(L: number, C: number, hDeg: number): string {
  const h = (hDeg * Math.PI) / 180;
  return rgbToHex(labToRgb(L, C * Math.cos(h), C * Math.sin(h)));
}
