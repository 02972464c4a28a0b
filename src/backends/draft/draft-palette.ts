import { deltaE2000, hexToRgb, labToRgb, lchToHex, rgbToHex, rgbToLab, type Lab } from '../../image/color.js';
import { prngFrom } from './prng.js';

/** The colours a draft frame is painted with, by role. All are `#rrggbb`. */
export interface PaletteRoles {
  skyTop: string;
  skyBottom: string;
  far: string;
  mid: string;
  groundFar: string;
  groundNear: string;
  silhouette: string;
  accent: string;
  light: string;
  /** The resolved palette (request's or derived), lightness-sorted, dark first. */
  colours: string[];
}

interface Entry {
  hex: string;
  lab: Lab;
  chroma: number;
}

function entry(hex: string): Entry {
  const lab = rgbToLab(...hexToRgb(hex));
  return { hex: hex.toLowerCase(), lab, chroma: Math.hypot(lab[1], lab[2]) };
}

/**
 * A harmonious five-colour palette seeded from the prompt: a base hue and a scheme (analogous, complementary,
 * split) spread over a dark-to-light ramp, so prompts without a given palette still get a consistent grade.
 */
export function paletteFromPrompt(prompt: string): string[] {
  const rng = prngFrom('palette', prompt.trim().toLowerCase());
  const base = rng.range(0, 360);
  const scheme = rng.pick([
    [0, 20, -20, 35, 10],
    [0, 180, 15, 195, 0],
    [0, 150, 210, 30, 180],
  ] as const);
  const chroma = rng.range(18, 42);
  const ramp = [16, 32, 50, 68, 86];
  return ramp.map((L, i) => lchToHex(L, chroma * (i === 0 || i === 4 ? 0.6 : 1), base + scheme[i]!));
}

/** A lighter or darker variant of a colour, to fill roles when a palette has fewer than five colours. */
function shift(e: Entry, dL: number): Entry {
  return entry(rgbToHex(labToRgb(Math.max(4, Math.min(97, e.lab[0] + dL)), e.lab[1], e.lab[2])));
}

/** The palette colour that stands out most (largest smallest ΔE2000) against the given colours. */
export function mostContrasting(colours: readonly string[], against: readonly string[]): string {
  const labs = against.map((h) => entry(h).lab);
  let best = colours[0] ?? '#ffffff';
  let bestD = -1;
  for (const hex of colours) {
    const lab = entry(hex).lab;
    const d = Math.min(...labs.map((o) => deltaE2000(lab, o)));
    if (d > bestD) {
      bestD = d;
      best = hex;
    }
  }
  return best;
}

/**
 * Assigns palette colours to scene roles by lightness: darkest for silhouettes, lightest for the sky and
 * highlights, the most chromatic for accents. Only palette colours (or, for short palettes, their lightness
 * variants) are used, so a frame's measured palette stays close to the one it was asked to honour.
 */
export function assignRoles(palette: readonly string[]): PaletteRoles {
  let entries = palette.map(entry);
  if (entries.length === 0) throw new RangeError('palette must hold at least one colour');
  while (entries.length < 5) {
    const sorted = [...entries].sort((a, b) => a.lab[0] - b.lab[0]);
    const darkest = sorted[0]!;
    const lightest = sorted[sorted.length - 1]!;
    entries =
      entries.length % 2 === 1 ? [...entries, shift(darkest, -22)] : [...entries, shift(lightest, 22)];
  }
  const byL = [...entries].sort((a, b) => a.lab[0] - b.lab[0] || a.hex.localeCompare(b.hex));
  const n = byL.length;
  const at = (f: number): string => byL[Math.min(n - 1, Math.max(0, Math.round(f * (n - 1))))]!.hex;
  const accent = [...entries].sort((a, b) => b.chroma - a.chroma || a.hex.localeCompare(b.hex))[0]!.hex;
  return {
    skyTop: at(0.75),
    skyBottom: at(1),
    far: at(0.5),
    mid: at(0.4),
    groundFar: at(0.3),
    groundNear: at(0.15),
    silhouette: at(0),
    accent,
    light: at(1),
    colours: byL.map((e) => e.hex),
  };
}
