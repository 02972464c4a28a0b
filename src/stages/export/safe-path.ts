import { ValidationError } from '../../core/errors.js';
import { SHOT_ID_PATTERN } from '../../project/contract.js';

/**
 * Names inside an export that come from user input. The project schema already restricts ids, but exports can be
 * called with values that never went through it (library users, a tampered run store), so the rules are checked
 * again here, where the names turn into paths.
 */

/** Throws a ValidationError unless `id` is safe as a single file-name component. */
export function assertSafeId(id: string, what: string): void {
  if (typeof id !== 'string' || !SHOT_ID_PATTERN.test(id) || id.includes('..')) {
    throw new ValidationError(
      `${what} ${JSON.stringify(id)} is not safe as a file name (letters, digits, ".", "_", "-"; no "..")`,
      [{ path: what, message: 'unsafe file name' }],
    );
  }
}

/** `shots/NN_<shotId>.png`, NN the 1-based position padded to at least two digits (more for 100+ shots). */
export function shotFilePath(index: number, shotId: string, total: number): string {
  if (!Number.isInteger(index) || index < 0) {
    throw new ValidationError(`frame index must be a non-negative integer, got ${index}`, [
      { path: `frames[${shotId}].index`, message: 'invalid index' },
    ]);
  }
  assertSafeId(shotId, 'shot id');
  const width = Math.max(2, String(total).length);
  return `shots/${String(index + 1).padStart(width, '0')}_${shotId}.png`;
}

/** UTC compact ISO-8601 basic format, `20261125T213000Z`. */
export function compactTimestamp(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new ValidationError('createdAt is not a valid date');
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** `<projectId>-<timestamp>`, with `-2`, `-3`… when `attempt` > 1. */
export function exportFolderName(projectId: string, createdAt: Date, attempt = 1): string {
  assertSafeId(projectId, 'project id');
  const base = `${projectId}-${compactTimestamp(createdAt)}`;
  return attempt > 1 ? `${base}-${attempt}` : base;
}
