import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { errorMessage } from '../../core/errors.js';

/** An ffmpeg that answered `-version`. */
export interface FfmpegInfo {
  path: string;
  /** The first line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.9-0+deb12u1". */
  version: string;
  /** Where it was found: the FFMPEG_PATH variable, the optional npm package, or PATH. */
  source: 'FFMPEG_PATH' | '@ffmpeg-installer/ffmpeg' | 'PATH';
}

/** No usable ffmpeg, and why: said once, so the user knows how to get an animatic. */
export interface FfmpegMissing {
  missing: string;
}

export type FfmpegLookup = FfmpegInfo | FfmpegMissing;

export function isFfmpegMissing(lookup: FfmpegLookup): lookup is FfmpegMissing {
  return 'missing' in lookup;
}

/** Asks a binary for its version; rejects when it is not an ffmpeg that runs. */
async function versionOf(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, ['-hide_banner', '-version'], { timeout: 15_000, windowsHide: true }, (error, stdout) => {
      if (error) return reject(error);
      const first = stdout.split('\n')[0]?.trim() ?? '';
      const match = /^ffmpeg version (\S+)/.exec(first);
      if (!match) return reject(new Error(`"${file} -version" did not print an ffmpeg version`));
      resolve(`ffmpeg ${match[1]}`);
    });
  });
}

async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, process.platform === 'win32' ? `${name}.exe` : name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/** The optional dependency's binary, when npm installed the package for this platform. */
function packagedFfmpeg(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require('@ffmpeg-installer/ffmpeg') as { path?: unknown };
    return typeof pkg.path === 'string' ? pkg.path : undefined;
  } catch {
    // Optional: not installed, or no binary for this platform.
    return undefined;
  }
}

const cache = new Map<string, Promise<FfmpegLookup>>();

/**
 * Finds ffmpeg in the documented order: `FFMPEG_PATH`, the `@ffmpeg-installer/ffmpeg` optional dependency (a binary
 * shipped inside the npm package, so nothing downloads at run time), then `ffmpeg` on PATH. A FFMPEG_PATH that does
 * not run is reported rather than silently skipped: the user asked for that binary. Cached per environment.
 */
export function findFfmpeg(env: NodeJS.ProcessEnv = process.env): Promise<FfmpegLookup> {
  const key = `${env['FFMPEG_PATH'] ?? ''}\0${env['PATH'] ?? ''}`;
  let found = cache.get(key);
  if (!found) {
    found = lookUp(env);
    cache.set(key, found);
  }
  return found;
}

async function lookUp(env: NodeJS.ProcessEnv): Promise<FfmpegLookup> {
  const explicit = env['FFMPEG_PATH'];
  if (explicit !== undefined && explicit !== '') {
    try {
      return { path: explicit, version: await versionOf(explicit), source: 'FFMPEG_PATH' };
    } catch (error) {
      return {
        missing: `FFMPEG_PATH is "${explicit}", which does not run as ffmpeg: ${errorMessage(error)}`,
      };
    }
  }
  const packaged = packagedFfmpeg();
  if (packaged !== undefined) {
    try {
      return { path: packaged, version: await versionOf(packaged), source: '@ffmpeg-installer/ffmpeg' };
    } catch {
      // A broken optional install: fall through to PATH.
    }
  }
  const system = await onPath('ffmpeg', env);
  if (system !== undefined) {
    try {
      return { path: system, version: await versionOf(system), source: 'PATH' };
    } catch (error) {
      return { missing: `ffmpeg on PATH (${system}) does not run: ${errorMessage(error)}` };
    }
  }
  return {
    missing:
      'no ffmpeg found: set FFMPEG_PATH, install the optional dependency @ffmpeg-installer/ffmpeg (npm install ' +
      'without --omit=optional), or put ffmpeg on PATH',
  };
}
