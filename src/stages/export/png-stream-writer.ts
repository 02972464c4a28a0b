import { open, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createDeflate, crc32, type Deflate } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export interface PngStreamWriterOptions {
  /** zlib level of the image data. @default 6 */
  compressionLevel?: number;
}

/**
 * An 8-bit RGB PNG written top to bottom, a band of rows at a time, so an image far larger than memory should
 * hold (a contact sheet of hundreds of shots) is never in memory whole. Rows use filter type 0 ("none"), which
 * is what sharp writes with adaptive filtering off, and one zlib stream split over IDAT chunks.
 */
export class PngStreamWriter {
  readonly width: number;
  readonly height: number;
  #rowsWritten = 0;
  #pending: Buffer[] = [];
  readonly #handle: FileHandle;
  readonly #deflate: Deflate;

  private constructor(handle: FileHandle, width: number, height: number, level: number) {
    this.#handle = handle;
    this.width = width;
    this.height = height;
    this.#deflate = createDeflate({ level });
    this.#deflate.on('data', (data: Buffer) => this.#pending.push(data));
  }

  static async create(
    file: string,
    width: number,
    height: number,
    options: PngStreamWriterOptions = {},
  ): Promise<PngStreamWriter> {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new RangeError(`a PNG needs a positive integer size, got ${width}x${height}`);
    }
    const handle = await open(file, 'w', 0o644);
    const writer = new PngStreamWriter(handle, width, height, options.compressionLevel ?? 6);
    const header = Buffer.alloc(13);
    header.writeUInt32BE(width, 0);
    header.writeUInt32BE(height, 4);
    header[8] = 8; // bit depth
    header[9] = 2; // colour type: RGB
    try {
      await handle.writeFile(Buffer.concat([SIGNATURE, chunk('IHDR', header)]));
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer;
  }

  /** Appends whole rows of packed RGB pixels (`width` × 3 bytes each). */
  async writeRows(pixels: Buffer): Promise<void> {
    const stride = this.width * 3;
    if (pixels.length % stride !== 0) {
      throw new RangeError(`${pixels.length} bytes is not a whole number of ${this.width}-pixel RGB rows`);
    }
    const rows = pixels.length / stride;
    if (this.#rowsWritten + rows > this.height) {
      throw new RangeError(`writing ${rows} rows would pass the image's ${this.height}`);
    }
    const filtered = Buffer.alloc(rows * (stride + 1));
    for (let y = 0; y < rows; y++) pixels.copy(filtered, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
    this.#rowsWritten += rows;
    if (!this.#deflate.write(filtered)) await once(this.#deflate, 'drain');
    await this.#flush();
  }

  /** Finishes the file and flushes it to disk. Every row must have been written. */
  async finish(): Promise<void> {
    if (this.#rowsWritten !== this.height) {
      throw new RangeError(`only ${this.#rowsWritten} of ${this.height} rows were written`);
    }
    this.#deflate.end();
    await finished(this.#deflate);
    await this.#flush();
    await this.#handle.writeFile(chunk('IEND', Buffer.alloc(0)));
    await this.#handle.sync();
    await this.#handle.close();
  }

  /** Stops writing and closes the file (left partial; the caller removes it). Safe to call more than once. */
  async abort(): Promise<void> {
    this.#deflate.destroy();
    this.#pending = [];
    await this.#handle.close().catch(() => undefined);
  }

  async #flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const data = Buffer.concat(this.#pending);
    this.#pending = [];
    await this.#handle.writeFile(chunk('IDAT', data));
  }
}
