import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { hashFile } from '../core/hash.js';
import type { Project } from '../project/schema.js';
import type { AnimaticRecord, FfmpegLookup } from '../stages/animatic/index.js';
import type { ExportOutput } from './export-step.js';
import type { RunContext } from './run-context.js';
import type { ShotOutcome } from './shot-steps.js';

/** What the journal keeps of an animatic: where it went and the hashes that prove the folder still holds it. */
export interface AnimaticOutput {
  dir: string;
  /** sha256 of timeline.otio (it encodes every timing) and of animatic.mp4, null without ffmpeg. */
  otioSha256: string;
  videoSha256: string | null;
  /** Why there is no video, when there is none. */
  missing?: string;
}

/** The part of the export stage's progress the packaging takes; the animatic the rest. */
export const EXPORT_PACKAGE_SHARE = 0.6;

/** The voice-over's absolute path: relative paths are the project file's. */
export function animaticAudioPath(project: Project, projectDir: string): string | undefined {
  const audio = project.animatic?.audio;
  return audio === undefined ? undefined : path.resolve(projectDir, audio);
}

/**
 * The `animatic` step, after the export: timelines, video, player and manifest entries, written into the export
 * folder. Its input is the export folder, the frames, the whole project (durations, transitions, fps, options),
 * the audio's hash and the ffmpeg version — while the export's own input leaves the timings out — so a duration
 * change reruns this step alone, and installing ffmpeg makes the video appear on the next run.
 */
export async function runAnimaticStep(
  ctx: RunContext,
  shots: readonly ShotOutcome[],
  exported: ExportOutput,
  options: { projectHash: string; ffmpeg: FfmpegLookup; audio?: string },
): Promise<AnimaticOutput> {
  const { progress } = ctx;
  const { ffmpeg, audio } = options;
  const audioSha = audio === undefined ? null : (await hashFile(audio, ctx.signal)).sha256;
  const result = await ctx.steps.run<AnimaticOutput, never>(
    {
      id: 'animatic',
      stage: 'export',
      input: {
        dir: exported.dir,
        project: options.projectHash,
        frames: shots.map((o) => [o.shotId, o.frameSha256]),
        audio: audioSha,
        ffmpeg: 'missing' in ffmpeg ? null : ffmpeg.version,
      },
      // The folder is edited in place by later renders (other durations): the memo holds only while the files
      // are still the ones this input made.
      stillValid: async (output) => {
        try {
          if ((await hashFile(path.join(output.dir, 'timeline.otio'))).sha256 !== output.otioSha256)
            return false;
          if (output.videoSha256 === null) return true;
          const manifest = JSON.parse(await readFile(path.join(output.dir, 'manifest.json'), 'utf8')) as {
            files?: Array<{ path: string; sha256: string }>;
          };
          return manifest.files?.find((f) => f.path === 'animatic.mp4')?.sha256 === output.videoSha256;
        } catch {
          return false;
        }
      },
      execute: async (attemptSignal) => {
        const { renderAnimatic } = await import('../stages/animatic/index.js');
        const rendered = await renderAnimatic(
          { dir: exported.dir, project: ctx.project, ffmpeg, ...(audio !== undefined ? { audio } : {}) },
          {
            signal: attemptSignal,
            onProgress: (f) =>
              progress.update(
                'export',
                'export',
                Math.min(0.99, EXPORT_PACKAGE_SHARE + (1 - EXPORT_PACKAGE_SHARE) * f),
                'animatic',
              ),
          },
        );
        const otio = await hashFile(path.join(exported.dir, 'timeline.otio'), attemptSignal);
        const video =
          rendered.video === undefined ? null : (await hashFile(rendered.video, attemptSignal)).sha256;
        const record: AnimaticRecord = rendered.record;
        return {
          artifacts: {},
          output: {
            dir: exported.dir,
            otioSha256: otio.sha256,
            videoSha256: video,
            ...('missing' in record.video ? { missing: record.video.missing } : {}),
          },
        };
      },
    },
    ctx.signal,
  );
  return result.output;
}
