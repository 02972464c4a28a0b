import { spawn } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { cancellationFrom, throwIfAborted } from '../../core/abort.js';
import { ExportFailedError, ValidationError } from '../../core/errors.js';
import { fsyncDirectory, tempSiblingPath } from '../../core/fs-atomic.js';
import { frameMix, type AnimaticPlan } from './plan.js';
import { ShotFrames, type ShotLook } from './shot-look.js';
import { blackYuv420, yuvSize } from './yuv.js';

/**
 * The pinned encode: every setting that shapes the bytes is here, so the same stills give the same stream with the
 * same ffmpeg. x264 is repeatable for a fixed thread count (its default is deterministic), hence `threads` pinned
 * rather than left to the machine's core count; bitexact keeps version strings and timestamps out of the container.
 */
export const ENCODE_SETTINGS = {
  codec: 'libx264',
  preset: 'veryfast',
  tune: 'stillimage',
  crf: 20,
  threads: 2,
  pixFmt: 'yuv420p',
  audioCodec: 'aac',
  audioBitrate: '160k',
  audioRate: 48_000,
} as const;

export interface EncodeInput {
  ffmpeg: string;
  plan: AnimaticPlan;
  /** The stills in plan order, as PNG files at the plan's size. */
  stills: string[];
  /** Per shot, in plan order: its move and slate. @default every shot still, no slate */
  looks?: ShotLook[];
  /** An audio file to mux (already checked to hold audio). */
  audio?: string;
  /** Where the video ends up; written under a temporary name and renamed only when complete. */
  outFile: string;
}

export interface EncodeOptions {
  signal?: AbortSignal;
  /** Fraction of frames encoded, from ffmpeg's `-progress` report. */
  onProgress?: (fraction: number) => void;
}

export function ffmpegArgs(input: EncodeInput, tempFile: string): string[] {
  const { plan } = input;
  const s = ENCODE_SETTINGS;
  const seconds = (plan.totalFrames / plan.fps).toFixed(6);
  const size = yuvSize(plan.width, plan.height);
  return [
    ...['-hide_banner', '-nostats', '-loglevel', 'error', '-progress', 'pipe:1'],
    // Frames arrive as BT.709 limited-range YUV 4:2:0, converted once per still (yuv.ts), not once per frame.
    ...['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${size.width}x${size.height}`],
    ...['-framerate', String(plan.fps)],
    ...['-i', 'pipe:0'],
    ...(input.audio !== undefined ? ['-i', input.audio] : []),
    ...['-map', '0:v:0', ...(input.audio !== undefined ? ['-map', '1:a:0'] : [])],
    ...[
      '-c:v',
      s.codec,
      '-preset',
      s.preset,
      '-tune',
      s.tune,
      '-crf',
      String(s.crf),
      '-threads',
      String(s.threads),
    ],
    ...['-pix_fmt', s.pixFmt, '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709'],
    ...['-color_range', 'tv', '-r', String(plan.fps), '-g', String(plan.fps * 2)],
    ...(input.audio !== undefined
      ? // Padded with silence forever, then cut at the picture's length: trimmed or padded to the picture.
        ['-c:a', s.audioCodec, '-b:a', s.audioBitrate, '-ar', String(s.audioRate), '-ac', '2', '-af', 'apad']
      : []),
    ...['-t', seconds],
    ...['-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact', '-map_metadata', '-1'],
    ...['-movflags', '+faststart', '-f', 'mp4', '-y', tempFile],
  ];
}

/**
 * `a × wa + b × (1 − wa)`, rounded, so the result is exact. YUV is a linear map of the (gamma-encoded) RGB, so this
 * is the same dissolve as mixing the RGB; a fade mixes with limited-range black.
 */
function mixFrame(wa: number, a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  const wb = 1 - wa;
  for (let k = 0; k < a.length; k += 1) out[k] = (a[k]! * wa + b[k]! * wb + 0.5) | 0;
  return out;
}

/**
 * Encodes the animatic in one ffmpeg run: raw frames are streamed to its stdin (a held still is the same buffer
 * written again, so nothing is copied per second of video), dissolves and fades are mixed here, and ffmpeg's
 * `-progress` report drives `onProgress`. The file is written under a temporary name and renamed when ffmpeg
 * succeeded; on abort ffmpeg is killed at once and the temporary removed, so no partial video is ever left.
 */
export async function encodeAnimatic(input: EncodeInput, options: EncodeOptions = {}): Promise<void> {
  const { plan, stills } = input;
  const { signal, onProgress } = options;
  if (stills.length !== plan.shots.length) {
    throw new ValidationError(`the animatic has ${plan.shots.length} shots but ${stills.length} stills`);
  }
  throwIfAborted(signal);
  const temp = tempSiblingPath(input.outFile);
  const child = spawn(input.ffmpeg, ffmpegArgs(input, temp), {
    stdio: ['pipe', 'pipe', 'pipe'],
    windowsHide: true,
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    // The tail is what explains a failure; keep it bounded.
    stderr = (stderr + chunk).slice(-4000);
  });
  let progressText = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    progressText += chunk;
    const lines = progressText.split('\n');
    progressText = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^frame=(\d+)/.exec(line);
      if (m) onProgress?.(Math.min(1, Number(m[1]) / Math.max(1, plan.totalFrames)));
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, sig) => resolve({ code, signal: sig }));
    },
  );
  // ffmpeg exiting early makes our writes fail with EPIPE; its exit status is the error worth reporting.
  child.stdin.on('error', () => {});
  const onAbort = (): void => {
    child.kill('SIGKILL');
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  try {
    const open = new Map<number, ShotFrames>();
    const still = async (index: number, n: number): Promise<Buffer> => {
      let shot = open.get(index);
      if (!shot) {
        const planned = plan.shots[index]!;
        shot = await ShotFrames.open(
          stills[index]!,
          plan,
          planned,
          input.looks?.[index] ?? { motion: 'still' },
        );
        open.set(index, shot);
        // Only the shots on screen stay decoded: at most two 1080p stills, whatever the length of the board.
        for (const key of open.keys()) if (key < index - 1) open.delete(key);
      }
      return shot.frame(n - plan.shots[index]!.start);
    };
    let hint = 0;
    let black: Buffer | undefined;
    const size = yuvSize(plan.width, plan.height);
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    for (let n = 0; n < plan.totalFrames && !gone; n += 1) {
      throwIfAborted(signal);
      const mix = frameMix(plan, n, hint);
      hint = mix.a.index;
      const a = await still(mix.a.index, n);
      const frame =
        mix.b === undefined && mix.a.weight === 1
          ? a
          : mixFrame(
              mix.a.weight,
              a,
              mix.b === undefined ? (black ??= blackYuv420(size)) : await still(mix.b.index, n),
            );
      if (!child.stdin.write(frame)) {
        await Promise.race([new Promise((resolve) => child.stdin.once('drain', resolve)), exited]);
      }
    }
    child.stdin.end();
    const result = await exited;
    throwIfAborted(signal);
    if (result.error) {
      throw new ExportFailedError(`could not start ffmpeg (${input.ffmpeg}): ${result.error.message}`, {
        cause: result.error,
      });
    }
    if (result.code !== 0) {
      throw new ExportFailedError(
        `ffmpeg failed making the animatic (exit ${result.code ?? result.signal}): ${stderr.trim() || 'no message'}`,
        { details: { ffmpeg: input.ffmpeg } },
      );
    }
    await rename(temp, input.outFile);
    finished = true;
    await fsyncDirectory(path.dirname(input.outFile));
    onProgress?.(1);
  } catch (error) {
    if (signal?.aborted) throw cancellationFrom(signal);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!finished) {
      child.kill('SIGKILL');
      await exited;
      await rm(temp, { force: true });
    }
  }
}
