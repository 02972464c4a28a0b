import { escapeXml } from '../../image/svg-text.js';
import type { OverlayOptions } from 'sharp';
import { loadSharp } from '../../image/sharp.js';
import { throwIfAborted } from '../../core/abort.js';
import { SHEET_BACKGROUND, type RawImage } from './frame-thumbnails.js';
import { PngStreamWriter } from './png-stream-writer.js';

export interface ContactSheetFrame {
  index: number;
  shotId: string;
  /** The cell image, exactly `layout.thumbWidth` × `layout.thumbHeight` (see frameThumbnails). */
  thumb: RawImage;
}

export interface ContactSheetOptions {
  title: string;
  /** Where the frames go; from contactSheetLayout for the number of frames that will be added. */
  layout: ContactSheetLayout;
  /** Adds a DRAFT tag to the header. @default false */
  draft?: boolean;
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

/** DejaVu Sans averages ~0.55 em per character; cut long ids so a label never runs into the next cell. */
function fitText(text: string, maxWidthPx: number, fontSize: number): string {
  const maxChars = Math.max(4, Math.floor(maxWidthPx / (fontSize * 0.6)));
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}

/**
 * All frames on one PNG, in sequence order, each labelled with its 1-based shot number and id (SVG text rendered
 * by sharp/librsvg in DejaVu Sans, which is what the fontconfig on our images and CI has). Written a row of cells
 * at a time as frames are added: a row is drawn and encoded as soon as it is full and its thumbnails dropped, so
 * memory holds one row, however many shots there are (at 240 shots the whole sheet would be 5408×3440, ~56 MB).
 */
export class ContactSheetWriter {
  readonly layout: ContactSheetLayout;
  readonly #png: PngStreamWriter;
  readonly #options: ContactSheetOptions;
  readonly #numberWidth: number;
  #row: ContactSheetFrame[] = [];
  #rowsDone = 0;

  readonly #frameCount: number;
  #added = 0;

  private constructor(png: PngStreamWriter, options: ContactSheetOptions, frameCount: number) {
    this.#png = png;
    this.#options = options;
    this.layout = options.layout;
    this.#frameCount = frameCount;
    this.#numberWidth = Math.max(2, String(frameCount).length);
  }

  /** Creates `file` and writes the header band (title, DRAFT tag). */
  static async create(
    file: string,
    frameCount: number,
    options: ContactSheetOptions,
  ): Promise<ContactSheetWriter> {
    const { layout } = options;
    if (frameCount < 1 || frameCount > layout.columns * layout.rows) {
      throw new RangeError(
        `${frameCount} frames do not fit a ${layout.columns}x${layout.rows} contact sheet`,
      );
    }
    const png = await PngStreamWriter.create(file, layout.width, layout.height);
    const writer = new ContactSheetWriter(png, { ...options }, frameCount);
    try {
      await writer.#writeHeader();
    } catch (error) {
      await png.abort();
      throw error;
    }
    return writer;
  }

  /** Adds the next frame in sequence order; draws and writes the row when it is full. */
  async add(frame: ContactSheetFrame): Promise<void> {
    throwIfAborted(this.#options.signal);
    if (this.#added >= this.#frameCount) throw new RangeError(`more than ${this.#frameCount} frames added`);
    const { thumb } = frame;
    if (thumb.width !== this.layout.thumbWidth || thumb.height !== this.layout.thumbHeight) {
      throw new RangeError(
        `contact-sheet cell for ${frame.shotId} is ${thumb.width}x${thumb.height}, expected ${this.layout.thumbWidth}x${this.layout.thumbHeight}`,
      );
    }
    this.#added += 1;
    this.#row.push(frame);
    if (this.#row.length === this.layout.columns || this.#added === this.#frameCount) await this.#writeRow();
  }

  /** Writes the bottom margin and flushes the file to disk. Every frame must have been added. */
  async finish(): Promise<{ width: number; height: number }> {
    if (this.#added !== this.#frameCount) {
      throw new RangeError(
        `only ${this.#added} of ${this.#frameCount} frames were added to the contact sheet`,
      );
    }
    throwIfAborted(this.#options.signal);
    const { layout } = this;
    // A full grid has `rows` rows; fewer frames than that (never with contactSheetLayout) leave the rest blank.
    while (this.#rowsDone < layout.rows) await this.#writeRow();
    await this.#png.writeRows(background(layout.width, MARGIN));
    await this.#png.finish();
    return { width: layout.width, height: layout.height };
  }

  /** Closes the file without finishing it. */
  async abort(): Promise<void> {
    this.#row = [];
    await this.#png.abort();
  }

  async #writeHeader(): Promise<void> {
    const { layout, draft, title } = this.#options;
    const titleSize = 20;
    const draftTag = draft
      ? `<text x="${layout.width - MARGIN}" y="${MARGIN + 26}" font-size="14" font-weight="bold" fill="#ffb84d" text-anchor="end">DRAFT — storyboard frames, not AI images</text>`
      : '';
    const titleRoom = layout.width - 2 * MARGIN - (draft ? 340 : 0);
    const titleText = `<text x="${MARGIN}" y="${MARGIN + 26}" font-size="${titleSize}" font-weight="bold" fill="#ffffff">${escapeXml(
      fitText(`${title} — ${this.#frameCount} shots`, titleRoom, titleSize),
    )}</text>`;
    const band = await drawBand(layout.width, MARGIN + HEADER, [
      { input: svgBuffer(layout.width, MARGIN + HEADER, titleText + draftTag), left: 0, top: 0 },
    ]);
    await this.#png.writeRows(band);
  }

  async #writeRow(): Promise<void> {
    const { layout } = this;
    const labelSize = layout.thumbWidth >= 200 ? 14 : 11;
    const overlays: OverlayOptions[] = [];
    for (const [column, frame] of this.#row.entries()) {
      const left = MARGIN + column * (layout.thumbWidth + GAP);
      const { data, width, height, channels } = frame.thumb;
      overlays.push({ input: data, raw: { width, height, channels }, left, top: 0 });
      const number = String(frame.index + 1).padStart(this.#numberWidth, '0');
      const label = fitText(`${number} · ${frame.shotId}`, layout.thumbWidth - 4, labelSize);
      overlays.push({
        input: svgBuffer(
          layout.thumbWidth,
          LABEL,
          `<text x="2" y="${LABEL - 9}" font-size="${labelSize}" fill="#e8e8e8">${escapeXml(label)}</text>`,
        ),
        left,
        top: layout.thumbHeight,
      });
    }
    this.#row = [];
    const band = await drawBand(layout.width, layout.thumbHeight + LABEL, overlays);
    await this.#png.writeRows(band);
    this.#rowsDone += 1;
    if (this.#rowsDone < layout.rows) await this.#png.writeRows(background(layout.width, GAP));
  }
}

function svgBuffer(width: number, height: number, body: string): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}">${body}</svg>`,
  );
}

function background(width: number, height: number): Buffer {
  const rows = Buffer.alloc(width * height * 3);
  for (let o = 0; o < rows.length; o += 3) {
    rows[o] = SHEET_BACKGROUND.r;
    rows[o + 1] = SHEET_BACKGROUND.g;
    rows[o + 2] = SHEET_BACKGROUND.b;
  }
  return rows;
}

/** One full-width band of the sheet as packed RGB rows. */
async function drawBand(width: number, height: number, overlays: OverlayOptions[]): Promise<Buffer> {
  const { data, info } = await loadSharp()({
    create: { width, height, channels: 3, background: SHEET_BACKGROUND },
  })
    .composite(overlays)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== width || info.height !== height) {
    throw new Error(
      `contact-sheet band came out ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`,
    );
  }
  return data;
}
