import type { PaletteRoles } from './draft-palette.js';
import { round1 as r } from './figures.js';
import type { Framing } from './shot-type.js';

/**
 * Framing guides a storyboard artist pencils in: rule-of-thirds lines, the title-safe area, and arrows for the
 * camera move (pan/tracking sideways, tilt vertical, push-in/pull-out at the corners).
 */
export function guides(
  width: number,
  height: number,
  framing: Framing,
  roles: PaletteRoles,
  captionTop: number,
): string {
  const w = width;
  const h = height;
  const sw = Math.max(1, Math.min(w, h) / 540);
  // Per-element stroke-opacity, not a group opacity: librsvg renders group opacity through a full-frame
  // offscreen layer, which costs more than the rest of the frame.
  const stroke = `stroke="${roles.light}" stroke-opacity="0.35" stroke-width="${r(sw)}" fill="none"`;
  const dash = `stroke-dasharray="${r(sw * 6)} ${r(sw * 6)}"`;
  const out: string[] = [
    `<path d="M${r(w / 3)} 0 V${r(captionTop)} M${r((2 * w) / 3)} 0 V${r(captionTop)} M0 ${r(h / 3)} H${w} M0 ${r((2 * h) / 3)} H${w}" ${stroke} ${dash}/>`,
    `<rect x="${r(w * 0.05)}" y="${r(h * 0.05)}" width="${r(w * 0.9)}" height="${r(h * 0.9)}" ${stroke}/>`,
  ];
  const aw = Math.max(2, sw * 3.5);
  const arrow = (x1: number, y1: number, x2: number, y2: number): string => {
    const ang = Math.atan2(y2 - y1, x2 - x1);
    const head = Math.max(6, Math.min(w, h) * 0.03);
    const hx1 = x2 - head * Math.cos(ang - 0.45);
    const hy1 = y2 - head * Math.sin(ang - 0.45);
    const hx2 = x2 - head * Math.cos(ang + 0.45);
    const hy2 = y2 - head * Math.sin(ang + 0.45);
    return (
      `<path d="M${r(x1)} ${r(y1)} L${r(x2)} ${r(y2)}" stroke="${roles.accent}" stroke-width="${r(aw)}" stroke-linecap="round"/>` +
      `<path d="M${r(x2)} ${r(y2)} L${r(hx1)} ${r(hy1)} L${r(hx2)} ${r(hy2)}Z" fill="${roles.accent}"/>`
    );
  };
  switch (framing.move) {
    case 'pan':
    case 'tracking': {
      const y = h * 0.12;
      out.push(arrow(w * 0.3, y, w * 0.7, y));
      if (framing.move === 'tracking') out.push(arrow(w * 0.35, y + h * 0.04, w * 0.6, y + h * 0.04));
      break;
    }
    case 'tilt':
      out.push(arrow(w * 0.93, h * 0.65, w * 0.93, h * 0.25));
      break;
    case 'dolly-in':
    case 'zoom':
    case 'dolly-out': {
      const inward = framing.move !== 'dolly-out';
      for (const [cx, cy] of [
        [0.1, 0.1],
        [0.9, 0.1],
        [0.1, 0.75],
        [0.9, 0.75],
      ] as const) {
        const ox = cx * w;
        const oy = cy * h;
        const ix = ox + (cx < 0.5 ? 1 : -1) * w * 0.07;
        const iy = oy + (cy < 0.5 ? 1 : -1) * h * 0.07;
        out.push(inward ? arrow(ox, oy, ix, iy) : arrow(ix, iy, ox, oy));
      }
      break;
    }
    case 'none':
      break;
  }
  return out.join('');
}
