import { copyFile, open } from 'node:fs/promises';
import { throwIfAborted } from '../../core/abort.js';
import { ValidationError } from '../../core/errors.js';
import { writeFileDurable } from '../../core/fs-atomic.js';
import { hashFile, sha256Hex } from '../../core/hash.js';

/** A PNG already on disk (an artifact-store file, say). The export copies it instead of reading it into memory. */
export interface PngFile {
  path: string;
  /** When given, the copy's sha256 must match, so a damaged source never lands in an export as valid. */
  sha256?: string;
  /** When given, the copy's size must match. */
  bytes?: number;
}

/** Called only when the export reaches that frame, so at most a frame or two is in memory at once. */
export type PngLoader = () => Promise<Buffer>;

/**
 * Where a PNG comes from: its bytes, a function that loads them on demand, or a file. Prefer a file: its bytes
 * never pass through JavaScript memory; a Buffer keeps every frame in memory for the whole export.
 */
export type PngSource = Buffer | PngLoader | PngFile;

export interface StoredPng {
  bytes: number;
  sha256: string;
}

function isPngFile(source: PngSource): source is PngFile {
  return !Buffer.isBuffer(source) && typeof source !== 'function';
}

function checkExpected(source: PngFile, stored: StoredPng, what: string): void {
  if (source.bytes !== undefined && source.bytes !== stored.bytes) {
    throw new ValidationError(
      `${what}: ${source.path} holds ${stored.bytes} bytes, expected ${source.bytes}`,
      [{ path: what, message: 'size mismatch' }],
    );
  }
  if (source.sha256 !== undefined && source.sha256 !== stored.sha256) {
    throw new ValidationError(
      `${what}: ${source.path} hashes to ${stored.sha256}, expected ${source.sha256} (damaged or wrong file)`,
      [{ path: what, message: 'sha256 mismatch' }],
    );
  }
}

/**
 * Puts the source's bytes at `dest`, flushed to disk, and returns the size and sha256 of what is there. A file
 * is copied by the kernel and then hashed by streaming the copy, so the manifest describes the bytes exported
 * and memory use does not depend on the frame's size.
 */
export async function storePng(
  source: PngSource,
  dest: string,
  options: { what: string; signal?: AbortSignal },
): Promise<StoredPng> {
  const { signal, what } = options;
  throwIfAborted(signal);
  if (!isPngFile(source)) {
    const bytes = Buffer.isBuffer(source) ? source : await source();
    throwIfAborted(signal);
    await writeFileDurable(dest, bytes);
    return { bytes: bytes.length, sha256: sha256Hex(bytes) };
  }
  await copyFile(source.path, dest);
  const handle = await open(dest, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  const stored = await hashFile(dest, signal);
  checkExpected(source, stored, what);
  return stored;
}

/**
 * Something sharp can open for a PNG that is only shown (a before-autofix frame): a file path is passed through
 * after checking its hash when one is given; a loader is called.
 */
export async function openPng(
  source: PngSource,
  options: { what: string; signal?: AbortSignal },
): Promise<Buffer | string> {
  throwIfAborted(options.signal);
  if (Buffer.isBuffer(source)) return source;
  if (typeof source === 'function') return source();
  if (source.sha256 !== undefined || source.bytes !== undefined) {
    checkExpected(source, await hashFile(source.path, options.signal), options.what);
  }
  return source.path;
}
