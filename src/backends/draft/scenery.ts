import type { PaletteRoles } from './draft-palette.js';
import { round1 as r } from './figures.js';
import type { Prng } from './prng.js';

/** What lies on the horizon, read from the prompt's nouns. */
export type Environment = 'sea' | 'city' | 'forest' | 'mountains' | 'interior' | 'hills';

const ENVIRONMENT_RULES: ReadonlyArray<readonly [RegExp, Environment]> = [
  [
    /\b(room|interior|indoors?|kitchen|office|corridor|hallway|bar|cafe|apartment|bedroom|studio|library|inside)\b/,
    'interior',
  ],
  [/\b(sea|ocean|harbou?r|beach|coast|shore|lighthouse|lake|waves?|bay|pier|dock)\b/, 'sea'],
  [/\b(city|street|skyline|downtown|rooftops?|buildings?|alley|urban|town|avenue|metropolis)\b/, 'city'],
  [/\b(forest|woods?|trees?|jungle|pines?|grove)\b/, 'forest'],
  [/\b(mountains?|peaks?|cliffs?|canyon|ridge|glacier|alps|volcano)\b/, 'mountains'],
];

export function environmentOf(prompt: string): Environment {
  const text = prompt.toLowerCase();
  return ENVIRONMENT_RULES.find(([re]) => re.test(text))?.[1] ?? 'hills';
}

export function isNight(prompt: string): boolean {
  return /\b(night|midnight|moon(lit|light)?|stars?|nocturnal|dark)\b/i.test(prompt);
}

export interface SceneryArgs {
  env: Environment;
  width: number;
  height: number;
  /** Horizon y in pixels. */
  horizon: number;
  roles: PaletteRoles;
  rng: Prng;
  night: boolean;
  /** Fewer, softer details behind close framings (shallow depth of field). */
  soft: boolean;
}

/** Sky (or back wall), sun/moon, horizon silhouettes and ground. */
export function scenery(a: SceneryArgs): string {
  const { width: w, height: h, horizon, roles, rng } = a;
  const out: string[] = [];
  // Night skies take the dark end of the palette; interiors show a wall lit from the window.
  const [skyA, skyB] =
    a.env === 'interior'
      ? [roles.far, roles.skyTop]
      : a.night
        ? [roles.silhouette, roles.groundFar]
        : [roles.skyTop, roles.skyBottom];
  out.push(
    // Flat bands at both ends of each gradient keep most pixels on palette colours, so the frame's measured
    // palette matches the one it honours; only the middle band blends.
    `<defs><linearGradient id="sky" gradientUnits="userSpaceOnUse" x1="0" y1="0" x2="0" y2="${r(horizon)}"><stop offset="0.2" stop-color="${skyA}"/>` +
      `<stop offset="0.7" stop-color="${skyB}"/></linearGradient>` +
      `<linearGradient id="ground" gradientUnits="userSpaceOnUse" x1="0" y1="${r(horizon)}" x2="0" y2="${r(h)}"><stop offset="0.25" stop-color="${roles.groundFar}"/>` +
      `<stop offset="0.75" stop-color="${roles.groundNear}"/></linearGradient>` +
      `<radialGradient id="glow"><stop offset="0" stop-color="${roles.light}" stop-opacity="0.7"/><stop offset="1" stop-color="${roles.light}" stop-opacity="0"/></radialGradient></defs>`,
  );
  out.push(
    `<rect x="${r(-w)}" y="${r(-h)}" width="${r(w * 3)}" height="${r(horizon + h)}" fill="url(#sky)"/>`,
  );
  if (a.env !== 'interior') {
    const sx = rng.range(0.15, 0.85) * w;
    const sy = horizon - rng.range(0.25, 0.7) * Math.max(horizon, h * 0.1);
    const sr = Math.min(w, h) * (a.night ? 0.035 : 0.055);
    out.push(`<circle cx="${r(sx)}" cy="${r(sy)}" r="${r(sr * 4)}" fill="url(#glow)"/>`);
    out.push(`<circle cx="${r(sx)}" cy="${r(sy)}" r="${r(sr)}" fill="${roles.light}"/>`);
  }
  const detail = a.soft ? 0.5 : 1;
  switch (a.env) {
    case 'mountains':
    case 'hills': {
      for (const [layer, fill] of [
        [0, roles.far],
        [1, roles.mid],
      ] as const) {
        const pts: string[] = [`M${r(-w * 0.1)} ${r(horizon)}`];
        const n = a.env === 'mountains' ? rng.int(5, 9) : rng.int(3, 5);
        const amp = (a.env === 'mountains' ? 0.28 : 0.1) * h * (layer === 0 ? 1 : 0.6);
        for (let i = 0; i <= n; i++) {
          const x = -w * 0.1 + (i / n) * w * 1.2;
          const y = horizon - rng.range(0.3, 1) * amp;
          if (a.env === 'mountains') pts.push(`L${r(x)} ${r(y)}`);
          else pts.push(`Q${r(x - (w * 0.6) / n)} ${r(y - amp * 0.5)} ${r(x)} ${r(y)}`);
        }
        pts.push(`L${r(w * 1.1)} ${r(horizon + 2)} L${r(-w * 0.1)} ${r(horizon + 2)}Z`);
        out.push(`<path d="${pts.join(' ')}" fill="${fill}"/>`);
      }
      break;
    }
    case 'city': {
      let x = -w * 0.05;
      while (x < w * 1.05) {
        const bw = rng.range(0.04, 0.1) * w;
        const bh = rng.range(0.08, 0.35) * h;
        const fill = rng.next() < 0.5 ? roles.far : roles.mid;
        out.push(
          `<rect x="${r(x)}" y="${r(horizon - bh)}" width="${r(bw + 1)}" height="${r(bh + 2)}" fill="${fill}"/>`,
        );
        const windows = Math.floor(rng.range(2, 8) * detail);
        for (let i = 0; i < windows; i++) {
          const wx = x + rng.range(0.1, 0.8) * bw;
          const wy = horizon - bh + rng.range(0.1, 0.85) * bh;
          out.push(
            `<rect x="${r(wx)}" y="${r(wy)}" width="${r(bw * 0.1)}" height="${r(bh * 0.05)}" fill="${roles.light}" fill-opacity="0.8"/>`,
          );
        }
        x += bw;
      }
      break;
    }
    case 'forest': {
      const trees = Math.floor(rng.int(14, 26) * detail);
      for (let i = 0; i < trees; i++) {
        const tx = rng.range(-0.05, 1.05) * w;
        const th = rng.range(0.1, 0.32) * h;
        const tw = th * rng.range(0.3, 0.45);
        const fill = rng.next() < 0.55 ? roles.far : roles.mid;
        out.push(
          `<path d="M${r(tx)} ${r(horizon - th)} L${r(tx + tw / 2)} ${r(horizon + 2)} L${r(tx - tw / 2)} ${r(horizon + 2)}Z" fill="${fill}"/>`,
        );
      }
      break;
    }
    case 'sea': {
      const lx = rng.range(0.6, 0.9) * w;
      const lh = rng.range(0.12, 0.22) * h;
      out.push(
        `<path d="M${r(lx - lh * 0.08)} ${r(horizon - lh)} L${r(lx + lh * 0.08)} ${r(horizon - lh)} L${r(lx + lh * 0.13)} ${r(horizon)} L${r(lx - lh * 0.13)} ${r(horizon)}Z" fill="${roles.mid}"/>`,
        `<rect x="${r(lx - lh * 0.1)}" y="${r(horizon - lh * 1.12)}" width="${r(lh * 0.2)}" height="${r(lh * 0.12)}" fill="${roles.accent}"/>`,
        `<path d="M${r(lx - lh * 0.6)} ${r(horizon)} Q${r(lx)} ${r(horizon - lh * 0.25)} ${r(lx + lh * 0.7)} ${r(horizon)}Z" fill="${roles.far}"/>`,
      );
      break;
    }
    case 'interior': {
      const wx = rng.range(0.1, 0.6) * w;
      const ww = rng.range(0.18, 0.3) * w;
      const wy = horizon * rng.range(0.15, 0.35);
      const wh = horizon * 0.5;
      out.push(
        `<rect x="${r(wx)}" y="${r(wy)}" width="${r(ww)}" height="${r(wh)}" fill="${roles.light}"/>`,
        `<path d="M${r(wx + ww / 2)} ${r(wy)} V${r(wy + wh)} M${r(wx)} ${r(wy + wh / 2)} H${r(wx + ww)}" stroke="${roles.mid}" stroke-width="${r(Math.max(2, w * 0.006))}"/>`,
        `<rect x="${r(wx - ww * 0.04)}" y="${r(wy - ww * 0.04)}" width="${r(ww * 1.08)}" height="${r(wh + ww * 0.08)}" fill="none" stroke="${roles.mid}" stroke-width="${r(Math.max(2, w * 0.01))}"/>`,
      );
      const dx = wx + ww + rng.range(0.05, 0.2) * w;
      if (dx < w * 0.92) {
        out.push(
          `<rect x="${r(dx)}" y="${r(horizon * 0.3)}" width="${r(w * 0.1)}" height="${r(horizon * 0.7 + 2)}" fill="${roles.mid}"/>`,
        );
      }
      break;
    }
  }
  out.push(
    `<rect x="${r(-w)}" y="${r(horizon)}" width="${r(w * 3)}" height="${r(h * 2)}" fill="url(#ground)"/>`,
  );
  if (a.env === 'sea') {
    const lines = Math.floor(18 * detail);
    for (let i = 0; i < lines; i++) {
      const y = horizon + ((i + rng.next()) / lines) ** 1.6 * (h - horizon);
      const x = rng.range(-0.1, 0.9) * w;
      const len = rng.range(0.05, 0.25) * w * (0.5 + (y - horizon) / Math.max(1, h - horizon));
      out.push(
        `<rect x="${r(x)}" y="${r(y)}" width="${r(len)}" height="${r(Math.max(1, h * 0.004))}" fill="${roles.skyBottom}" fill-opacity="0.35"/>`,
      );
    }
  } else if (a.env === 'interior') {
    // Floorboards converge on a vanishing point: the one perspective cue a room needs.
    const vx = w / 2;
    for (let i = -6; i <= 6; i++) {
      out.push(
        `<path d="M${r(vx + i * w * 0.04)} ${r(horizon)} L${r(vx + i * w * 0.22)} ${r(h * 1.05)}" stroke="${roles.groundNear}" stroke-width="${r(Math.max(1, w * 0.002))}" stroke-opacity="0.6"/>`,
      );
    }
  } else {
    const tufts = Math.floor(rng.int(6, 14) * detail);
    for (let i = 0; i < tufts; i++) {
      const y = horizon + rng.range(0.1, 1) * (h - horizon);
      const x = rng.range(0, 1) * w;
      const s = (y - horizon) / Math.max(1, h - horizon);
      out.push(
        `<ellipse cx="${r(x)}" cy="${r(y)}" rx="${r(w * 0.03 * (0.3 + s))}" ry="${r(h * 0.008 * (0.3 + s))}" fill="${roles.groundNear}" fill-opacity="0.7"/>`,
      );
    }
  }
  return out.join('');
}
