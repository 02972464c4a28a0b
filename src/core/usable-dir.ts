import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from './errors.js';

/**
 * Checks, before any work, that `dir` is a folder this process can write into, or can be created: the nearest
 * existing ancestor is a writable folder. An `--out` that is a file used to be found only after the whole
 * pipeline had run. Throws ValidationError naming `what` (the option) and the offending path.
 */
export async function assertUsableDir(dir: string, what: string): Promise<void> {
  const target = path.resolve(dir);
  for (let current = target; ; current = path.dirname(current)) {
    const info = await stat(current).catch((error: NodeJS.ErrnoException) => {
      // ENOTDIR: a component above is a file; keep climbing to name it.
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw error;
    });
    if (info !== undefined) {
      const fail = (message: string): never => {
        throw new ValidationError(`${what} ${target}: ${message}`, [{ path: what, message }], {
          details: { path: target },
        });
      };
      if (!info.isDirectory()) {
        fail(current === target ? 'is a file, not a folder' : `cannot be created: ${current} is a file`);
      }
      try {
        await access(current, constants.W_OK | constants.X_OK);
      } catch {
        fail(current === target ? 'is not writable' : `cannot be created: ${current} is not writable`);
      }
      return;
    }
    if (path.dirname(current) === current) return; // nothing exists up to the root: let mkdir say why
  }
}
