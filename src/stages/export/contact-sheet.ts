import sharp, { type OverlayOptions } from 'sharp';
import { throwIfAborted } from '../../core/abort.js';

export interface ContactSheetFrame {
  index: number;
  shotId: string;
  png: Buffer;
}

export interface ContactSheetOptions {
  title: string;
  /** Adds a DRAFT tag to the header. @default false */
  draft?: boolean;
  /** Width of one thumbnail before the sheet is shrunk to fit `maxWidth`. @default 320 */
  thumbWidth?: number;
  /** Widest sheet we produce; many frames shrink the thumbnails instead of widening the sheet. @default 8192 */
  maxWidth?: number;
  signal?: AbortSignal;
}

export interface ContactSheetLayout {
  columns: number;
  rows: number;
  thumbWidth: number;
  thumbHeight: number;
  width: number;
  height: number;
}

const MARGIN = 24;
const GAP = 16;
const HEADER = 48;
const LABEL = 28;
const BACKGROUND = { r: 30, g: 30, b: 32 };
const FONT = "'DejaVu Sans', sans-serif";

/**
 * Grid geometry: a near-square grid (⌈√n⌉ columns), thumbnails at the first frame's aspect ratio.
 * Exposed so the pipeline (and tests) know the sheet's size without rendering it.
 */
export function contactSheetLayout(
  count: number,
  aspect: number,
  options: { thumbWidth?: number; maxWidth?: number } = {},
): ContactSheetLayout {
  if (count < 1) throw new RangeError('a contact sheet needs at least one frame');
  const columns = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / columns);
  const maxWidth = options.maxWidth ?? 8192;
  const fitWidth = Math.floor((maxWidth - 2 * MARGIN - (columns - 1) * GAP) / columns);
  const thumbWidth = Math.max(16, Math.min(options.thumbWidth ?? 320, fitWidth));
  const thumbHeight = Math.max(1, Math.round(thumbWidth / aspect));
  return {
    columns,
    rows,
    thumbWidth,
    thumbHeight,
    width: 2 * MARGIN + columns * thumbWidth + (columns - 1) * GAP,
    height: MARGIN + HEADER + rows * (thumbHeight + LABEL) + (rows - 1) * GAP + MARGIN,
  };
}

/** Escapes text for SVG/XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** DejaVu Sans averages ~0.55 em per character; cut long ids so a label never runs into the next cell. */
function fitText(text: string, maxWidthPx: number, fontSize: number): string {
  const maxChars = Math.max(4, Math.floor(maxWidthPx / (fontSize * 0.6)));
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}

/**
 * All frames on one PNG, in sequence order, each labelled with its 1-based shot number and id (SVG text rendered
 * by sharp/librsvg in DejaVu Sans, which is what the fontconfig on our images and CI has).
 */
export async function renderContactSheet(
  frames: ContactSheetFrame[],
  options: ContactSheetOptions,
): Promise<Buffer> {
  const { signal } = options;
  const ordered = [...frames].sort((a, b) => a.index - b.index);
  const first = ordered[0];
  if (!first) throw new RangeError('a contact sheet needs at least one frame');
  const meta = await sharp(first.png).metadata();
  const aspect = (meta.width ?? 16) / (meta.height ?? 9);
  const layoutOptions: { thumbWidth?: number; maxWidth?: number } = {};
  if (options.thumbWidth !== undefined) layoutOptions.thumbWidth = options.thumbWidth;
  if (options.maxWidth !== undefined) layoutOptions.maxWidth = options.maxWidth;
  const layout = contactSheetLayout(ordered.length, aspect, layoutOptions);
  const numberWidth = Math.max(2, String(ordered.length).length);

  const overlays: OverlayOptions[] = [];
  const labels: string[] = [];
  const labelSize = layout.thumbWidth >= 200 ? 14 : 11;
  for (const [position, frame] of ordered.entries()) {
    throwIfAborted(signal);
    const column = position % layout.columns;
    const row = Math.floor(position / layout.columns);
    const left = MARGIN + column * (layout.thumbWidth + GAP);
    const top = MARGIN + HEADER + row * (layout.thumbHeight + LABEL + GAP);
    const { data, info } = await sharp(frame.png)
      .removeAlpha()
      .resize(layout.thumbWidth, layout.thumbHeight, {
        fit: 'contain',
        background: BACKGROUND,
        kernel: 'lanczos3',
      })
      .raw()
      .toBuffer({ resolveWithObject: true });
    overlays.push({
      input: data,
      raw: { width: info.width, height: info.height, channels: info.channels },
      left,
      top,
    });
    const number = String(frame.index + 1).padStart(numberWidth, '0');
    const label = fitText(`${number} · ${frame.shotId}`, layout.thumbWidth - 4, labelSize);
    labels.push(
      `<text x="${left + 2}" y="${top + layout.thumbHeight + LABEL - 9}" font-size="${labelSize}" fill="#e8e8e8">${escapeXml(label)}</text>`,
    );
  }
  throwIfAborted(signal);

  const titleSize = 20;
  const draftTag = options.draft
    ? `<text x="${layout.width - MARGIN}" y="${MARGIN + 26}" font-size="14" font-weight="bold" fill="#ffb84d" text-anchor="end">DRAFT — storyboard frames, not AI images</text>`
    : '';
  const titleRoom = layout.width - 2 * MARGIN - (options.draft ? 340 : 0);
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" font-family="${FONT}">`,
    `<text x="${MARGIN}" y="${MARGIN + 26}" font-size="${titleSize}" font-weight="bold" fill="#ffffff">${escapeXml(
      fitText(`${options.title} — ${ordered.length} shots`, titleRoom, titleSize),
    )}</text>`,
    draftTag,
    ...labels,
    '</svg>',
  ].join('');
  overlays.push({ input: Buffer.from(svg), left: 0, top: 0 });

  return sharp({
    create: { width: layout.width, height: layout.height, channels: 3, background: BACKGROUND },
  })
    .composite(overlays)
    .png({ compressionLevel: 6, adaptiveFiltering: false })
    .toBuffer();
}
