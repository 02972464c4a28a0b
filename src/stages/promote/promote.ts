import { loadSharp } from '../../image/sharp.js';
import { throwIfAborted } from '../../core/abort.js';
import { ValidationError } from '../../core/errors.js';
import { resampleLanczos3 } from '../../image/lanczos.js';
import { encodePngInStrips } from '../../image/png-strips.js';
import {
  createRaster,
  decodeImage,
  FRAME_PNG,
  MAX_INPUT_PIXELS,
  rasterToSharp,
  encodePng,
  type Raster,
} from '../../image/raster.js';

export interface PromoteOptions {
  /** Target width in pixels (the project's output resolution). */
  width: number;
  /** Target height in pixels. */
  height: number;
  signal?: AbortSignal;
}

/** What promotion did to a frame, for the manifest and the QA report. */
export interface PromotionRecord {
  original: { w: number; h: number };
  /** The centre region kept, in original pixels. */
  cropped: { w: number; h: number; x: number; y: number };
  final: { w: number; h: number };
}

export interface PromotedFrame {
  raster: Raster;
  record: PromotionRecord;
}

/**
 * The largest centred region of a w×h image with the target aspect ratio ("centre-fill": the frame fills the
 * target, the excess of the longer side is cut equally from both ends; an odd remainder goes to the right/bottom).
 */
export function centreCrop(
  w: number,
  h: number,
  targetW: number,
  targetH: number,
): PromotionRecord['cropped'] {
  // Compare aspects by cross-multiplying, so exact ratios (1920x1080 vs 16x9) never suffer rounding.
  if (w * targetH > h * targetW) {
    const cw = Math.max(1, Math.min(w, Math.round((h * targetW) / targetH)));
    return { w: cw, h, x: Math.floor((w - cw) / 2), y: 0 };
  }
  const ch = Math.max(1, Math.min(h, Math.round((w * targetH) / targetW)));
  return { w, h: ch, x: 0, y: Math.floor((h - ch) / 2) };
}

/** A promoted frame as the PNG the pipeline stores, made without a raw raster in between. */
export interface PromotedPng {
  png: Buffer;
  record: PromotionRecord;
}

function checkDimension(name: 'width' | 'height', value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 16384) {
    throw new ValidationError(`promotion ${name} must be an integer from 1 to 16384, got ${value}`, [
      { path: name, message: 'expected an integer from 1 to 16384' },
    ]);
  }
}

function checkTarget(width: number, height: number): void {
  checkDimension('width', width);
  checkDimension('height', height);
  if (width * height > MAX_INPUT_PIXELS) {
    throw new ValidationError(`promotion target ${width}x${height} exceeds ${MAX_INPUT_PIXELS} pixels`, [
      { path: 'width', message: 'target too large' },
    ]);
  }
}

/**
 * Stage 3: centre-fill crop to the target aspect, then Lanczos3 to the target resolution, raw pixels in and out
 * (the frame is neither encoded nor decoded here; QA reads the same buffer). Reductions run in libvips; enlargements
 * in `resampleLanczos3`, because libvips enlarges with bicubic interpolation whatever kernel it is given.
 */
export async function promoteFrame(raster: Raster, options: PromoteOptions): Promise<PromotedFrame> {
  const { width, height, signal } = options;
  checkTarget(width, height);
  throwIfAborted(signal);
  const crop = centreCrop(raster.width, raster.height, width, height);
  const record: PromotionRecord = {
    original: { w: raster.width, h: raster.height },
    cropped: crop,
    final: { w: width, h: height },
  };
  if (crop.w === width && crop.h === height && crop.x === 0 && crop.y === 0) {
    // Already the target size: pass the same pixels on rather than resampling them onto themselves.
    return { raster, record };
  }
  if (enlarged(record)) {
    // libvips enlarges with bicubic interpolation whatever kernel is asked for; this is Lanczos3 (image/lanczos.ts).
    const out = resampleLanczos3(raster, crop, width, height);
    throwIfAborted(signal);
    return { raster: out, record };
  }
  const sharp = loadSharp();
  let pipeline = sharp(raster.data, { raw: { width: raster.width, height: raster.height, channels: 3 } });
  if (crop.w !== raster.width || crop.h !== raster.height) {
    pipeline = pipeline.extract({ left: crop.x, top: crop.y, width: crop.w, height: crop.h });
  }
  const { data, info } = await pipeline
    .resize(width, height, { kernel: 'lanczos3', fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  throwIfAborted(signal);
  if (info.width !== width || info.height !== height || info.channels !== 3) {
    throw new RangeError(
      `promotion produced ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`,
    );
  }
  return { raster: createRaster(width, height, data), record };
}

/**
 * Whether promotion enlarged the frame. An enlarged frame is interpolated, smooth between the source's pixels: its
 * filtered rows are short runs, which `encodePngInStrips` (zlib's RLE, strips on every core) stores smaller than
 * zlib level 6 and several times faster. A frame that was only cropped or reduced keeps its detail (a draft frame's
 * grain, text), where LZ77 matching wins (RLE is ~16 % larger on a 1080p draft frame): it gets `encodePng`.
 */
function enlarged(record: PromotionRecord): boolean {
  return record.final.w > record.cropped.w || record.final.h > record.cropped.h;
}

/**
 * The PNG a promote step stores for a frame `promoteFrame` made: enlarged frames through the strip-parallel RLE
 * encoder, the others as every frame (`encodePng`). Deterministic, and the same bytes as `promotePng` gives for the
 * same source.
 */
export async function encodePromoted(
  raster: Raster,
  record: PromotionRecord,
  options: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  if (!enlarged(record)) return encodePng(raster);
  return encodePngInStrips(raster, options);
}

/**
 * Promotion straight to the PNG a promote step stores, from a raster, PNG/JPEG bytes or a file: what a promote step
 * does with a frame from the store, and what a caller promoting files gets. A reduction (or a crop alone) is one
 * streamed libvips pipeline, crop → Lanczos3 → PNG, the resize overlapping the encode; an enlargement is
 * `promoteFrame` (Lanczos3 in image/lanczos.ts) then `encodePromoted`. Either way the same bytes as `promoteFrame`
 * plus `encodePromoted` (promote.test.ts), so re-promoting a stored frame never changes a frame's hash.
 */
export async function promotePng(
  input: Raster | Buffer | string,
  options: PromoteOptions,
): Promise<PromotedPng> {
  const { width, height, signal } = options;
  checkTarget(width, height);
  throwIfAborted(signal);
  const raster = Buffer.isBuffer(input) || typeof input === 'string' ? await decodeImage(input) : input;
  throwIfAborted(signal);
  const crop = centreCrop(raster.width, raster.height, width, height);
  const record: PromotionRecord = {
    original: { w: raster.width, h: raster.height },
    cropped: crop,
    final: { w: width, h: height },
  };
  if (enlarged(record)) {
    const promoted = await promoteFrame(raster, options);
    return { png: await encodePromoted(promoted.raster, record, signal ? { signal } : {}), record };
  }
  let pipeline = rasterToSharp(raster);
  if (crop.w !== raster.width || crop.h !== raster.height) {
    pipeline = pipeline.extract({ left: crop.x, top: crop.y, width: crop.w, height: crop.h });
  }
  if (crop.w !== width || crop.h !== height) {
    pipeline = pipeline.resize(width, height, { kernel: 'lanczos3', fit: 'fill' });
  }
  const { data, info } = await pipeline.png(FRAME_PNG).toBuffer({ resolveWithObject: true });
  throwIfAborted(signal);
  if (info.width !== width || info.height !== height || info.channels !== 3) {
    throw new RangeError(
      `promotion produced ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`,
    );
  }
  return { png: data, record };
}
