import { constants, crc32, deflateRaw, inflateSync } from 'node:zlib';
import { throwIfAborted } from '../core/abort.js';

/**
 * What libvips is asked for when a PNG is to be recompressed by `recompressPngInStrips`: its own row filters
 * (libpng's adaptive choice per row, in C) and stored deflate blocks, which cost almost nothing to write and to read
 * back.
 */
export const FILTERED_STORED_PNG = { compressionLevel: 0, adaptiveFiltering: true } as const;

/**
 * Rows per independently compressed strip. Fixed, never derived from the core count, so the same pixels give the
 * same bytes on every machine; 120 rows make 9 strips of a 1080p frame, enough to keep any thread pool busy.
 */
const ROWS_PER_STRIP = 120;

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** zlib header: deflate, 32 KiB window, "fastest" level hint, no dictionary (0x7801 is a multiple of 31). */
const ZLIB_HEADER = Buffer.from([0x78, 0x01]);

interface Chunk {
  type: string;
  data: Buffer;
}

function readChunks(png: Buffer): Chunk[] {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) {
    throw new RangeError('recompressPngInStrips: input is not a PNG');
  }
  const chunks: Chunk[] = [];
  let offset = 8;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (end > png.length) throw new RangeError(`recompressPngInStrips: chunk ${type} runs past the end`);
    chunks.push({ type, data: png.subarray(offset + 8, offset + 8 + length) });
    offset = end;
    if (type === 'IEND') break;
  }
  return chunks;
}

function writeChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(data, crc32(type)) >>> 0, 8 + data.length);
  return out;
}

function deflateStrip(strip: Buffer, last: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    deflateRaw(
      strip,
      {
        // Run-length matching only (distance 1): on filtered rows of a resampled (enlarged) frame the residuals are
        // short runs, which RLE finds at a fraction of the cost of LZ77 matching and with smaller output than
        // zlib level 6 (see `npm run bench images`). No hash table is involved, so the bytes do not depend on the
        // CPU features zlib detects.
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
 * Recompresses a PNG that libvips wrote with `FILTERED_STORED_PNG`: its filtered rows are cut into strips of
 * ROWS_PER_STRIP rows, each deflated on its own thread-pool job (zlib's RLE strategy), and the strips are written
 * as one zlib stream over consecutive IDAT chunks. The row filters and the adler-32 checksum are libvips' own (read
 * from the stored stream), so only the compression changes: the image decodes to the same pixels. Deterministic:
 * same input, same bytes.
 *
 * Why: the single-threaded zlib pass was most of a promotion's time (129 of 211 ms for a 1080p frame); split into
 * strips it runs on every core, and RLE is the cheaper and, on enlarged frames, the smaller encoding.
 */
export async function recompressPngInStrips(
  png: Buffer,
  options: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  const chunks = readChunks(png);
  const header = chunks[0];
  if (header?.type !== 'IHDR' || header.data.length !== 13) {
    throw new RangeError('recompressPngInStrips: the PNG does not start with IHDR');
  }
  const width = header.data.readUInt32BE(0);
  const height = header.data.readUInt32BE(4);
  const bitDepth = header.data[8]!;
  const colourType = header.data[9]!;
  const interlace = header.data[12]!;
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colourType];
  if (channels === undefined || interlace !== 0) {
    throw new RangeError(
      `recompressPngInStrips: colour type ${colourType}, interlace ${interlace} is not supported`,
    );
  }
  const rowBytes = 1 + Math.ceil((width * channels * bitDepth) / 8);
  const stream = Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
  if (stream.length < 6) throw new RangeError('recompressPngInStrips: the PNG has no image data');
  // Stored blocks inflate at memory speed; inflateSync also checks libvips' adler-32, which is reused as is below.
  const filtered = inflateSync(stream);
  if (filtered.length !== rowBytes * height) {
    throw new RangeError(
      `recompressPngInStrips: ${filtered.length} bytes of rows, expected ${rowBytes * height} for ${width}x${height}`,
    );
  }
  const adler = stream.subarray(stream.length - 4);
  throwIfAborted(options.signal);

  const strips: Array<Promise<Buffer>> = [];
  for (let row = 0; row < height; row += ROWS_PER_STRIP) {
    const end = Math.min(height, row + ROWS_PER_STRIP);
    strips.push(deflateStrip(filtered.subarray(row * rowBytes, end * rowBytes), end === height));
  }
  const deflated = await Promise.all(strips);
  throwIfAborted(options.signal);

  const out: Buffer[] = [SIGNATURE];
  let wroteData = false;
  for (const chunk of chunks) {
    if (chunk.type !== 'IDAT') {
      out.push(writeChunk(chunk.type, chunk.data));
      continue;
    }
    if (wroteData) continue;
    wroteData = true;
    deflated.forEach((strip, i) => {
      const parts = [strip];
      if (i === 0) parts.unshift(ZLIB_HEADER);
      if (i === deflated.length - 1) parts.push(adler);
      out.push(writeChunk('IDAT', parts.length === 1 ? strip : Buffer.concat(parts)));
    });
  }
  return Buffer.concat(out);
}
