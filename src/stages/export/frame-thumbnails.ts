import { loadSharp } from '../../image/sharp.js';

/** Background of the contact sheet; also the letterbox colour of a thumbnail whose aspect differs. */
export const SHEET_BACKGROUND = { r: 30, g: 30, b: 32 };

/** Packed 8-bit pixels, as sharp's raw output. */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

export interface FrameThumbnails {
  /** The QA report's thumbnail: a JPEG `data:` URI, at most `reportWidth` wide. */
  report: string;
  /** The contact sheet's cell, RGB, exactly the cell size. */
  contact: RawImage;
}

export interface FrameThumbnailOptions {
  /** Largest width of the report thumbnail; smaller frames are not enlarged. */
  reportWidth: number;
  /** Exact size of the contact-sheet cell; the frame is fitted inside it, letterboxed. */
  contact: { width: number; height: number };
}

const jpegDataUri = (jpeg: Buffer): string => `data:image/jpeg;base64,${jpeg.toString('base64')}`;

/** Small JPEG as a data: URI, so the report is one file that opens anywhere, offline. */
export async function reportThumbnail(input: Buffer | string, width: number): Promise<string> {
  const sharp = loadSharp();
  const jpeg = await sharp(input)
    .removeAlpha()
    .resize({ width, withoutEnlargement: true, kernel: 'lanczos3' })
    .jpeg({ quality: 72, mozjpeg: true })
    .toBuffer();
  return jpegDataUri(jpeg);
}

/**
 * Both thumbnails of one frame from a single decode: the full frame (a 1920×1080 PNG is ~6 MB decoded) is
 * shrunk once to the larger of the two thumbnails, and both are cut from that small raster. Only the small
 * results are kept; what grows with the number of shots is a JPEG of a few tens of KB per shot (the contact-sheet cell is
 * dropped as soon as its row of the sheet is written).
 */
export async function frameThumbnails(
  input: Buffer | string,
  options: FrameThumbnailOptions,
): Promise<FrameThumbnails> {
  const { reportWidth, contact } = options;
  const sharp = loadSharp();
  const { data, info } = await sharp(input)
    .removeAlpha()
    // Width alone decides both thumbnails' detail: the report's is width-bound, and a cell letterboxes the frame
    // to at most its own width, so this intermediate always has at least the pixels either needs.
    .resize({ width: Math.max(reportWidth, contact.width), withoutEnlargement: true, kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };

  const report = sharp(data, raw);
  if (info.width > reportWidth) report.resize({ width: reportWidth, kernel: 'lanczos3' });
  const jpeg = await report.jpeg({ quality: 72, mozjpeg: true }).toBuffer();

  const cell = await sharp(data, raw)
    .resize(contact.width, contact.height, {
      fit: 'contain',
      background: SHEET_BACKGROUND,
      kernel: 'lanczos3',
    })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    report: jpegDataUri(jpeg),
    contact: {
      data: cell.data,
      width: cell.info.width,
      height: cell.info.height,
      channels: cell.info.channels,
    },
  };
}
