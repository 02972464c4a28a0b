import path from 'node:path';
import { ValidationError } from './errors.js';

/**
 * Joins `segments` under `root` and returns the absolute result, refusing any result outside `root`.
 * Every path built from user input (shot ids, project ids, manifest entries read back from disk) goes through
 * here, so a `..`, an absolute segment or a NUL byte can never make us read or write elsewhere.
 * The root itself is allowed (joining nothing, or `.`), since it does not escape.
 */
export function safeJoin(root: string, ...segments: string[]): string {
  for (const segment of segments) {
    // NUL truncates paths in the OS layer: what we checked would not be what gets opened.
    if (segment.includes('\0')) {
      throw new ValidationError(`path segment contains a NUL byte: ${JSON.stringify(segment)}`, [
        { path: segment, message: 'NUL byte in path' },
      ]);
    }
  }
  const base = path.resolve(root);
  const joined = path.resolve(base, ...segments);
  const relative = path.relative(base, joined);
  if (relative === '') return joined;
  if (relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    const shown = segments.join(path.sep);
    throw new ValidationError(
      `path "${shown}" escapes ${base}`,
      [{ path: shown, message: `resolves outside ${base}` }],
      {
        details: { root: base, segments },
      },
    );
  }
  return joined;
}

/** True when `candidate` is `root` or lies inside it (after resolving both). */
export function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(path.resolve(root), path.resolve(candidate));
  return (
    relative === '' ||
    (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
  );
}
