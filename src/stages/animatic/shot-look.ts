import { ValidationError } from '../../core/errors.js';
import { escapeXml } from '../../image/svg-text.js';
import { loadSharp } from '../../image/sharp.js';
import type { AnimaticPlan, PlannedShot } from './plan.js';
import { rgbToYuv420 } from './yuv.js';

/** The slow camera move the animatic gives a shot (the project's `"animatic": {"motion": true}`). */
export type ShotMotion = 'still' | 'zoom-in' | 'pan-left' | 'pan-right';

/** How far a move goes over the whole shot: 12 % closer, or a pan across a 12 % margin. Slow on purpose. */
export const MOTION_ZOOM = 1.12;

/** The move a shot's `camera` words ask for: dolly-in / push in / zoom in → zoom in; pan left / right → pan. */
export function motionOf(camera: string | undefined): ShotMotion {
  const words = (camera ?? '').toLowerCase();
  if (/\b(dolly[- ]?in|push(?:es|ing)?[- ]?in|zoom(?:s|ing)?[- ]?in)\b/.test(words)) return 'zoom-in';
  if (/\bpan(?:s|ning)?[- ]left\b/.test(words)) return 'pan-left';
  if (/\bpan(?:s|ning)?[- ]right\b/.test(words)) return 'pan-right';
  return 'still';
}

/** What a shot looks like in the animatic beyond its still: a move, a burned-in slate. */
export interface ShotLook {
  motion: ShotMotion;
  /** The slate's text (shot number, id, record timecode), when the project asks for slates. */
  slate?: string;
}

/** The crop of the still that fills frame `local` of a moving shot (integers: whole pixels of the still). */
export function motionCrop(
  motion: Exclude<ShotMotion, 'still'>,
  local: number,
  frames: number,
  width: number,
  height: number,
): { left: number; top: number; width: number; height: number } {
  const p = frames <= 1 ? 0 : local / (frames - 1);
  const zoom = motion === 'zoom-in' ? 1 + (MOTION_ZOOM - 1) * p : MOTION_ZOOM;
  const w = Math.max(2, Math.round(width / zoom));
  const h = Math.max(2, Math.round(height / zoom));
  const top = Math.round((height - h) / 2);
  const spare = width - w;
  const left =
    motion === 'zoom-in'
      ? Math.round(spare / 2)
      : // Panning left, the view travels left across the still: its window moves from the right edge to the left.
        Math.round(motion === 'pan-left' ? spare * (1 - p) : spare * p);
  return { left, top, width: w, height: h };
}

function slateSvg(text: string, width: number, height: number): Buffer {
  const fs = Math.max(10, Math.round(height * 0.04));
  const band = Math.round(fs * 1.8);
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<rect x="0" y="${height - band}" width="${width}" height="${band}" fill="#000" fill-opacity="0.6"/>` +
      `<text x="${Math.round(fs * 0.8)}" y="${height - Math.round(band * 0.32)}" font-family="DejaVu Sans Mono" font-size="${fs}" fill="#fff">${escapeXml(text)}</text>` +
      `</svg>`,
  );
}

/**
 * Renders a shot's frames as the stream's YUV: `frame(local)` for frame `local` of the shot. A still shot (no move)
 * is rendered once and the same buffer returned for every frame; a moving one is cropped and scaled from the still
 * for each frame (sharp, Lanczos), with the slate drawn after the move so it stays put.
 */
export class ShotFrames {
  private constructor(
    private readonly rgb: Buffer,
    private readonly plan: AnimaticPlan,
    private readonly shot: PlannedShot,
    private readonly look: ShotLook,
    private readonly fixed: Buffer | undefined,
  ) {}

  static async open(
    file: string,
    plan: AnimaticPlan,
    shot: PlannedShot,
    look: ShotLook,
  ): Promise<ShotFrames> {
    const { data, info } = await loadSharp()(file)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== plan.width || info.height !== plan.height || info.channels !== 3) {
      throw new ValidationError(
        `${file} (shot "${shot.shotId}") is ${info.width}x${info.height}, the animatic is ${plan.width}x${plan.height}`,
      );
    }
    let fixed: Buffer | undefined;
    if (look.motion === 'still') {
      fixed =
        look.slate === undefined
          ? rgbToYuv420(data, plan.width, plan.height)
          : rgbToYuv420(await ShotFrames.draw(data, plan, undefined, look.slate), plan.width, plan.height);
    }
    return new ShotFrames(data, plan, shot, look, fixed);
  }

  private static async draw(
    rgb: Buffer,
    plan: AnimaticPlan,
    crop: { left: number; top: number; width: number; height: number } | undefined,
    slate: string | undefined,
  ): Promise<Buffer> {
    const { width, height } = plan;
    let image = loadSharp()(rgb, { raw: { width, height, channels: 3 } });
    if (crop)
      image = loadSharp()(
        await image.extract(crop).resize(width, height, { kernel: 'lanczos3' }).raw().toBuffer(),
        { raw: { width, height, channels: 3 } },
      );
    if (slate !== undefined)
      image = image.composite([{ input: slateSvg(slate, width, height), top: 0, left: 0 }]);
    return image.removeAlpha().raw().toBuffer();
  }

  async frame(local: number): Promise<Buffer> {
    if (this.fixed) return this.fixed;
    const { plan, shot, look } = this;
    const crop = motionCrop(
      look.motion as Exclude<ShotMotion, 'still'>,
      local,
      shot.frames,
      plan.width,
      plan.height,
    );
    return rgbToYuv420(await ShotFrames.draw(this.rgb, plan, crop, look.slate), plan.width, plan.height);
  }
}
