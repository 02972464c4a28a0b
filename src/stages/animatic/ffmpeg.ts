import { execFile } from 'node:child_process';
import { access, constants, mkdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { errorMessage } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fs-atomic.js';

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

/** What `findFfmpegCached` keeps: the environment the lookup ran in, what it found, and the binary's identity. */
interface SavedLookup {
  env: string;
  found: FfmpegInfo;
  binary: { size: number; mtimeMs: number; ino: number };
}

async function identity(file: string): Promise<SavedLookup['binary'] | undefined> {
  try {
    const info = await stat(file);
    return { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino };
  } catch {
    return undefined;
  }
}

/** Whether the optional package is installed, without running it (resolving only reads its package.json). */
function packageInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@ffmpeg-installer/ffmpeg');
    return true;
  } catch {
    return false;
  }
}

/**
 * `findFfmpeg`, remembered in `file` (in the workspace): while the environment is the same and the binary found last
 * time is the same file (path, size, modification time, inode) and still the one the documented order picks, its
 * version is the one `-version` printed then. An unchanged rerun, whose animatic step only needs the version for its
 * input hash, then neither spawns ffmpeg nor loads the npm package (~15 ms). A missing ffmpeg is never
 * remembered, so installing one is seen on the next run; a file that cannot be read or written is only a miss.
 */
export async function findFfmpegCached(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<FfmpegLookup> {
  const key = `${env['FFMPEG_PATH'] ?? ''}\0${env['PATH'] ?? ''}`;
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as SavedLookup;
    const same = JSON.stringify(await identity(saved.found.path)) === JSON.stringify(saved.binary);
    // The order may now pick another binary: the npm package installed since (it comes before PATH), or another
    // ffmpeg earlier on PATH. FFMPEG_PATH and PATH themselves are in the key.
    const stillFirst =
      saved.found.source !== 'PATH' ||
      (!packageInstalled() && (await onPath('ffmpeg', env)) === saved.found.path);
    if (saved.env === key && same && stillFirst) return saved.found;
  } catch {
    // No saved lookup yet, or an unreadable one: look up.
  }
  const found = await findFfmpeg(env);
  if (isFfmpegMissing(found)) return found;
  const binary = await identity(found.path);
  if (binary !== undefined) {
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, JSON.stringify({ env: key, found, binary } satisfies SavedLookup));
    } catch {
      // A cache: the next run looks up again.
    }
  }
  return found;
}
