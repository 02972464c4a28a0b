import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadSharp } from '../../src/image/sharp.js';
import { findFfmpeg, isFfmpegMissing } from '../../src/stages/animatic/index.js';

const run = promisify(execFile);

export interface ProbedStream {
  codec_type: string;
  codec_name: string;
  pix_fmt?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  sample_rate?: string;
}

/** ffprobe's view of a file (streams and format), from the real ffprobe on PATH (Debian's ffmpeg package). */
export async function ffprobe(
  file: string,
): Promise<{ streams: ProbedStream[]; format: { duration: string } }> {
  try {
    const { stdout } = await run('ffprobe', [
      '-v',
      'error',
      '-show_streams',
      '-show_format',
      '-of',
      'json',
      file,
    ]);
    return JSON.parse(stdout) as { streams: ProbedStream[]; format: { duration: string } };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('ffprobe is not on PATH: install Debian\'s "ffmpeg" package (apt-get install ffmpeg)');
    }
    throw error;
  }
}

/** The ffmpeg the animatic uses (FFMPEG_PATH, the npm package, PATH); the tests need one. */
export async function ffmpegPath(): Promise<string> {
  const found = await findFfmpeg();
  if (isFfmpegMissing(found)) throw new Error(found.missing);
  return found.path;
}

/** Decoded RGB of video frame `n` (0-based), by a real ffmpeg decode. */
export async function videoFrame(file: string, n: number, width: number, height: number): Promise<Buffer> {
  const { stdout } = await run(
    await ffmpegPath(),
    [
      '-v',
      'error',
      '-i',
      file,
      '-vf',
      `select=eq(n\\,${n})`,
      '-vframes',
      '1',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  const frame = stdout as unknown as Buffer;
  if (frame.length !== width * height * 3)
    throw new Error(`frame ${n} of ${file}: got ${frame.length} bytes`);
  return frame;
}

/** Packed RGB of a PNG still. */
export async function stillRgb(file: string): Promise<Buffer> {
  return loadSharp()(file).removeAlpha().raw().toBuffer();
}

/** Mean absolute difference per channel value, 0–255. */
export function meanAbsDiff(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/** The per-value average of two images: what a half-way dissolve shows. */
export function average(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = (a[i]! + b[i]! + 1) >> 1;
  return out;
}

/** A sine tone of `seconds` as a WAV, made by ffmpeg's own generator. */
export async function writeTone(file: string, seconds: number): Promise<void> {
  await run(await ffmpegPath(), [
    ...['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`],
    ...['-c:a', 'pcm_s16le', '-y', file],
  ]);
}
