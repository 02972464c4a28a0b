import { loadSharp } from './sharp.js';

export interface Thumbnail {
  /** JPEG bytes. */
  jpeg: Buffer;
  width: number;
  height: number;
}

/**
 * A small JPEG of any image sharp can decode (PNG, JPEG, WebP), no side over `maxSide` and never enlarged: what a
 * progress view shows while a frame is being made. Quality 70: a thumbnail is looked at for half a second.
 */
export async function makeThumbnail(bytes: Buffer, maxSide: number): Promise<Thumbnail> {
  const sharp = loadSharp();
  const { data, info } = await sharp(bytes)
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 70 })
    .toBuffer({ resolveWithObject: true });
  return { jpeg: data, width: info.width, height: info.height };
}
