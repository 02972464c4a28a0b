import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 of bytes, lowercase hex: the content address of artifacts and the manifest's file hashes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 and size of a file, streamed (never the whole file in memory). */
export async function hashFile(
  file: string,
  signal?: AbortSignal,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, signal ? { signal } : {})) {
    const buffer = chunk as Buffer;
    bytes += buffer.length;
    hash.update(buffer);
  }
  return { sha256: hash.digest('hex'), bytes };
}
