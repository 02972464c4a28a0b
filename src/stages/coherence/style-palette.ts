import { createHash } from 'node:crypto';
import { hexToRgb, labToRgb, lchToHex, rgbToHex, rgbToLab } from '../../image/color.js';

/**
 * Colour words a style prompt uses, as the hex colours a colourist would pick for them. Multi-colour looks
 * ("neon", "noir", "sepia") bring their whole set. Longer phrases come first so "golden hour" wins over "gold".
 */
const COLOUR_WORDS: ReadonlyArray<readonly [RegExp, readonly string[]]> = [
  [/\bgolden[\s-]hour\b/, ['#f2a541', '#c4622d', '#3d2a3a']],
  [/\bblue[\s-]hour\b/, ['#2b4c7e', '#567ebb', '#1b2333']],
  [/\bteal[\s-]and[\s-]orange\b/, ['#1f7a7a', '#e07b39']],
  [/\bneon\b|\bcyberpunk\b|\bsynthwave\b/, ['#ff2bd6', '#00e5ff', '#7a00ff', '#0b0620']],
  [
    /\bnoir\b|\bblack[\s-]and[\s-]white\b|\bmonochrome\b|\bgr[ae]yscale\b/,
    ['#0d0d0d', '#3b3b3b', '#7a7a7a', '#bdbdbd', '#f0f0f0'],
  ],
  [/\bsepia\b|\bvintage\b/, ['#704214', '#a0785a', '#d9c3a0', '#3b2410']],
  [/\bpastel\b/, ['#f4c2c2', '#b5d8eb', '#c7e9c0', '#fdfd96']],
  [/\bteal\b/, ['#1f7a7a']],
  [/\bamber\b/, ['#ffb000']],
  [/\bcrimson\b/, ['#9e1b32']],
  [/\bscarlet\b/, ['#d12c1f']],
  [/\bred\b/, ['#c0392b']],
  [/\borange\b/, ['#e07b39']],
  [/\bgold(en)?\b/, ['#d4a017']],
  [/\byellow\b/, ['#f2d12e']],
  [/\bochre\b/, ['#c77b30']],
  [/\brust(y)?\b/, ['#a3441c']],
  [/\bbrown\b/, ['#6b4226']],
  [/\bolive\b/, ['#6b7a2f']],
  [/\bemerald\b/, ['#1b8a5a']],
  [/\bgreen\b|\blush\b/, ['#3a7d44']],
  [/\bcyan\b|\bturquoise\b|\baqua\b/, ['#22b8c8']],
  [/\bnavy\b|\bmidnight\b/, ['#1b2a4a']],
  [/\bblue\b|\bazure\b|\bcobalt\b/, ['#2f5d9e']],
  [/\bviolet\b|\bpurple\b|\blavender\b/, ['#6a3d9a']],
  [/\bmagenta\b|\bfuchsia\b/, ['#c2185b']],
  [/\bpink\b|\brose\b/, ['#e58fa5']],
  [/\bcream\b|\bivory\b/, ['#f3ead3']],
  [/\bsilver\b|\bgr[ae]y\b/, ['#9aa0a6']],
  [/\bcharcoal\b|\bblack\b|\bshadowy\b/, ['#1c1c1e']],
  [/\bwhite\b|\bsnow(y)?\b/, ['#f5f5f2']],
];

/** Temperature words tint a palette that names no colours at all. */
const WARM = /\bwarm\b|\bsunset\b|\bsunrise\b|\bcandle(lit|light)?\b|\bfire(light)?\b|\bdesert\b|\bautumn\b/;
const COOL = /\bcool\b|\bcold\b|\bicy\b|\bwinter\b|\bmoon(lit|light)?\b|\bnight\b|\bunderwater\b/;

/** How many colours the style palette holds: enough roles for the draft renderer. */
export const STYLE_PALETTE_SIZE = 6;

function hashUnit(text: string, salt: string): number {
  return (
    createHash('sha256').update(`storycore/style-palette/${salt}/${text}`).digest().readUInt32BE(0) /
    4294967296
  );
}

/**
 * The hex palette the draft renderer paints sheet panels with, read from the style prompt: colour words become
 * their colours (in the order the prompt names them), and the set is filled to six with darker and lighter
 * variants of those colours so a frame has shadows and highlights in the same hues. A prompt naming no colour
 * gets a palette seeded from its hash (tinted warm or cool when it says so), so the same style always gives
 * the same palette.
 */
export function paletteForStyle(stylePrompt: string): string[] {
  // Asked once per panel with the same style: computed once (the regex scan and colour maths are ~1 ms each).
  let palette = paletteCache.get(stylePrompt);
  if (palette === undefined) {
    if (paletteCache.size >= 64) paletteCache.clear();
    palette = computePalette(stylePrompt);
    paletteCache.set(stylePrompt, palette);
  }
  return [...palette];
}

const paletteCache = new Map<string, readonly string[]>();

function computePalette(stylePrompt: string): string[] {
  const text = stylePrompt.toLowerCase();
  const found: Array<{ at: number; colours: readonly string[] }> = [];
  let rest = text;
  for (const [re, colours] of COLOUR_WORDS) {
    const m = re.exec(rest);
    if (!m) continue;
    found.push({ at: m.index, colours });
    // Blank out the match so "golden hour" does not also count as "gold".
    rest = rest.slice(0, m.index) + ' '.repeat(m[0].length) + rest.slice(m.index + m[0].length);
  }
  const named = [...new Set(found.sort((a, b) => a.at - b.at).flatMap((f) => f.colours))];
  if (named.length === 0) {
    const warm = WARM.test(text);
    const cool = COOL.test(text);
    const base =
      warm && !cool
        ? 25 + hashUnit(text, 'hue') * 50
        : cool && !warm
          ? 200 + hashUnit(text, 'hue') * 60
          : hashUnit(text, 'hue') * 360;
    const chroma = 18 + hashUnit(text, 'chroma') * 24;
    const spread = [0, 25, -25, 180, 12, 0];
    return [14, 30, 46, 62, 78, 92].map((L, i) =>
      lchToHex(L, chroma * (i === 0 || i === 5 ? 0.5 : 1), base + spread[i]!),
    );
  }
  const palette = named.slice(0, STYLE_PALETTE_SIZE);
  // Fill with shadow and highlight variants of the named hues: a one-word palette ("teal") still needs a ramp.
  const steps = [-28, 26, -44, 40, -14, 14];
  let i = 0;
  while (palette.length < STYLE_PALETTE_SIZE) {
    const source = named[i % named.length]!;
    const [L, a, b] = rgbToLab(...hexToRgb(source));
    const step = steps[Math.floor(i / named.length) % steps.length]!;
    const variant = rgbToHex(labToRgb(Math.max(6, Math.min(96, L + step)), a * 0.8, b * 0.8));
    if (!palette.includes(variant)) palette.push(variant);
    i++;
    if (i > 64) break;
  }
  return palette;
}
