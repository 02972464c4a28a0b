import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { loadSharp } from '../../image/sharp.js';
import { asCancellation, cancellationFrom, throwIfAborted } from '../../core/abort.js';
import { ExportFailedError, ValidationError, errorMessage, isCancellation } from '../../core/errors.js';
import { fsyncDirectory, writeFileDurable } from '../../core/fs-atomic.js';
import { hashFile, sha256Hex } from '../../core/hash.js';
import { safeJoin } from '../../core/safe-path.js';
import { deriveGlobalSeed } from '../../core/seeds.js';
import type { Project } from '../../project/schema.js';
import type { VisualDna } from '../coherence/types.js';
import type { QaReport } from '../qa/types.js';
import { ContactSheetWriter, contactSheetLayout } from './contact-sheet.js';
import { frameThumbnails, reportThumbnail } from './frame-thumbnails.js';
import {
  MANIFEST_FILE,
  MANIFEST_VERSION,
  canonicalize,
  compareCodeUnits,
  serializeManifest,
  toolVersions,
  type ExportManifest,
  type ManifestFile,
  type ManifestFrame,
} from './manifest.js';
import { openPng, storePng, type PngSource } from './png-source.js';
import { HashingWriter } from './hashing-writer.js';
import { QaReportHtml, type ReportFrameInfo } from './qa-report-html.js';
import { assertSafeId, exportFolderName, shotFilePath } from './safe-path.js';
import { exportTempPaths, sweepAbandonedTemps } from './temp-sweep.js';
import { writeZip } from './zip.js';

export interface FrameSize {
  width: number;
  height: number;
}

export interface ExportFrame {
  shotId: string;
  /** 0-based position in the sequence; the file is `shots/NN_<shotId>.png` with NN = index + 1. */
  index: number;
  /** The final frame, PNG-encoded. Pass a file (or a loader) for long sequences: Buffers all stay in memory. */
  png: PngSource;
  width: number;
  height: number;
  seed: number;
  prompt: string;
  negativePrompt?: string;
  /** Name of the backend that produced the frame. */
  backend: string;
  /** The server that generated it (a ComfyUI pool's member). */
  server?: string;
  /** True for embedded-renderer storyboard drafts; the report then says so in a banner. */
  draft: boolean;
  /** The frame before autofix, shown beside the final one in the report. Not stored as a file. */
  beforePng?: PngSource;
  /** Sizes through promotion; stored in the manifest as given (keys sorted). */
  promotion: { original: FrameSize; cropped: FrameSize; final: FrameSize };
  /** Per-shot durations in ms; volatile, kept under the manifest's `timings`. */
  timings?: Record<string, number>;
}

export interface ExportInput {
  project: Project;
  /** Parent folder; the export becomes `<outDir>/<projectId>-<timestamp>/` plus `<that>.zip`. */
  outDir: string;
  sheet: { png: PngSource; dna: VisualDna };
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

/** Widths of the QA report's thumbnails, px. */
const REPORT_THUMB_WIDTH = 320;
const REPORT_SHEET_WIDTH = 480;

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

interface PlacedPng {
  file: string;
  width: number;
  height: number;
}

function reportInfo(f: ExportFrame): ReportFrameInfo {
  return {
    index: f.index,
    shotId: f.shotId,
    seed: f.seed,
    prompt: f.prompt,
    backend: f.backend,
    draft: f.draft,
    ...(f.negativePrompt !== undefined ? { negativePrompt: f.negativePrompt } : {}),
  };
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
 * Stage 5: writes the export folder and its zip. Everything is built in `<outDir>/.tmp-<pid>-<random>` and the zip under a
 * hidden temporary name (temporaries left by a dead process are swept first); only when both are complete and flushed are they renamed into place, so a crash or failure
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
  const { tmpDir, tmpZip } = exportTempPaths(outDir);
  let result: ExportResult;
  let phase = 'preparing the temporary folder';
  // Written while the frames stream through; closed on failure.
  let contact: ContactSheetWriter | undefined;
  let reportWriter: HashingWriter | undefined;

  try {
    await mkdir(outDir, { recursive: true });
    await sweepAbandonedTemps(outDir);
    await mkdir(safeJoin(tmpDir, 'shots'), { recursive: true });
    const files: ManifestFile[] = [];

    const entryFor = (relPath: string): string => safeJoin(tmpDir, ...relPath.split('/'));
    const putText = async (relPath: string, text: string): Promise<void> => {
      throwIfAborted(signal);
      phase = `writing ${relPath}`;
      const bytes = Buffer.from(text, 'utf8');
      await writeFileDurable(entryFor(relPath), bytes);
      files.push({ path: relPath, bytes: bytes.length, sha256: sha256Hex(bytes) });
      step();
    };
    /** Stores a PNG and checks it is one (of the expected size when given); returns where it now is. */
    const putPng = async (relPath: string, source: PngSource, expected?: FrameSize): Promise<PlacedPng> => {
      throwIfAborted(signal);
      phase = `writing ${relPath}`;
      const file = entryFor(relPath);
      const stored = await storePng(source, file, { what: relPath, ...(signal ? { signal } : {}) });
      // Reads the header only; the pixels are decoded once, later, for the thumbnails.
      const meta = await loadSharp()(file).metadata();
      if (meta.format !== 'png')
        throw new ValidationError(`${relPath} is not a PNG (sharp reads it as ${meta.format})`);
      if (expected && (meta.width !== expected.width || meta.height !== expected.height)) {
        throw new ValidationError(
          `${relPath} is ${meta.width}x${meta.height}, expected ${expected.width}x${expected.height}`,
        );
      }
      files.push({ path: relPath, ...stored, width: meta.width, height: meta.height });
      step();
      return { file, width: meta.width, height: meta.height };
    };

    const sheet = await putPng(FILES.sheet, input.sheet.png);
    phase = 'making the sheet thumbnail';
    const sheetThumb = await reportThumbnail(sheet.file, REPORT_SHEET_WIDTH);
    // The report is written as the frames go by: everything before the shot cards needs no frame images.
    const report = new QaReportHtml({
      project: input.project,
      sheetThumb,
      dna: input.sheet.dna,
      frames: frames.map(reportInfo),
      qaReport: input.qaReport,
      backend: input.backend,
    });
    reportWriter = await HashingWriter.create(entryFor(FILES.qaHtml));
    await reportWriter.write(report.head());

    // One frame at a time: copy it, check it, decode it once for both thumbnails, keep only the report's
    // thumbnail; the contact sheet is written a row at a time as the frames arrive.
    const padTo = padTotal(frames);
    const frameFiles = new Map<string, string>();
    const draft = frames.some((f) => f.draft);
    const contactFile = entryFor(FILES.contact);
    for (const frame of frames) {
      const rel = shotFilePath(frame.index, frame.shotId, padTo);
      frameFiles.set(frame.shotId, rel);
      const placed = await putPng(rel, frame.png, { width: frame.width, height: frame.height });
      throwIfAborted(signal);
      phase = `making thumbnails of ${rel}`;
      contact ??= await ContactSheetWriter.create(contactFile, frames.length, {
        title: input.project.name,
        layout: contactSheetLayout(frames.length, placed.width / placed.height),
        draft,
        ...(signal ? { signal } : {}),
      });
      const thumbs = await frameThumbnails(placed.file, {
        reportWidth: REPORT_THUMB_WIDTH,
        contact: { width: contact.layout.thumbWidth, height: contact.layout.thumbHeight },
      });
      let beforeThumb: string | undefined;
      if (frame.beforePng !== undefined) {
        phase = `making the before-autofix thumbnail of ${rel}`;
        const before = await openPng(frame.beforePng, {
          what: `before-autofix frame of ${frame.shotId}`,
          ...(signal ? { signal } : {}),
        });
        beforeThumb = await reportThumbnail(before, REPORT_THUMB_WIDTH);
      }
      phase = `drawing ${rel} on the contact sheet`;
      await contact.add({ index: frame.index, shotId: frame.shotId, thumb: thumbs.contact });
      await reportWriter.write(
        report.card({
          ...reportInfo(frame),
          thumb: thumbs.report,
          ...(beforeThumb !== undefined ? { beforeThumb } : {}),
        }),
      );
    }
    await putText(FILES.dna, json(input.sheet.dna));
    await putText(FILES.qaJson, json(input.qaReport));
    await putText(FILES.project, json(input.project));

    throwIfAborted(signal);
    phase = `writing ${FILES.qaHtml}`;
    await reportWriter.write(report.tail());
    const reportStored = await reportWriter.finish();
    reportWriter = undefined;
    files.push({ path: FILES.qaHtml, ...reportStored });
    step();

    throwIfAborted(signal);
    phase = 'writing the contact sheet';
    // validateInput guarantees a frame, so the loop opened the writer.
    const contactSize = await contact!.finish();
    contact = undefined;
    files.push({ path: FILES.contact, ...(await hashFile(contactFile, signal)), ...contactSize });
    step();

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
        ...(f.server !== undefined ? { server: f.server } : {}),
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
    await contact?.abort();
    await reportWriter?.abort();
    await rm(tmpDir, { recursive: true, force: true });
    await rm(tmpZip, { force: true });
    // Aborted: whatever the abort made fail (a closed stream, an I/O error) is the cancel, typed as one.
    if (signal?.aborted) throw cancellationFrom(signal);
    if (isCancellation(error)) throw asCancellation(error, signal);
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
