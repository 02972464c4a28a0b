import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSharp } from '../../image/sharp.js';
import { errorMessage } from '../../core/errors.js';
import { hashFile } from '../../core/hash.js';
import { safeJoin } from '../../core/safe-path.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;

/** One file of the export, as written. Paths are relative to the export folder, always with `/`. */
export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
  /** Pixel size, for images. */
  width?: number;
  height?: number;
}

export interface ManifestFrame {
  /** 0-based position in the sequence. */
  index: number;
  shotId: string;
  file: string;
  width: number;
  height: number;
  seed: number;
  prompt: string;
  negativePrompt?: string;
  backend: string;
  /**
   * The server that generated the frame (ComfyUI). Where a shot ran is provenance, not input: the seed and workflow
   * are the same on every server, so `stableManifestView` leaves it out.
   */
  server?: string;
  /** True when the frame is an embedded-renderer storyboard draft, not a generated image. */
  draft: boolean;
  /** Sizes through promotion (original → cropped → final), as the promote stage reported them. */
  promotion: unknown;
  /** The frame's QA verdict, when the QA report has one for it. */
  qa?: { score: number; passed: boolean; issues: string[] };
}

export interface ToolVersions {
  storycore: string;
  node: string;
  sharp: string;
  libvips: string;
  /** Present when better-sqlite3 can be found (the run store uses it; the export does not need it). */
  'better-sqlite3'?: string;
  /** The ffmpeg that encoded animatic.mp4 (its `-version` line), when there is one. */
  ffmpeg?: string;
}

/**
 * The export's table of contents. Everything above `createdAt` depends only on the inputs (same inputs, same
 * bytes); `createdAt` and `timings` are the volatile part and are kept in their own keys, last.
 */
export interface ExportManifest {
  manifestVersion: typeof MANIFEST_VERSION;
  project: { id: string; name: string; schemaVersion: number };
  /** True when any frame is a draft. */
  draft: boolean;
  seeds: { global: number; shots: Array<{ shotId: string; seed: number }> };
  backend: { name: string; version: string };
  parameters: unknown;
  tools: ToolVersions;
  qa: { overallScore: number; passed: boolean; autofixApplied: boolean };
  frames: ManifestFrame[];
  /** Every file in the folder except manifest.json itself, sorted by path. */
  files: ManifestFile[];
  /** The animatic's timings and video (added by the animatic step after the export; absent before it ran). */
  animatic?: unknown;
  createdAt: string;
  timings: { run: unknown; shots: Record<string, unknown> };
}

/** The manifest without its volatile keys: identical for identical inputs. */
export type StableManifestView = Omit<ExportManifest, 'createdAt' | 'timings'>;

export function stableManifestView(manifest: ExportManifest): StableManifestView {
  const { createdAt: _createdAt, timings: _timings, ...stable } = manifest;
  return { ...stable, frames: stable.frames.map(({ server: _server, ...frame }) => frame) };
}

/**
 * A JSON-safe copy with object keys sorted at every level, so caller-built records (parameters, timings) give the
 * same bytes whatever order their keys were inserted in.
 */
export function canonicalize(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : canonicalize(item)));
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort(compareCodeUnits)) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined && typeof item !== 'function' && typeof item !== 'symbol')
        out[key] = canonicalize(item);
    }
    return out;
  }
  return null;
}

/** Locale-independent ordering, so file lists sort the same on every machine. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The manifest as written to disk: two-space JSON with a trailing newline. */
export function serializeManifest(manifest: ExportManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

let cachedTools: ToolVersions | undefined;

/** Versions of everything that shaped the bytes, read from the installed packages (never hard-coded). */
export async function toolVersions(): Promise<ToolVersions> {
  if (cachedTools) return cachedTools;
  const { versions } = loadSharp();
  const tools: ToolVersions = {
    storycore: await ownVersion(),
    node: process.versions.node,
    sharp: versions.sharp ?? 'unknown',
    libvips: versions.vips,
  };
  try {
    const require = createRequire(import.meta.url);
    const pkg = require('better-sqlite3/package.json') as { version?: unknown };
    if (typeof pkg.version === 'string') tools['better-sqlite3'] = pkg.version;
  } catch {
    // Optional: an export made without the run store installed is still a valid export.
  }
  cachedTools = tools;
  return tools;
}

/** Our own package.json, found by walking up from this file (works from src/ under tsx and from dist/). */
async function ownVersion(): Promise<string> {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'storycore' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not here; keep walking.
    }
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

export type ExportProblemKind =
  'manifest' | 'missing' | 'size' | 'sha256' | 'crc32' | 'unlisted' | 'unsafe-path' | 'zip';

export interface ExportProblem {
  kind: ExportProblemKind;
  /** Path relative to the export folder (or the entry name inside the zip). */
  path: string;
  message: string;
}

export interface VerifyExportOptions {
  /**
   * Hash every file against the manifest's sha256. Without it only presence and sizes are checked: what a reused
   * export gets on every rerun (milliseconds, where hashing costs ~2 ms per MB).
   * @default true
   */
  hashes?: boolean;
  signal?: AbortSignal;
}

/** A manifest's `files` entry as read back from disk: checked field by field, never trusted. */
export function readManifestFiles(
  text: string,
  where: string,
): { files: ManifestFile[]; problems: ExportProblem[] } {
  let manifest: { files?: unknown };
  try {
    manifest = JSON.parse(text) as { files?: unknown };
  } catch (error) {
    return {
      files: [],
      problems: [
        { kind: 'manifest', path: MANIFEST_FILE, message: `${where} is not JSON: ${errorMessage(error)}` },
      ],
    };
  }
  if (typeof manifest !== 'object' || manifest === null || !Array.isArray(manifest.files)) {
    return {
      files: [],
      problems: [{ kind: 'manifest', path: MANIFEST_FILE, message: `${where} has no "files" list` }],
    };
  }
  const files: ManifestFile[] = [];
  const problems: ExportProblem[] = [];
  for (const [i, raw] of (manifest.files as unknown[]).entries()) {
    const entry = raw as Partial<ManifestFile> | null;
    if (
      !entry ||
      typeof entry.path !== 'string' ||
      typeof entry.sha256 !== 'string' ||
      typeof entry.bytes !== 'number'
    ) {
      problems.push({
        kind: 'manifest',
        path: MANIFEST_FILE,
        message: `${where}: files[${i}] is malformed: ${JSON.stringify(raw)}`,
      });
      continue;
    }
    files.push(entry as ManifestFile);
  }
  return { files, problems };
}

async function listFiles(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(root, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * Checks an export folder against its manifest: every listed file exists with the recorded size and sha256, and
 * nothing unlisted sits beside them. Returns the problems found; an empty list means the export is intact.
 * Paths read from the manifest go through safeJoin, so a tampered manifest cannot make us read outside `dir`.
 */
export async function verifyExport(dir: string, options: VerifyExportOptions = {}): Promise<ExportProblem[]> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    return [
      {
        kind: 'manifest',
        path: MANIFEST_FILE,
        message: `cannot read ${MANIFEST_FILE}: ${errorMessage(error)}`,
      },
    ];
  }
  const { files, problems } = readManifestFiles(text, MANIFEST_FILE);
  if (files.length === 0 && problems.length > 0) return problems;
  const listed = new Set<string>();
  for (const entry of files) {
    options.signal?.throwIfAborted();
    listed.add(entry.path);
    let full: string;
    try {
      full = safeJoin(dir, ...entry.path.split('/'));
    } catch (error) {
      problems.push({ kind: 'unsafe-path', path: entry.path, message: errorMessage(error) });
      continue;
    }
    let size: number;
    try {
      size = (await stat(full)).size;
    } catch {
      problems.push({
        kind: 'missing',
        path: entry.path,
        message: `${entry.path} is listed in the manifest but missing`,
      });
      continue;
    }
    if (size !== entry.bytes) {
      problems.push({
        kind: 'size',
        path: entry.path,
        message: `${entry.path} is ${size} bytes, manifest says ${entry.bytes}`,
      });
      continue;
    }
    if (options.hashes === false) continue;
    const actual = (await hashFile(full, options.signal)).sha256;
    if (actual !== entry.sha256) {
      problems.push({
        kind: 'sha256',
        path: entry.path,
        message: `${entry.path} sha256 ${actual} ≠ manifest ${entry.sha256}`,
      });
    }
  }
  for (const rel of await listFiles(dir)) {
    if (rel !== MANIFEST_FILE && !listed.has(rel)) {
      problems.push({
        kind: 'unlisted',
        path: rel,
        message: `${rel} is in the folder but not in the manifest`,
      });
    }
  }
  return problems;
}
