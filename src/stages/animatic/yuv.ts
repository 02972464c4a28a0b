/**
 * Packed sRGB → planar YUV 4:2:0, BT.709, limited range: what the animatic's H.264 stream carries. Done here, once
 * per still, rather than by ffmpeg for every frame of a hold (a 5 s hold is 120 identical conversions), and it
 * halves what goes through the pipe. Pure integer-rounded arithmetic, so the bytes are the same on every machine.
 * Odd sizes lose their last column or row (4:2:0 needs even sizes).
 */
export interface YuvSize {
  width: number;
  height: number;
}

export function yuvSize(width: number, height: number): YuvSize {
  return { width: width & ~1, height: height & ~1 };
}

export function yuvFrameBytes(size: YuvSize): number {
  return (size.width * size.height * 3) / 2;
}

// BT.709 luma weights; chroma scaled so Cb, Cr span ±112 around 128, luma 16–235 (limited range).
const KR = 0.2126;
const KB = 0.0722;
const KG = 1 - KR - KB;
const Y_SCALE = 219 / 255;
const C_SCALE = 224 / 255;
const CB_R = (-0.5 * KR) / (1 - KB);
const CB_G = (-0.5 * KG) / (1 - KB);
const CR_G = (-0.5 * KG) / (1 - KR);
const CR_B = (-0.5 * KB) / (1 - KR);

const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

export function rgbToYuv420(rgb: Uint8Array, width: number, height: number): Buffer {
  const size = yuvSize(width, height);
  const w = size.width;
  const h = size.height;
  const out = Buffer.allocUnsafe(yuvFrameBytes(size));
  const uOffset = w * h;
  const vOffset = uOffset + (w * h) / 4;
  const stride = width * 3;
  for (let y = 0; y < h; y += 2) {
    for (let x = 0; x < w; x += 2) {
      let rs = 0;
      let gs = 0;
      let bs = 0;
      for (let dy = 0; dy < 2; dy += 1) {
        for (let dx = 0; dx < 2; dx += 1) {
          const i = (y + dy) * stride + (x + dx) * 3;
          const r = rgb[i]!;
          const g = rgb[i + 1]!;
          const b = rgb[i + 2]!;
          out[(y + dy) * w + x + dx] = clamp8(16 + Y_SCALE * (KR * r + KG * g + KB * b));
          rs += r;
          gs += g;
          bs += b;
        }
      }
      // Chroma of the 2×2 block's mean colour (centre siting, as swscale does by default).
      const r = rs / 4;
      const g = gs / 4;
      const b = bs / 4;
      const c = (y / 2) * (w / 2) + x / 2;
      out[uOffset + c] = clamp8(128 + C_SCALE * (CB_R * r + CB_G * g + 0.5 * b));
      out[vOffset + c] = clamp8(128 + C_SCALE * (0.5 * r + CR_G * g + CR_B * b));
    }
  }
  return out;
}

/** Limited-range black: Y 16, Cb = Cr = 128. */
export function blackYuv420(size: YuvSize): Buffer {
  const out = Buffer.alloc(yuvFrameBytes(size), 128);
  out.fill(16, 0, size.width * size.height);
  return out;
}
