import { loadSharp } from '../../image/sharp.js';
import { throwIfAborted } from '../../core/abort.js';
import { ValidationError } from '../../core/errors.js';
import {
  createRaster,
  decodeImage,
  FRAME_PNG,
  MAX_INPUT_PIXELS,
  rasterToSharp,
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
 * Stage 3: centre-fill crop to the target aspect, then Lanczos3 to the target resolution, in one sharp pipeline,
 * raw pixels in and out (the frame is neither encoded nor decoded here; QA reads the same buffer).
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
 * Promotion straight to the stored PNG, in one libvips pipeline: crop → Lanczos3 → PNG encode, streamed, so the
 * resize runs on other threads while zlib (the larger half of the work) compresses the rows already done. File to
 * file it is ~30 % faster than `promoteFrame` plus `encodePng`, with the same bytes (see `npm run bench images`
 * and promote.test.ts). An encoded input is decoded first, as `decodeImage` does (a generated frame is small;
 * the 1920×1080 output is where the time goes), which also keeps the PNG's header identical to the raster path.
 *
 * What it does not give is the raster QA reads. The pipeline therefore uses it only where a frame arrives encoded
 * and nobody holds its pixels: a promote step whose generate step was reused (a new output size, a healed
 * artifact). A frame just generated is resized once to a raster and that is encoded: streaming and then decoding
 * again for QA would cost more CPU, and draft runs are CPU-bound.
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
