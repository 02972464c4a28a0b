/**
 * Human silhouettes as SVG paths, the storyboard artist's stand-ins. Coordinates are pixels; every number is
 * rounded to 0.1 px so the SVG text (and therefore the pixels) is identical on every platform.
 */

const r = (v: number): string => (Math.round(v * 10) / 10).toString();

export interface StandingFigure {
  /** Centre x of the figure. */
  cx: number;
  /** y of the feet (may lie below the frame: the figure is then cropped). */
  footY: number;
  height: number;
  fill: string;
  /** Perspective: head scale relative to body, <1 seen from below, >1 seen from above. @default 1 */
  headScale?: number;
  /** Which way the figure leans: -1..1, a hint of walking pose. @default 0 */
  stride?: number;
}

/** A full-length figure: head, torso with shoulders, arms, legs. */
export function standingFigure(f: StandingFigure): string {
  const h = f.height;
  const hs = f.headScale ?? 1;
  const s = f.stride ?? 0;
  const headR = h * 0.062 * hs;
  const top = f.footY - h;
  const headCy = top + headR;
  const neckY = top + headR * 2 + h * 0.01;
  const shoulderW = h * 0.125;
  const hipY = f.footY - h * 0.47;
  const hipW = h * 0.085;
  const armLen = h * 0.36;
  const { cx } = f;
  const torso = [
    `M${r(cx - h * 0.03)} ${r(neckY - h * 0.01)}`,
    `L${r(cx - shoulderW)} ${r(neckY + h * 0.03)}`,
    // left arm, slightly swung by the stride
    `L${r(cx - shoulderW - h * 0.025 - s * h * 0.05)} ${r(neckY + armLen)}`,
    `L${r(cx - shoulderW + h * 0.02 - s * h * 0.05)} ${r(neckY + armLen + h * 0.01)}`,
    `L${r(cx - hipW)} ${r(neckY + h * 0.12)}`,
    `L${r(cx - hipW)} ${r(hipY)}`,
    // left leg
    `L${r(cx - hipW - s * h * 0.09)} ${r(f.footY)}`,
    `L${r(cx - h * 0.015 - s * h * 0.09)} ${r(f.footY)}`,
    `L${r(cx)} ${r(hipY + h * 0.06)}`,
    // right leg
    `L${r(cx + h * 0.015 + s * h * 0.09)} ${r(f.footY)}`,
    `L${r(cx + hipW + s * h * 0.09)} ${r(f.footY)}`,
    `L${r(cx + hipW)} ${r(hipY)}`,
    `L${r(cx + hipW)} ${r(neckY + h * 0.12)}`,
    // right arm
    `L${r(cx + shoulderW - h * 0.02 + s * h * 0.05)} ${r(neckY + armLen + h * 0.01)}`,
    `L${r(cx + shoulderW + h * 0.025 + s * h * 0.05)} ${r(neckY + armLen)}`,
    `L${r(cx + shoulderW)} ${r(neckY + h * 0.03)}`,
    `L${r(cx + h * 0.03)} ${r(neckY - h * 0.01)}Z`,
  ].join(' ');
  return (
    `<g fill="${f.fill}"><ellipse cx="${r(cx)}" cy="${r(headCy)}" rx="${r(headR * 0.86)}" ry="${r(headR)}"/>` +
    `<path d="${torso}"/></g>`
  );
}

export interface Bust {
  cx: number;
  /** Centre y of the head. */
  headCy: number;
  /** Head half-height in pixels; shoulders scale with it. */
  headR: number;
  fill: string;
  /** Turn of the head: -1 (profile left) .. 1 (profile right), shifts the face. @default 0 */
  turn?: number;
  /** Colour of a rim light on the head's edge, when the scene has one. */
  rim?: string;
}

/** Head and shoulders, cropped by the frame bottom: the close-up and over-the-shoulder silhouette. */
export function bust(b: Bust): string {
  const { cx, headCy, headR } = b;
  const t = b.turn ?? 0;
  const neckTop = headCy + headR * 0.8;
  const shoulderY = headCy + headR * 1.75;
  const shoulderW = headR * 2.6;
  const bottom = headCy + headR * 6;
  const body = [
    `M${r(cx - headR * 0.38)} ${r(neckTop)}`,
    `L${r(cx - headR * 0.42)} ${r(shoulderY - headR * 0.35)}`,
    `C${r(cx - headR * 1.4)} ${r(shoulderY - headR * 0.2)} ${r(cx - shoulderW)} ${r(shoulderY)} ${r(cx - shoulderW)} ${r(shoulderY + headR * 0.9)}`,
    `L${r(cx - shoulderW * 1.08)} ${r(bottom)}`,
    `L${r(cx + shoulderW * 1.08)} ${r(bottom)}`,
    `L${r(cx + shoulderW)} ${r(shoulderY + headR * 0.9)}`,
    `C${r(cx + shoulderW)} ${r(shoulderY)} ${r(cx + headR * 1.4)} ${r(shoulderY - headR * 0.2)} ${r(cx + headR * 0.42)} ${r(shoulderY - headR * 0.35)}`,
    `L${r(cx + headR * 0.38)} ${r(neckTop)}Z`,
  ].join(' ');
  // A nose bump on the turned side gives the head a direction, which matters for eyelines on a board.
  const noseX = cx + t * headR * 0.86;
  const nose =
    t === 0
      ? ''
      : `<path d="M${r(noseX)} ${r(headCy - headR * 0.15)} L${r(noseX + t * headR * 0.16)} ${r(headCy + headR * 0.12)} L${r(noseX)} ${r(headCy + headR * 0.2)}Z"/>`;
  const rim = b.rim
    ? `<ellipse cx="${r(cx - t * headR * 0.05)}" cy="${r(headCy)}" rx="${r(headR * 0.86)}" ry="${r(headR)}" fill="none" stroke="${b.rim}" stroke-width="${r(Math.max(1, headR * 0.05))}" stroke-opacity="0.55"/>`
    : '';
  return (
    `<g fill="${b.fill}"><ellipse cx="${r(cx)}" cy="${r(headCy)}" rx="${r(headR * 0.8)}" ry="${r(headR)}"/>` +
    `${nose}<path d="${body}"/>${rim}</g>`
  );
}

/** An eye filling the frame: the extreme close-up. */
export function eye(
  cx: number,
  cy: number,
  w: number,
  skin: string,
  white: string,
  iris: string,
  pupil: string,
): string {
  const h = w * 0.42;
  const lid = `M${r(cx - w / 2)} ${r(cy)} Q${r(cx)} ${r(cy - h)} ${r(cx + w / 2)} ${r(cy)} Q${r(cx)} ${r(cy + h * 0.9)} ${r(cx - w / 2)} ${r(cy)}Z`;
  const brow = `M${r(cx - w * 0.55)} ${r(cy - h * 0.75)} Q${r(cx)} ${r(cy - h * 1.35)} ${r(cx + w * 0.55)} ${r(cy - h * 0.8)}`;
  const ir = h * 0.42;
  return (
    `<rect x="${r(cx - w * 2)}" y="${r(cy - w * 2)}" width="${r(w * 4)}" height="${r(w * 4)}" fill="${skin}"/>` +
    `<path d="${brow}" fill="none" stroke="${pupil}" stroke-width="${r(h * 0.12)}" stroke-linecap="round" stroke-opacity="0.8"/>` +
    `<path d="${lid}" fill="${white}"/>` +
    `<circle cx="${r(cx)}" cy="${r(cy)}" r="${r(ir)}" fill="${iris}"/>` +
    `<circle cx="${r(cx)}" cy="${r(cy)}" r="${r(ir * 0.45)}" fill="${pupil}"/>` +
    `<circle cx="${r(cx + ir * 0.35)}" cy="${r(cy - ir * 0.35)}" r="${r(ir * 0.14)}" fill="${white}"/>` +
    `<path d="${lid}" fill="none" stroke="${pupil}" stroke-width="${r(h * 0.06)}"/>`
  );
}

export { r as round1 };
