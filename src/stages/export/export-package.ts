import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import sharp from 'sharp';
import { asCancellation, throwIfAborted } from '../../core/abort.js';
import { ExportFailedError, ValidationError, errorMessage, isCancellation } from '../../core/errors.js';
import { fsyncDirectory, writeFileDurable } from '../../core/fs-atomic.js';
import { safeJoin } from '../../core/safe-path.js';
import { deriveGlobalSeed } from '../../core/seeds.js';
import type { Project } from '../../project/schema.js';
import type { VisualDna } from '../coherence/types.js';
import type { QaReport } from '../qa/types.js';
import { renderContactSheet } from './contact-sheet.js';
import {
  MANIFEST_FILE,
  MANIFEST_VERSION,
  canonicalize,
  compareCodeUnits,
  serializeManifest,
  sha256Hex,
  toolVersions,
  type ExportManifest,
  type ManifestFile,
  type ManifestFrame,
} from './manifest.js';
import { renderQaReportHtml } from './qa-report-html.js';
import { assertSafeId, exportFolderName, shotFilePath } from './safe-path.js';
import { writeZip } from './zip.js';

export interface FrameSize {
  width: number;
  height: number;
}

export interface ExportFrame {
  shotId: string;
  /** 0-based position in the sequence; the file is `shots/NN_<shotId>.png` with NN = index + 1. */
  index: number;
  /** The final frame, PNG-encoded. */
  png: Buffer;
  width: number;
  height: number;
  seed: number;
  prompt: string;
  negativePrompt?: string;
  /** Name of the backend that produced the frame. */
  backend: string;
  /** True for embedded-renderer storyboard drafts; the report then says so in a banner. */
  draft: boolean;
  /** The frame before autofix, shown beside the final one in the report. Not stored as a file. */
  beforePng?: Buffer;
  /** Sizes through promotion; stored in the manifest as given (keys sorted). */
  promotion: { original: FrameSize; cropped: FrameSize; final: FrameSize };
  /** Per-shot durations in ms; volatile, kept under the manifest's `timings`. */
  timings?: Record<string, number>;
}

export interface ExportInput {
  project: Project;
  /** Parent folder; the export becomes `<outDir>/<projectId>-<timestamp>/` plus `<that>.zip`. */
  outDir: string;
  sheet: { png: Buffer; dna: VisualDna };
  frames: ExportFrame[];
  qaReport: QaReport;
  backend: { name: string; version: string };
  /** Everything that shaped the frames (resolution, thresholds, workflow…); stored canonically in the manifest. */
  parameters: Record<string, unknown>;
  /** Run durations in ms; volatile. */
  timings: Record<string, number>;
  /** When the run was made: names the folder, stamps the zip entries, and is the manifest's `createdAt`. */
  createdAt: Date;
}

export interface ExportOptions {
  signal?: AbortSignal;
  /** Called after each file or phase, with how many of `total` steps are done. */
  onProgress?: (done: number, total: number) => void;
}

export interface ExportResult {
  /** The published export folder. */
  dir: string;
  /** The published zip, next to the folder. */
  zipPath: string;
  manifest: ExportManifest;
}

const FILES = {
  sheet: 'master_coherence_sheet.png',
  dna: 'visual_dna.json',
  qaJson: 'qa_report.json',
  qaHtml: 'qa_report.html',
  contact: 'contact_sheet.png',
  project: 'project.json',
} as const;

/** Rejects input that could write in the wrong place or produce an ambiguous package, before touching the disk. */
function validateInput(input: ExportInput): void {
  assertSafeId(input.project.id, 'project id');
  if (input.frames.length === 0) throw new ValidationError('an export needs at least one frame');
  if (!(input.createdAt instanceof Date) || Number.isNaN(input.createdAt.getTime())) {
    throw new ValidationError('createdAt must be a valid Date');
  }
  const ids = new Set<string>();
  const indexes = new Set<number>();
  const total = padTotal(input.frames);
  for (const frame of input.frames) {
    shotFilePath(frame.index, frame.shotId, total);
    if (ids.has(frame.shotId))
      throw new ValidationError(`shot id "${frame.shotId}" appears twice in the export frames`);
    if (indexes.has(frame.index))
      throw new ValidationError(`frame index ${frame.index} appears twice in the export frames`);
    ids.add(frame.shotId);
    indexes.add(frame.index);
  }
}

function padTotal(frames: readonly ExportFrame[]): number {
  return Math.max(frames.length, ...frames.map((f) => f.index + 1));
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

async function pathExists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stage 5: writes the export folder and its zip. Everything is built in `<outDir>/.tmp-<random>` and the zip under a
 * hidden temporary name; only when both are complete and flushed are they renamed into place, so a crash or failure
 * never leaves half an export. On failure the temporaries are removed and ExportFailedError (cause kept) is thrown;
 * on abort, CancelledError.
 */
export async function exportPackage(input: ExportInput, options: ExportOptions = {}): Promise<ExportResult> {
  const { signal, onProgress } = options;
  validateInput(input);
  throwIfAborted(signal);

  const frames = [...input.frames].sort((a, b) => a.index - b.index);
  const total = 1 + frames.length + 6 + 2;
  let done = 0;
  const step = (): void => {
    done += 1;
    onProgress?.(done, total);
  };

  const outDir = safeJoin(input.outDir);
  const token = randomBytes(8).toString('hex');
  const tmpDir = safeJoin(outDir, `.tmp-${token}`);
  const tmpZip = safeJoin(outDir, `.tmp-${token}.zip`);
  let result: ExportResult;
  let phase = 'preparing the temporary folder';

  try {
    await mkdir(outDir, { recursive: true });
    await mkdir(safeJoin(tmpDir, 'shots'), { recursive: true });
    const files: ManifestFile[] = [];

    const put = async (relPath: string, data: Buffer | string, image?: FrameSize): Promise<void> => {
      throwIfAborted(signal);
      phase = `writing ${relPath}`;
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const entry: ManifestFile = { path: relPath, bytes: bytes.length, sha256: sha256Hex(bytes) };
      if (image) {
        const meta = await sharp(bytes).metadata();
        if (meta.format !== 'png')
          throw new ValidationError(`${relPath} is not a PNG (sharp reads it as ${meta.format})`);
        if (meta.width !== image.width || meta.height !== image.height) {
          throw new ValidationError(
            `${relPath} is ${meta.width}x${meta.height}, expected ${image.width}x${image.height}`,
          );
        }
        entry.width = meta.width;
        entry.height = meta.height;
      }
      await writeFileDurable(safeJoin(tmpDir, ...relPath.split('/')), bytes);
      files.push(entry);
      step();
    };

    const sheetMeta = await sharp(input.sheet.png).metadata();
    await put(FILES.sheet, input.sheet.png, { width: sheetMeta.width ?? 0, height: sheetMeta.height ?? 0 });
    const padTo = padTotal(frames);
    const frameFiles = new Map<string, string>();
    for (const frame of frames) {
      const rel = shotFilePath(frame.index, frame.shotId, padTo);
      frameFiles.set(frame.shotId, rel);
      await put(rel, frame.png, { width: frame.width, height: frame.height });
    }
    await put(FILES.dna, json(input.sheet.dna));
    await put(FILES.qaJson, json(input.qaReport));
    await put(FILES.project, json(input.project));

    const reportFrames = frames.map((f) => ({
      index: f.index,
      shotId: f.shotId,
      png: f.png,
      seed: f.seed,
      prompt: f.prompt,
      backend: f.backend,
      draft: f.draft,
      ...(f.negativePrompt !== undefined ? { negativePrompt: f.negativePrompt } : {}),
      ...(f.beforePng !== undefined ? { beforePng: f.beforePng } : {}),
    }));
    phase = 'rendering the QA report';
    const html = await renderQaReportHtml(
      {
        project: input.project,
        sheetPng: input.sheet.png,
        dna: input.sheet.dna,
        frames: reportFrames,
        qaReport: input.qaReport,
        backend: input.backend,
      },
      signal ? { signal } : {},
    );
    await put(FILES.qaHtml, html);

    const draft = frames.some((f) => f.draft);
    phase = 'rendering the contact sheet';
    const contact = await renderContactSheet(frames, {
      title: input.project.name,
      draft,
      ...(signal ? { signal } : {}),
    });
    const contactMeta = await sharp(contact).metadata();
    await put(FILES.contact, contact, { width: contactMeta.width ?? 0, height: contactMeta.height ?? 0 });

    phase = 'writing the manifest';
    files.sort((a, b) => compareCodeUnits(a.path, b.path));
    const qaById = new Map(input.qaReport.shots.map((s) => [s.shotId, s] as const));
    const manifestFrames: ManifestFrame[] = frames.map((f) => {
      const qa = qaById.get(f.shotId);
      return {
        index: f.index,
        shotId: f.shotId,
        file: frameFiles.get(f.shotId) ?? '',
        width: f.width,
        height: f.height,
        seed: f.seed,
        prompt: f.prompt,
        ...(f.negativePrompt !== undefined ? { negativePrompt: f.negativePrompt } : {}),
        backend: f.backend,
        draft: f.draft,
        promotion: canonicalize(f.promotion),
        ...(qa ? { qa: { score: qa.score, passed: qa.passed, issues: [...qa.issues] } } : {}),
      };
    });
    const shotTimings: Record<string, unknown> = {};
    for (const f of [...frames].sort((a, b) => compareCodeUnits(a.shotId, b.shotId))) {
      if (f.timings) shotTimings[f.shotId] = canonicalize(f.timings);
    }
    const manifest: ExportManifest = {
      manifestVersion: MANIFEST_VERSION,
      project: { id: input.project.id, name: input.project.name, schemaVersion: input.project.schemaVersion },
      draft,
      seeds: {
        global: input.project.globalSeed ?? deriveGlobalSeed(input.project.id),
        shots: frames.map((f) => ({ shotId: f.shotId, seed: f.seed })),
      },
      backend: { name: input.backend.name, version: input.backend.version },
      parameters: canonicalize(input.parameters),
      tools: await toolVersions(),
      qa: {
        overallScore: input.qaReport.overallScore,
        passed: input.qaReport.passed,
        autofixApplied: input.qaReport.autofixApplied,
      },
      frames: manifestFrames,
      files,
      createdAt: input.createdAt.toISOString(),
      timings: { run: canonicalize(input.timings), shots: shotTimings },
    };
    throwIfAborted(signal);
    await writeFileDurable(safeJoin(tmpDir, MANIFEST_FILE), serializeManifest(manifest));
    await fsyncDirectory(safeJoin(tmpDir, 'shots'));
    await fsyncDirectory(tmpDir);
    step();

    phase = 'writing the zip';
    const entries = [...files.map((f) => f.path), MANIFEST_FILE].map((name) => ({
      name,
      file: safeJoin(tmpDir, ...name.split('/')),
    }));
    await writeZip(entries, tmpZip, { mtime: input.createdAt, ...(signal ? { signal } : {}) });
    step();

    phase = 'publishing';
    throwIfAborted(signal);
    const { dir, zipPath } = await publish(outDir, tmpDir, tmpZip, input.project.id, input.createdAt);
    await fsyncDirectory(outDir);
    result = { dir, zipPath, manifest };
  } catch (error) {
    await rm(tmpDir, { recursive: true, force: true });
    await rm(tmpZip, { force: true });
    if (isCancellation(error) || signal?.aborted) throw asCancellation(error, signal);
    throw new ExportFailedError(
      `export of project "${input.project.id}" failed while ${phase}: ${errorMessage(error)}`,
      {
        cause: error,
        details: { projectId: input.project.id, outDir, phase },
      },
    );
  }
  // Outside the try: once published, a throwing progress callback must not tear the export down.
  step();
  return result;
}

/**
 * Renames the finished folder and zip to the first free `<projectId>-<timestamp>[-N]` name. The folder goes first:
 * it is the export; the zip is a convenience copy of it. A failure renaming the zip removes the folder again.
 */
async function publish(
  outDir: string,
  tmpDir: string,
  tmpZip: string,
  projectId: string,
  createdAt: Date,
): Promise<{ dir: string; zipPath: string }> {
  for (let attempt = 1; attempt < 1000; attempt += 1) {
    const name = exportFolderName(projectId, createdAt, attempt);
    const dir = safeJoin(outDir, name);
    const zipPath = safeJoin(outDir, `${name}.zip`);
    // rename(2) silently replaces an empty folder or a file, so look first; the rename below catches races.
    if ((await pathExists(dir)) || (await pathExists(zipPath))) continue;
    try {
      await rename(tmpDir, dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY') continue;
      throw error;
    }
    try {
      await rename(tmpZip, zipPath);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    return { dir, zipPath };
  }
  throw new ExportFailedError(
    `no free export name for "${projectId}" at ${createdAt.toISOString()} after 999 attempts`,
  );
}
