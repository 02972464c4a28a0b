import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { errorMessage } from '../../core/errors.js';
import {
  MANIFEST_FILE,
  readManifestFiles,
  type ExportProblem,
  type VerifyExportOptions,
} from './manifest.js';

interface ZipEntryFacts {
  bytes: number;
  /** Only when the content was read (hashes on, or the manifest itself). */
  sha256?: string;
  text?: string;
}

/**
 * Checks an export zip as a recipient would: the archive opens (its central directory is whole, so a truncated
 * download fails here), every entry decompresses to its recorded size and CRC-32, and the manifest inside lists
 * exactly the entries there are, with their sizes and (with `hashes`, the default) their sha256. Returns the
 * problems found; an empty list means the package is intact. Without `hashes` only the directory and the manifest
 * entry are read: cheap enough for every reuse of an export.
 */
export async function verifyZip(
  zipPath: string,
  options: VerifyExportOptions = {},
): Promise<ExportProblem[]> {
  const hashes = options.hashes !== false;
  const problems: ExportProblem[] = [];
  const entries = new Map<string, ZipEntryFacts>();
  try {
    await readEntries(zipPath, hashes, entries, problems, options.signal);
  } catch (error) {
    options.signal?.throwIfAborted();
    problems.push({ kind: 'zip', path: zipPath, message: `the zip is damaged: ${errorMessage(error)}` });
    return problems;
  }
  const manifest = entries.get(MANIFEST_FILE);
  if (manifest?.text === undefined) {
    problems.push({ kind: 'manifest', path: MANIFEST_FILE, message: `the zip holds no ${MANIFEST_FILE}` });
    return problems;
  }
  const read = readManifestFiles(manifest.text, `${MANIFEST_FILE} in the zip`);
  problems.push(...read.problems);
  const listed = new Set<string>();
  for (const file of read.files) {
    listed.add(file.path);
    const entry = entries.get(file.path);
    if (entry === undefined) {
      problems.push({
        kind: 'missing',
        path: file.path,
        message: `${file.path} is listed in the manifest but not in the zip`,
      });
    } else if (entry.bytes !== file.bytes) {
      problems.push({
        kind: 'size',
        path: file.path,
        message: `${file.path} is ${entry.bytes} bytes in the zip, manifest says ${file.bytes}`,
      });
    } else if (entry.sha256 !== undefined && entry.sha256 !== file.sha256) {
      problems.push({
        kind: 'sha256',
        path: file.path,
        message: `${file.path} in the zip has sha256 ${entry.sha256} ≠ manifest ${file.sha256}`,
      });
    }
  }
  for (const name of entries.keys()) {
    if (name !== MANIFEST_FILE && !listed.has(name)) {
      problems.push({
        kind: 'unlisted',
        path: name,
        message: `${name} is in the zip but not in the manifest`,
      });
    }
  }
  return problems;
}

/** Walks the central directory, reading each entry that must be read; fills `entries` and per-entry problems. */
async function readEntries(
  zipPath: string,
  hashes: boolean,
  entries: Map<string, ZipEntryFacts>,
  problems: ExportProblem[],
  signal: AbortSignal | undefined,
): Promise<void> {
  // yauzl rejects absolute and `..` entry names itself (decodeStrings), so a hostile archive fails the open.
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(zipPath, { lazyEntries: true, validateEntrySizes: true }, (error, file) =>
      error ? reject(error) : resolve(file),
    ),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        if (signal?.aborted) return reject(signal.reason);
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        const facts: ZipEntryFacts = { bytes: entry.uncompressedSize };
        entries.set(entry.fileName, facts);
        const isManifest = entry.fileName === MANIFEST_FILE;
        if (!hashes && !isManifest) return zip.readEntry();
        zip.openReadStream(entry, (error, stream) => {
          if (error) return reject(error);
          void readEntry(stream, isManifest).then(
            (read) => {
              facts.sha256 = read.sha256;
              if (read.text !== undefined) facts.text = read.text;
              if (read.crc !== entry.crc32) {
                problems.push({
                  kind: 'crc32',
                  path: entry.fileName,
                  message: `${entry.fileName}: CRC-32 ${hex(read.crc)} ≠ ${hex(entry.crc32)} recorded in the zip`,
                });
              }
              zip.readEntry();
            },
            (readError: unknown) => {
              // A size mismatch or a corrupt deflate stream: this entry is damaged, the others may not be.
              problems.push({
                kind: 'zip',
                path: entry.fileName,
                message: `${entry.fileName}: ${errorMessage(readError)}`,
              });
              zip.readEntry();
            },
          );
        });
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

async function readEntry(
  stream: Readable,
  keepText: boolean,
): Promise<{ sha256: string; crc: number; text?: string }> {
  const hash = createHash('sha256');
  let crc = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    crc = crc32(buffer, crc);
    if (keepText) chunks.push(buffer);
  }
  return {
    sha256: hash.digest('hex'),
    crc,
    ...(keepText ? { text: Buffer.concat(chunks).toString('utf8') } : {}),
  };
}

const hex = (n: number): string => n.toString(16).padStart(8, '0');
