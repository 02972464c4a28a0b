import { constants, crc32, deflateRaw } from 'node:zlib';
import { throwIfAborted } from '../core/abort.js';
import { paethKernel } from './paeth-kernel.js';
import type { Raster } from './raster.js';

/**
 * Rows per independently compressed strip. Fixed, never derived from the core count, so the same pixels give the
 * same bytes on every machine; 120 rows make 9 strips of a 1080p frame, enough to keep any thread pool busy.
 */
const ROWS_PER_STRIP = 120;
const PAETH = 4;

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** zlib header: deflate, 32 KiB window, "fastest" level hint, no dictionary (0x7801 is a multiple of 31). */
const ZLIB_HEADER = Buffer.from([0x78, 0x01]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(data, crc32(type)) >>> 0, 8 + data.length);
  return out;
}

/** Paeth's predictor: whichever of left, up, up-left is closest to left + up − up-left (ties: left, then up). */
function paeth(a: number, b: number, c: number): number {
  const pa = Math.abs(b - c);
  const pb = Math.abs(a - c);
  const pc = Math.abs(a + b - 2 * c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** The scanlines, each a filter-type byte then the Paeth-filtered row, in JavaScript (the reference). */
function filterRowsScalar(raster: Raster): Buffer {
  const stride = raster.width * 3;
  const src = raster.data;
  const out = Buffer.allocUnsafe(raster.height * (stride + 1));
  for (let y = 0; y < raster.height; y++) {
    const row = y * stride;
    const o = y * (stride + 1);
    out[o] = PAETH;
    for (let x = 0; x < stride; x++) {
      const a = x >= 3 ? src[row + x - 3]! : 0;
      const b = y > 0 ? src[row - stride + x]! : 0;
      const c = x >= 3 && y > 0 ? src[row - stride + x - 3]! : 0;
      out[o + 1 + x] = (src[row + x]! - paeth(a, b, c)) & 255;
    }
  }
  return out;
}

/** The same scanlines through the WebAssembly SIMD kernel; null where the engine has no SIMD. */
function filterRowsSimd(raster: Raster): Buffer | null {
  const kernel = paethKernel();
  if (kernel === null) return null;
  const stride = raster.width * 3;
  const { height } = raster;
  // 16 zero bytes, a zero row (the one PNG puts above the first), the image, 16 bytes of slack, the scanlines, slack.
  const srcAt = 16 + stride;
  const dstAt = srcAt + height * stride + 16;
  const needed = dstAt + height * (stride + 1) + 16;
  const have = kernel.memory.buffer.byteLength;
  if (have < needed) kernel.memory.grow(Math.ceil((needed - have) / 65536));
  const memory = new Uint8Array(kernel.memory.buffer);
  memory.fill(0, 0, srcAt);
  memory.set(raster.data, srcAt);
  const blocks = Math.ceil(stride / 16);
  for (let y = 0; y < height; y++) {
    kernel.paeth(dstAt + y * (stride + 1) + 1, srcAt + y * stride, stride, blocks);
  }
  // Each row's filter byte, and its first pixel, whose left neighbours are zero (the kernel read the row before):
  // with a = c = 0 Paeth predicts b, the sample above.
  for (let y = 0; y < height; y++) {
    const o = dstAt + y * (stride + 1);
    memory[o] = PAETH;
    for (let x = 0; x < 3; x++) {
      memory[o + 1 + x] = (memory[srcAt + y * stride + x]! - memory[srcAt + (y - 1) * stride + x]!) & 255;
    }
  }
  return Buffer.from(memory.subarray(dstAt, dstAt + height * (stride + 1)));
}

function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length;) {
    // 5552 is the most bytes that can be summed before b could pass 2^32 (zlib's NMAX).
    const end = Math.min(i + 5552, data.length);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return (b * 65536 + a) >>> 0;
}

function deflateStrip(strip: Buffer, last: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    deflateRaw(
      strip,
      {
        // Run-length matching only (distance 1): on the Paeth residuals of a resampled (enlarged) frame, RLE finds
        // the redundancy at a fraction of LZ77's cost and stores it smaller than zlib level 6 (`npm run bench
        // images`). No hash table is involved, so the bytes do not depend on the CPU features zlib detects.
        strategy: constants.Z_RLE,
        level: 9,
        memLevel: 9,
        // A strip before the last ends on a byte boundary without a final block, so the strips concatenate into
        // one valid deflate stream (as pigz does).
        finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
      },
      (error, out) => (error ? reject(error) : resolve(out)),
    );
  });
}

/**
 * Encodes an RGB raster as PNG for an enlarged (resampled) frame: every row Paeth-filtered (WebAssembly SIMD), the
 * scanlines cut into strips of ROWS_PER_STRIP rows, each deflated with zlib's RLE strategy on its own thread-pool
 * job, written as one zlib stream over consecutive IDAT chunks. Lossless and deterministic (same pixels, same
 * bytes, with or without SIMD).
 *
 * Why: the single-threaded zlib pass was most of a promotion's time (129 of 211 ms for a 1080p frame). Split into
 * strips it runs on every core, RLE is the cheaper and, on enlarged frames, the smaller encoding, and Paeth is the
 * filter libpng's adaptive choice picks for ~all rows of such frames anyway.
 */
export async function encodePngInStrips(
  raster: Raster,
  options: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  const { width, height } = raster;
  const rows = filterRowsSimd(raster) ?? filterRowsScalar(raster);
  throwIfAborted(options.signal);
  const rowBytes = width * 3 + 1;
  const strips: Array<Promise<Buffer>> = [];
  for (let row = 0; row < height; row += ROWS_PER_STRIP) {
    const end = Math.min(height, row + ROWS_PER_STRIP);
    strips.push(deflateStrip(rows.subarray(row * rowBytes, end * rowBytes), end === height));
  }
  // Summed here while the thread pool compresses.
  const adler = Buffer.allocUnsafe(4);
  adler.writeUInt32BE(adler32(rows));
  const deflated = await Promise.all(strips);
  throwIfAborted(options.signal);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per sample
  header[9] = 2; // RGB
  const out: Buffer[] = [SIGNATURE, chunk('IHDR', header)];
  deflated.forEach((strip, i) => {
    const parts = [strip];
    if (i === 0) parts.unshift(ZLIB_HEADER);
    if (i === deflated.length - 1) parts.push(adler);
    out.push(chunk('IDAT', Buffer.concat(parts)));
  });
  out.push(chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(out);
}

/** Test-only access: both filter implementations, which must give the same scanlines. */
export const _internals = { filterRowsScalar, filterRowsSimd };
