import type { GenerationRequest } from '../types.js';
import { CAPTION_BAND, caption, draftLabel, fontSizeFor } from './caption.js';
import { compose, type Layout } from './composition.js';
import { assignRoles, paletteFromPrompt } from './draft-palette.js';
import { guides } from './guides.js';
import { prngFrom } from './prng.js';
import { parseFraming, type Framing } from './shot-type.js';

/** What the draft renderer decided about a frame. */
export interface DraftFacts {
  framing: Framing;
  layout: Layout;
  palette: string[];
  paletteSource: 'request' | 'prompt';
}

function heading(request: GenerationRequest, framing: Framing): string {
  const n = request.shotNumber;
  const num = n === undefined ? '' : ` ${String(n).padStart(2, '0')}`;
  const what = request.purpose === 'sheet-panel' ? `PANEL${n === undefined ? '' : ` ${n}/9`}` : `SHOT${num}`;
  const parts = [what, framing.abbreviation];
  if (framing.angle !== 'eye') parts.push(`${framing.angle} angle`);
  if (framing.roll !== 0) parts.push('dutch');
  if (framing.move !== 'none') parts.push(framing.move);
  if (request.purpose === 'regenerate') parts.push('regen');
  if (request.label && request.purpose !== 'sheet-panel') parts.push(request.label);
  return parts.join(' · ');
}

/** Builds the vector part of a frame: scene, guides, caption, label. Pure: same request → same string. */
export function draftSvg(request: GenerationRequest): { svg: string; metadata: DraftFacts } {
  const { width: w, height: h } = request;
  const framing = parseFraming(request.camera, request.prompt);
  const palette = request.palette ? [...request.palette] : paletteFromPrompt(request.prompt);
  const roles = assignRoles(palette);
  const rng = prngFrom('layout', request.seed, request.prompt, request.camera ?? '', w, h);
  const scene = compose({ width: w, height: h, framing, roles, prompt: request.prompt, rng });
  const captionTop = h - Math.max(fontSizeFor(w, h) * 4.2, h * CAPTION_BAND);
  const overlay = request.purpose === 'sheet-panel' ? '' : guides(w, h, framing, roles, captionTop);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
    `<rect width="${w}" height="${h}" fill="${roles.groundFar}"/>` +
    scene.svg +
    overlay +
    caption({
      width: w,
      height: h,
      roles,
      heading: heading(request, framing),
      prompt: request.caption ?? request.prompt,
      seed: request.seed,
    }) +
    draftLabel(w, h, roles) +
    `</svg>`;
  return {
    svg,
    metadata: {
      framing,
      layout: scene.layout,
      palette: roles.colours,
      paletteSource: request.palette ? 'request' : 'prompt',
    },
  };
}
