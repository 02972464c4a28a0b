import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { cancellationFrom, throwIfAborted } from '../../core/abort.js';
import { ExportFailedError, ValidationError, errorMessage, isStoryCoreError } from '../../core/errors.js';
import { writeFileDurable } from '../../core/fs-atomic.js';
import { hashFile, sha256Hex } from '../../core/hash.js';
import { safeJoin } from '../../core/safe-path.js';
import type { Project } from '../../project/schema.js';
import {
  MANIFEST_FILE,
  compareCodeUnits,
  serializeManifest,
  type ExportManifest,
  type ManifestFile,
} from '../export/manifest.js';
import { ANIMATIC_SLOT_END, ANIMATIC_SLOT_START, escapeHtml } from '../export/qa-report-html.js';
import { exportTempPaths, publish, sweepAbandonedTemps } from '../export/temp-sweep.js';
import { writeZip } from '../export/zip.js';
import { ENCODE_SETTINGS, encodeAnimatic } from './encode.js';
import { isFfmpegMissing, type FfmpegLookup } from './ffmpeg.js';
import { planAnimatic, type AnimaticPlan } from './plan.js';

export { planAnimatic };
import { motionOf, type ShotLook } from './shot-look.js';
import { RECORD_START_HOURS, edlTimeline, otioTimeline, timecode } from './timeline.js';

export const ANIMATIC_FILES = {
  video: 'animatic.mp4',
  otio: 'timeline.otio',
  edl: 'timeline.edl',
} as const;

/** What the manifest says about the animatic (its `animatic` key). */
export interface AnimaticRecord {
  fps: number;
  frames: number;
  durationSeconds: number;
  width: number;
  height: number;
  shots: Array<{
    shotId: string;
    startFrame: number;
    frames: number;
    transition: string;
    transitionFrames: number;
    /** The camera move given by `animatic.motion` (still without it). */
    motion: string;
  }>;
  /** Whether each shot carries a burned-in slate. */
  slate: boolean;
  /** The video, or why there is none (no ffmpeg). */
  video:
    | { file: string; ffmpeg: string; settings: typeof ENCODE_SETTINGS; audio: string | null }
    | { missing: string };
  timelines: string[];
}

export interface AnimaticInput {
  /** A finished export folder (it has manifest.json and the shots). */
  dir: string;
  /** The project whose durations, transitions, fps and animatic options apply. */
  project: Project;
  ffmpeg: FfmpegLookup;
  /** The voice-over, absolute, already checked by checkAnimaticAudio. */
  audio?: string;
}

export interface AnimaticOptions {
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
}

export interface AnimaticResult {
  record: AnimaticRecord;
  /** The published video, absent without ffmpeg. */
  video?: string;
}

/** Each shot's move (with `animatic.motion`) and slate text (with `animatic.slate`): number, id, record timecode. */
function shotLooks(project: Project, plan: AnimaticPlan): ShotLook[] {
  const width = Math.max(2, String(plan.shots.length).length);
  return plan.shots.map((s, i) => ({
    motion: project.animatic?.motion ? motionOf(project.shots[i]?.camera) : 'still',
    ...(project.animatic?.slate
      ? {
          slate: `${String(i + 1).padStart(width, '0')}  ${s.shotId}  ${timecode(RECORD_START_HOURS * 3600 * plan.fps + s.start, plan.fps)}`,
        }
      : {}),
  }));
}

/** Timings of the plan as the manifest keeps them. */
function recordOf(plan: AnimaticPlan, looks: ShotLook[], video: AnimaticRecord['video']): AnimaticRecord {
  return {
    fps: plan.fps,
    frames: plan.totalFrames,
    durationSeconds: plan.totalFrames / plan.fps,
    width: plan.width,
    height: plan.height,
    shots: plan.shots.map((s, i) => ({
      shotId: s.shotId,
      startFrame: s.start,
      frames: s.frames,
      transition: s.out.type,
      transitionFrames: s.out.frames,
      motion: looks[i]?.motion ?? 'still',
    })),
    slate: looks.some((l) => l.slate !== undefined),
    video,
    timelines: [ANIMATIC_FILES.otio, ANIMATIC_FILES.edl],
  };
}

function playerHtml(plan: AnimaticPlan, record: AnimaticRecord): string {
  const length = `${timecode(plan.totalFrames, plan.fps)} (${record.durationSeconds.toFixed(2)} s, ${plan.fps} fps)`;
  if ('missing' in record.video) {
    return `<h2>Animatic</h2><p>No animatic video: ${escapeHtml(record.video.missing)}. The timelines (<a href="${ANIMATIC_FILES.otio}">OTIO</a>, <a href="${ANIMATIC_FILES.edl}">EDL</a>) are here, ${escapeHtml(length)}.</p>`;
  }
  return (
    `<h2>Animatic</h2><video src="${ANIMATIC_FILES.video}" controls preload="metadata" width="${Math.min(960, plan.width)}" style="max-width:100%;background:#000"></video>` +
    `<p>${escapeHtml(length)} · timelines: <a href="${ANIMATIC_FILES.otio}">OTIO</a>, <a href="${ANIMATIC_FILES.edl}">EDL (CMX 3600)</a></p>`
  );
}

/** The report with the player between the slot markers (replacing an earlier one); unchanged when it has no slot. */
function withPlayer(html: string, player: string): string {
  const start = html.indexOf(ANIMATIC_SLOT_START);
  const end = html.indexOf(ANIMATIC_SLOT_END, start);
  if (start < 0 || end < 0) return html;
  return html.slice(0, start + ANIMATIC_SLOT_START.length) + player + html.slice(end);
}

const REPORT_FILE = 'qa_report.html';
/** The zip's key among the temporaries (it lives beside the folder, not in it; no file in it has this name). */
const ZIP_KEY = ':zip';

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/**
 * Makes the animatic of a finished export, in place: `timeline.otio`, `timeline.edl`, `animatic.mp4` (when there
 * is an ffmpeg), the player in `qa_report.html`, the project as rendered in `project.json`, then the manifest (every
 * file's sha256, the timings, the ffmpeg version) and the zip beside the folder. Each file is replaced atomically and
 * the manifest last but for the zip, so an interrupted render leaves the previous files or the new ones — and a
 * manifest that tells which (the journal reruns the step).
 */
export async function renderAnimatic(
  input: AnimaticInput,
  options: AnimaticOptions = {},
): Promise<AnimaticResult> {
  const { dir, project, ffmpeg } = input;
  const { signal, onProgress } = options;
  const plan = planAnimatic(project);
  const manifestPath = safeJoin(dir, MANIFEST_FILE);
  let manifest: ExportManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ExportManifest;
  } catch (error) {
    throw new ValidationError(
      `${dir} is not a finished export: cannot read ${MANIFEST_FILE} (${errorMessage(error)})`,
    );
  }
  const fileOf = new Map(manifest.frames.map((f) => [f.shotId, f.file] as const));
  const files = plan.shots.map((s) => {
    const file = fileOf.get(s.shotId);
    if (file === undefined) {
      throw new ValidationError(`shot "${s.shotId}" is in the project but has no frame in the export ${dir}`);
    }
    return file;
  });
  throwIfAborted(signal);

  // Everything is made under temporary names first, the zip included; only then is it all renamed into place, so a
  // cancel or a failure at any point before leaves the export exactly as it was (no partial video, nothing unlisted).
  const written = new Map<string, ManifestFile>();
  const temps = new Map<string, string>();
  const zipPath = `${dir}.zip`;
  // The temporaries live in a hidden work folder beside the export, not in it: a process killed mid-render leaves
  // nothing unlisted in the export (which would make the export itself look damaged and be rewritten); the folder
  // is named like an export's own temporaries, so the next export sweeps it once its process is gone.
  const outDir = path.dirname(dir);
  await sweepAbandonedTemps(outDir);
  const work = exportTempPaths(outDir).tmpDir;
  await mkdir(work);
  const tempFor = (rel: string): string => {
    const temp = safeJoin(work, rel === ZIP_KEY ? 'package.zip' : rel.replaceAll('/', '_'));
    temps.set(rel, temp);
    return temp;
  };
  const put = async (rel: string, text: string): Promise<void> => {
    throwIfAborted(signal);
    const bytes = Buffer.from(text, 'utf8');
    await writeFileDurable(tempFor(rel), bytes);
    written.set(rel, { path: rel, bytes: bytes.length, sha256: sha256Hex(bytes) });
  };
  try {
    await put(ANIMATIC_FILES.otio, otioTimeline(plan, files, project.name));
    await put(ANIMATIC_FILES.edl, edlTimeline(plan, files, project.name));

    let video: AnimaticRecord['video'];
    if (isFfmpegMissing(ffmpeg)) {
      video = { missing: ffmpeg.missing };
    } else {
      const temp = tempFor(ANIMATIC_FILES.video);
      await encodeAnimatic(
        {
          ffmpeg: ffmpeg.path,
          plan,
          stills: files.map((f) => safeJoin(dir, ...f.split('/'))),
          looks: shotLooks(project, plan),
          ...(input.audio !== undefined ? { audio: input.audio } : {}),
          outFile: temp,
        },
        { ...(signal ? { signal } : {}), onProgress: (f) => onProgress?.(f * 0.9) },
      );
      written.set(ANIMATIC_FILES.video, {
        path: ANIMATIC_FILES.video,
        ...(await hashFile(temp, signal)),
        width: plan.width,
        height: plan.height,
      });
      video = {
        file: ANIMATIC_FILES.video,
        ffmpeg: ffmpeg.version,
        settings: ENCODE_SETTINGS,
        audio: input.audio !== undefined ? path.basename(input.audio) : null,
      };
    }
    const record = recordOf(plan, shotLooks(project, plan), video);

    const report = await readFile(safeJoin(dir, REPORT_FILE), 'utf8').catch(() => undefined);
    if (report !== undefined) await put(REPORT_FILE, withPlayer(report, playerHtml(plan, record)));
    // The export's copy of the project says which timings the animatic was made with.
    await put('project.json', json(project));

    // A video made with other timings would contradict the timelines: without ffmpeg an old one is dropped.
    const kept = manifest.files.filter((f) => !written.has(f.path) && f.path !== ANIMATIC_FILES.video);
    const { createdAt, timings, ...stable } = manifest;
    const updated = {
      ...stable,
      tools: { ...manifest.tools, ...(isFfmpegMissing(ffmpeg) ? {} : { ffmpeg: ffmpeg.version }) },
      files: [...kept, ...written.values()].sort((a, b) => compareCodeUnits(a.path, b.path)),
      animatic: record,
      createdAt,
      timings,
    } as ExportManifest;
    await writeFileDurable(tempFor(MANIFEST_FILE), serializeManifest(updated));
    onProgress?.(0.92);

    // The zip is the folder's convenience copy, rebuilt from the new files where they are now (the temporaries).
    const entries = [...updated.files.map((f) => f.path), MANIFEST_FILE].map((name) => ({
      name,
      file: temps.get(name) ?? safeJoin(dir, ...name.split('/')),
    }));
    await writeZip(entries, tempFor(ZIP_KEY), { mtime: new Date(createdAt), ...(signal ? { signal } : {}) });
    throwIfAborted(signal);

    // Publish: renames only, the manifest and the zip last; not interrupted by a cancel (it takes milliseconds), and
    // finished by the next run's sweep if the process dies half-way (see publish).
    const folder = path.basename(dir);
    const order = [...temps.keys()].filter((rel) => rel !== MANIFEST_FILE && rel !== ZIP_KEY);
    await publish(outDir, work, [
      ...(isFfmpegMissing(ffmpeg) ? [{ remove: `${folder}/${ANIMATIC_FILES.video}` }] : []),
      ...[...order, MANIFEST_FILE].map((rel) => ({
        rename: path.basename(temps.get(rel)!),
        to: `${folder}/${rel}`,
      })),
      { rename: path.basename(temps.get(ZIP_KEY)!), to: path.basename(zipPath) },
    ]);
    temps.clear();
    onProgress?.(1);
    return { record, ...('missing' in video ? {} : { video: safeJoin(dir, ANIMATIC_FILES.video) }) };
  } catch (error) {
    if (signal?.aborted) throw cancellationFrom(signal);
    if (isStoryCoreError(error)) throw error;
    throw new ExportFailedError(`making the animatic of ${dir} failed: ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
