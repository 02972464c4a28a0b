import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ValidationError } from '../../core/errors.js';
import { verifyExport, type ExportProblem } from './manifest.js';
import { verifyZip } from './verify-zip.js';

export interface PackageVerification {
  /** What was checked: the folder, the zip, or both (a folder's `<folder>.zip` beside it is checked too). */
  checked: Array<{ kind: 'folder' | 'zip'; path: string; problems: ExportProblem[] }>;
  ok: boolean;
}

/**
 * `storycore verify`: every sha256 of an export folder or zip against its manifest (and the zip's CRCs). Throws
 * ValidationError when `target` is neither (the user named the wrong thing); a damaged package is a result, not
 * an error.
 */
export async function verifyPackage(
  target: string,
  options: { signal?: AbortSignal } = {},
): Promise<PackageVerification> {
  const full = resolve(target);
  const info = await stat(full).catch(() => undefined);
  const checked: PackageVerification['checked'] = [];
  const opts = options.signal ? { signal: options.signal } : {};
  if (info?.isDirectory()) {
    checked.push({ kind: 'folder', path: full, problems: await verifyExport(full, opts) });
    const zip = `${full.replace(/[/\\]+$/, '')}.zip`;
    if ((await stat(zip).catch(() => undefined))?.isFile()) {
      checked.push({ kind: 'zip', path: zip, problems: await verifyZip(zip, opts) });
    }
  } else if (info?.isFile() && /\.zip$/i.test(full)) {
    checked.push({ kind: 'zip', path: full, problems: await verifyZip(full, opts) });
  } else {
    throw new ValidationError(
      info === undefined
        ? `no export at ${full}`
        : `${full} is not an export folder or a .zip (give the folder an export wrote, or its zip)`,
      [{ path: target, message: info === undefined ? 'not found' : 'not an export folder or zip' }],
    );
  }
  return { checked, ok: checked.every((c) => c.problems.length === 0) };
}
