import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from '../../core/abort.js';
import { ValidationError } from '../../core/errors.js';
import { isFfmpegMissing, type FfmpegLookup } from './ffmpeg.js';

/**
 * Checks the voice-over before any work: it exists, is a file, and ffmpeg reads an audio stream from it. Without
 * ffmpeg only existence is checked (there will be no video to put it in).
 */
export async function checkAnimaticAudio(
  file: string,
  ffmpeg: FfmpegLookup,
  signal?: AbortSignal,
): Promise<void> {
  let isFile = false;
  try {
    isFile = (await stat(file)).isFile();
  } catch {
    throw new ValidationError(`animatic.audio: ${file} does not exist`, [
      { path: 'animatic.audio', message: `${file} does not exist` },
    ]);
  }
  if (!isFile) throw new ValidationError(`animatic.audio: ${file} is not a file`);
  if (isFfmpegMissing(ffmpeg)) return;
  // `ffmpeg -i FILE` with no output lists the streams on stderr and exits 1; that listing is what we read.
  const listing = await new Promise<string>((resolve) => {
    execFile(
      ffmpeg.path,
      ['-hide_banner', '-nostdin', '-i', file],
      { timeout: 15_000, windowsHide: true, ...(signal ? { signal } : {}) },
      (_error, _stdout, stderr) => resolve(stderr),
    );
  });
  throwIfAborted(signal);
  if (!/Stream #\d+:\d+.*: Audio: /.test(listing)) {
    const why = /Invalid data found|could not find codec|moov atom not found/i.exec(listing)?.[0];
    throw new ValidationError(
      `animatic.audio: ${file} holds no audio ffmpeg can read${why ? ` (${why})` : ' (no audio stream)'}`,
      [{ path: 'animatic.audio', message: `${path.basename(file)} is not audio` }],
    );
  }
}
