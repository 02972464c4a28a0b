import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * A file written in pieces whose sha256 and size are computed on the way, so a large text (the QA report with
 * hundreds of inline thumbnails) is neither held whole nor read back to be hashed.
 */
export class HashingWriter {
  readonly #handle: FileHandle;
  readonly #hash: Hash = createHash('sha256');
  #bytes = 0;

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  static async create(file: string): Promise<HashingWriter> {
    return new HashingWriter(await open(file, 'w', 0o644));
  }

  async write(text: string): Promise<void> {
    const data = Buffer.from(text, 'utf8');
    this.#hash.update(data);
    this.#bytes += data.length;
    // writeFile, unlike write, retries short writes; it continues from the current position.
    await this.#handle.writeFile(data);
  }

  /** Flushes the file to disk and closes it. */
  async finish(): Promise<{ bytes: number; sha256: string }> {
    await this.#handle.sync();
    await this.#handle.close();
    return { bytes: this.#bytes, sha256: this.#hash.digest('hex') };
  }

  /** Closes the file without flushing it (the caller removes it). */
  async abort(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
  }
}
