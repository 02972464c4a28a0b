import { StoreError, ValidationError, errorMessage, isCancellation } from '../core/errors.js';
import { writeFileAtomic } from '../core/fs-atomic.js';
import type { Project, ProjectInput } from './schema.js';
import { validateProject, validationMessage } from './validate.js';

export interface WriteProjectOptions {
  signal?: AbortSignal;
}

/**
 * Writes a project as pretty JSON, atomically (temp file, fsync, rename), so a reader or a crash sees the old
 * file or the new one, never half of one. The project is validated first: an invalid one is refused with
 * every issue listed and nothing is written. Returns the project as written (defaults applied).
 */
export async function writeProjectFile(
  path: string,
  project: Project | ProjectInput,
  options: WriteProjectOptions = {},
): Promise<Project> {
  const checked = validateProject(project);
  if (!checked.ok) {
    throw new ValidationError(
      validationMessage(`project to write to ${path}`, checked.issues),
      checked.issues,
      {
        details: { file: path },
      },
    );
  }
  try {
    await writeFileAtomic(path, `${JSON.stringify(checked.project, null, 2)}\n`, options);
  } catch (error) {
    if (isCancellation(error)) throw error;
    throw new StoreError(`cannot write project file ${path}: ${errorMessage(error)}`, {
      cause: error,
      details: { file: path },
    });
  }
  return checked.project;
}
