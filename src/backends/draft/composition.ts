import { mostContrasting, type PaletteRoles } from './draft-palette.js';
import { bust, eye, round1 as r, standingFigure } from './figures.js';
import type { Prng } from './prng.js';
import { environmentOf, isNight, scenery, type Environment } from './scenery.js';
import type { Framing } from './shot-type.js';

export interface CompositionArgs {
  width: number;
  height: number;
  framing: Framing;
  roles: PaletteRoles;
  prompt: string;
  rng: Prng;
}

/** The measurable facts of a composition, kept so tests and captions can say what was drawn. */
export interface Layout {
  environment: Environment;
  /** Horizon as a fraction of the frame height; null when there is none (aerial, extreme close-up). */
  horizon: number | null;
  /** Height of the main subject as a fraction of frame height. */
  subjectScale: number;
  figures: number;
}

export interface Composition {
  svg: string;
  layout: Layout;
}

/** Horizon height by shot type: wide shots show sky, close framings sit the eye line high. */
const HORIZON: Record<Framing['type'], number | null> = {
  'extreme-wide': 0.64,
  wide: 0.6,
  medium: 0.52,
  'medium-close': 0.48,
  'close-up': 0.45,
  'extreme-close-up': null,
  'over-the-shoulder': 0.5,
  aerial: null,
};

function aerial(a: CompositionArgs): Composition {
  const { width: w, height: h, roles, rng } = a;
  const out: string[] = [
    `<rect x="${r(-w)}" y="${r(-h)}" width="${r(w * 3)}" height="${r(h * 3)}" fill="${roles.groundFar}"/>`,
  ];
  // Fields seen from above: a patchwork of rotated plots, the usual bird's-eye shorthand.
  const fills = [roles.groundNear, roles.mid, roles.far, roles.groundFar];
  const cols = 5;
  const rows = 4;
  const angle = rng.range(-20, 20);
  out.push(`<g transform="rotate(${r(angle)} ${r(w / 2)} ${r(h / 2)})">`);
  for (let y = -1; y <= rows; y++) {
    for (let x = -1; x <= cols; x++) {
      const cw = (w * 1.2) / cols;
      const ch = (h * 1.2) / rows;
      out.push(
        `<rect x="${r(x * cw + rng.range(0, cw * 0.08))}" y="${r(y * ch + rng.range(0, ch * 0.08))}" width="${r(cw * rng.range(0.85, 0.95))}" height="${r(ch * rng.range(0.85, 0.95))}" fill="${rng.pick(fills)}"/>`,
      );
    }
  }
  const roadY = rng.range(0.3, 0.7) * h;
  out.push(
    `<rect x="${r(-w)}" y="${r(roadY)}" width="${r(w * 3)}" height="${r(h * 0.05)}" fill="${roles.skyBottom}" fill-opacity="0.85"/></g>`,
  );
  const figures = rng.int(2, 6);
  for (let i = 0; i < figures; i++) {
    const x = rng.range(0.2, 0.8) * w;
    const y = roadY + rng.range(-0.15, 0.15) * h;
    const s = Math.min(w, h) * 0.014;
    out.push(
      `<ellipse cx="${r(x + s * 0.8)}" cy="${r(y + s * 0.8)}" rx="${r(s * 1.6)}" ry="${r(s)}" fill="${roles.silhouette}" fill-opacity="0.45"/>`,
      `<circle cx="${r(x)}" cy="${r(y)}" r="${r(s)}" fill="${roles.silhouette}"/>`,
    );
  }
  return { svg: out.join(''), layout: { environment: 'hills', horizon: null, subjectScale: 0.03, figures } };
}

/**
 * Lays out one storyboard frame: environment on a horizon placed by shot type and camera angle, and figures
 * sized by the shot type (tiny in an establishing shot, a head filling the frame in a close-up).
 */
export function compose(a: CompositionArgs): Composition {
  const { width: w, height: h, framing, roles, rng } = a;
  if (framing.type === 'aerial') return aerial(a);
  const environment = environmentOf(a.prompt);
  if (framing.type === 'extreme-close-up') {
    const cx = w * rng.range(0.42, 0.58);
    const cy = h * rng.range(0.42, 0.52);
    return {
      svg: eye(cx, cy, w * 0.62, roles.mid, roles.light, roles.accent, roles.silhouette),
      layout: { environment, horizon: null, subjectScale: 0.62 * (w / h) * 0.42, figures: 0 },
    };
  }
  let horizonFrac = HORIZON[framing.type] ?? 0.55;
  if (framing.angle === 'low') horizonFrac = Math.min(0.9, horizonFrac + 0.24);
  if (framing.angle === 'high') horizonFrac = Math.max(0.1, horizonFrac - 0.3);
  const horizon = horizonFrac * h;
  const close =
    framing.type === 'close-up' || framing.type === 'medium-close' || framing.type === 'over-the-shoulder';
  const out: string[] = [
    scenery({
      env: environment,
      width: w,
      height: h,
      horizon,
      roles,
      rng,
      night: isNight(a.prompt),
      soft: close,
    }),
  ];
  const headScale = framing.angle === 'low' ? 0.8 : framing.angle === 'high' ? 1.3 : 1;
  const thirds = [w / 3, (2 * w) / 3];
  let subjectScale: number;
  let figures: number;
  switch (framing.type) {
    case 'extreme-wide': {
      figures = rng.int(1, 4);
      subjectScale = rng.range(0.05, 0.08) * (framing.angle === 'low' ? 1.6 : 1);
      for (let i = 0; i < figures; i++) {
        const foot = horizon + (h - horizon) * rng.range(0.15, 0.5);
        out.push(
          standingFigure({
            cx: rng.range(0.15, 0.85) * w,
            footY: foot,
            height: subjectScale * h * (1 - i * 0.15),
            fill: roles.silhouette,
            headScale,
            stride: rng.range(-1, 1),
          }),
        );
      }
      break;
    }
    case 'wide': {
      figures = rng.int(1, 3);
      subjectScale = framing.angle === 'low' ? 0.75 : framing.angle === 'high' ? 0.3 : 0.42;
      const lead = rng.pick(thirds);
      for (let i = 0; i < figures; i++) {
        const s = subjectScale * (i === 0 ? 1 : rng.range(0.55, 0.8));
        const cx = i === 0 ? lead : rng.range(0.1, 0.9) * w;
        const foot =
          framing.angle === 'low'
            ? h * 0.97
            : Math.min(h * 0.96, horizon + (h - horizon) * (i === 0 ? 0.75 : 0.45));
        out.push(
          standingFigure({
            cx,
            footY: foot,
            height: s * h,
            fill: roles.silhouette,
            headScale,
            stride: rng.range(-1, 1),
          }),
        );
      }
      break;
    }
    case 'medium': {
      // Cut at the waist: the figure's feet are far below the frame.
      figures = rng.next() < 0.35 ? 2 : 1;
      subjectScale = framing.angle === 'low' ? 1.9 : 1.6;
      const lead = rng.pick(thirds);
      const top = h * (framing.angle === 'high' ? 0.22 : 0.12);
      out.push(
        standingFigure({
          cx: lead,
          footY: top + subjectScale * h,
          height: subjectScale * h,
          fill: roles.silhouette,
          headScale,
        }),
      );
      if (figures === 2) {
        const other = lead < w / 2 ? w * 0.78 : w * 0.22;
        out.push(
          standingFigure({
            cx: other,
            footY: top * 1.4 + subjectScale * h * 0.9,
            height: subjectScale * h * 0.9,
            fill: roles.far,
            headScale,
          }),
        );
      }
      break;
    }
    case 'medium-close':
    case 'close-up': {
      figures = 1;
      const headR = h * (framing.type === 'close-up' ? 0.21 : 0.13) * (framing.angle === 'low' ? 0.9 : 1);
      subjectScale = (headR * 2) / h;
      const cx = rng.pick(thirds) + rng.range(-0.03, 0.03) * w;
      const headCy =
        h * (framing.type === 'close-up' ? 0.45 : 0.4) + (framing.angle === 'high' ? h * 0.05 : 0);
      const turn = cx < w / 2 ? rng.range(0.3, 0.8) : -rng.range(0.3, 0.8);
      out.push(bust({ cx, headCy, headR, fill: roles.silhouette, turn, rim: roles.light }));
      break;
    }
    case 'over-the-shoulder': {
      figures = 2;
      const left = rng.next() < 0.5;
      const subjectR = h * 0.12;
      subjectScale = (subjectR * 2) / h;
      // The subject must read against the ground, the backdrop and the dark foreground shoulder.
      const subjectFill = mostContrasting(roles.colours, [
        roles.groundFar,
        roles.groundNear,
        roles.far,
        roles.mid,
        roles.silhouette,
      ]);
      out.push(
        bust({
          cx: left ? w * 0.64 : w * 0.36,
          headCy: h * 0.4,
          headR: subjectR,
          fill: subjectFill,
          turn: left ? -0.5 : 0.5,
          rim: roles.light,
        }),
        // The foreground shoulder: big, dark, half out of frame, the defining shape of an OTS.
        bust({
          cx: left ? w * 0.08 : w * 0.92,
          headCy: h * 0.42,
          headR: h * 0.3,
          fill: roles.silhouette,
          turn: left ? 0.6 : -0.6,
        }),
      );
      break;
    }
    default: {
      figures = 0;
      subjectScale = 0;
    }
  }
  let svg = out.join('');
  if (framing.roll !== 0) {
    const roll = rng.next() < 0.5 ? -framing.roll : framing.roll;
    svg = `<g transform="rotate(${r(roll)} ${r(w / 2)} ${r(h / 2)})">${svg}</g>`;
  }
  return { svg, layout: { environment, horizon: horizonFrac, subjectScale, figures } };
}
