import type { PaletteRoles } from './draft-palette.js';
import { escapeXml } from '../../image/svg-text.js';
import { round1 as r } from './figures.js';

/**
 * Text on a draft frame: the shot caption band and the DRAFT label. Text reaches librsvg inside an SVG document,
 * so every user string goes through escapeXml (src/image/svg-text.ts).
 */

/**
 * Greedy word wrap to at most `maxLines` lines of `perLine` characters; an ellipsis marks cut text.
 * Long words are broken so a URL cannot push the caption off the frame.
 */
export function wrapText(text: string, perLine: number, maxLines: number): string[] {
  const limit = Math.max(4, Math.floor(perLine));
  const words = text.replace(/\s+/g, ' ').trim().split(' ').filter(Boolean);
  const lines: string[] = [];
  let line = '';
  let truncated = false;
  for (let i = 0; i < words.length; i++) {
    let word = words[i]!;
    while (word.length > limit) {
      words.splice(i + 1, 0, word.slice(limit));
      word = word.slice(0, limit);
    }
    const candidate = line === '' ? word : `${line} ${word}`;
    if (candidate.length <= limit) {
      line = candidate;
      continue;
    }
    lines.push(line);
    line = word;
    if (lines.length === maxLines) {
      truncated = true;
      break;
    }
  }
  if (!truncated && line !== '') lines.push(line);
  if (truncated) {
    const last = lines[maxLines - 1] ?? '';
    lines[maxLines - 1] = `${last.slice(0, Math.max(0, limit - 1)).trimEnd()}…`;
  }
  return lines.slice(0, maxLines);
}

export interface CaptionArgs {
  width: number;
  height: number;
  roles: PaletteRoles;
  /** e.g. "SHOT 03 · CU · low angle" */
  heading: string;
  prompt: string;
  seed: number;
}

/** Height of the caption band as a fraction of the frame; composition keeps its subject above it. */
export const CAPTION_BAND = 0.15;

/** Font size in px for a frame: legible on a 512 px sheet panel, not shouting on a 4K frame. */
export function fontSizeFor(width: number, height: number): number {
  return Math.max(6, Math.round(Math.min(height * 0.03, width * 0.022)));
}

export function caption(a: CaptionArgs): string {
  const { width: w, height: h, roles } = a;
  const fs = fontSizeFor(w, h);
  const band = Math.max(fs * 4.2, h * CAPTION_BAND);
  const top = h - band;
  const pad = fs * 0.9;
  const perLine = (w - pad * 2) / (fs * 0.56);
  const lines = wrapText(a.prompt, perLine, 2);
  const text = [
    `<text x="${r(pad)}" y="${r(top + fs * 1.35)}" font-family="DejaVu Sans" font-weight="bold" font-size="${fs}" fill="${roles.light}">${escapeXml(a.heading)}</text>`,
    ...lines.map(
      (line, i) =>
        `<text x="${r(pad)}" y="${r(top + fs * (2.65 + i * 1.25))}" font-family="DejaVu Sans" font-size="${fs}" fill="${roles.light}" fill-opacity="0.92">${escapeXml(line)}</text>`,
    ),
  ];
  return (
    `<rect x="0" y="${r(top)}" width="${w}" height="${r(band + 1)}" fill="${roles.silhouette}" fill-opacity="0.82"/>` +
    text.join('') +
    `<text x="${r(w - pad)}" y="${r(top + fs * 1.35)}" text-anchor="end" font-family="DejaVu Sans Mono" font-size="${r(fs * 0.8)}" fill="${roles.light}" fill-opacity="0.75">seed ${a.seed}</text>`
  );
}

/** The "DRAFT" badge: a storyboard draft must never pass for a generated image. */
export function draftLabel(width: number, height: number, roles: PaletteRoles): string {
  const fs = Math.max(7, Math.round(fontSizeFor(width, height) * 1.15));
  const pad = fs * 0.7;
  const bw = fs * 5.2;
  const bh = fs * 1.6;
  return (
    `<g><rect x="${r(pad)}" y="${r(pad)}" width="${r(bw)}" height="${r(bh)}" rx="${r(fs * 0.2)}" fill="${roles.silhouette}" fill-opacity="0.8" stroke="${roles.accent}" stroke-width="${r(Math.max(1, fs * 0.1))}"/>` +
    `<text x="${r(pad + bw / 2)}" y="${r(pad + bh * 0.72)}" text-anchor="middle" font-family="DejaVu Sans" font-weight="bold" letter-spacing="${r(fs * 0.12)}" font-size="${fs}" fill="${roles.light}">DRAFT</text></g>`
  );
}
