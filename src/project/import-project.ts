import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asCancellation, throwIfAborted } from '../core/abort.js';
import { ValidationError, errorMessage } from '../core/errors.js';
import {
  convertCreativeStudioProject,
  isCreativeStudioProject,
  type ImportedTransition,
} from './import-creative-studio.js';
import { SCENE_BREAKDOWN_FILE, importSceneBreakdown } from './import-scene-breakdown.js';
import { importStoryCoreEngine } from './import-storycore-engine.js';
import { readProjectText } from './load.js';
import type { Project } from './schema.js';
import { parseJsonDocument } from './validate.js';

/**
 * `storycore import`: one entry for the three shapes StoryCore-Engine users have — the engine's storyboard folder
 * (`project.json` + `storyboard.json`), its scene-breakdown folder (`project.json` + `scene_breakdown.json`) and
 * the Creative Studio UI's project file — telling which one it read.
 */

export type ImportFormat = 'engine-storyboard' | 'engine-scene-breakdown' | 'creative-studio';

/** How each format is named to a user. */
export const IMPORT_FORMAT_NAMES: Readonly<Record<ImportFormat, string>> = {
  'engine-storyboard': 'StoryCore-Engine storyboard folder (project.json + storyboard.json)',
  'engine-scene-breakdown': 'StoryCore-Engine scene breakdown folder (project.json + scene_breakdown.json)',
  'creative-studio': 'Creative Studio project (Data Contract v1)',
};

export interface ImportProjectOptions {
  signal?: AbortSignal;
  /** Style prompt to use instead of the one found in the source (needed when the source gives none). */
  style?: string;
}

export interface ImportProjectResult {
  format: ImportFormat;
  /** The format as said to a user (IMPORT_FORMAT_NAMES). */
  formatName: string;
  /** The file or folder read. */
  source: string;
  project: Project;
  /** One line per loss or change, naming where in the source it was. */
  warnings: string[];
  /** Transitions out of shots, by shot id, for the animatic (only Creative Studio projects carry them). */
  transitions: Record<string, ImportedTransition>;
}

const STORYBOARD_FILE = 'storyboard.json';

/** Detects the shape at `path` (a folder or a file) and converts it to a valid v1 project. */
export async function importProject(
  path: string,
  options: ImportProjectOptions = {},
): Promise<ImportProjectResult> {
  const signal = options.signal;
  const folderOptions = {
    ...(signal === undefined ? {} : { signal }),
    ...(options.style === undefined ? {} : { style: options.style }),
  };
  const kind = await kindOf(path, signal);
  let dir = path;
  if (kind === 'file') {
    const name = basename(path);
    if (name === STORYBOARD_FILE || name === SCENE_BREAKDOWN_FILE) dir = dirname(path);
    else return importStudioFile(path, options);
  }
  if ((await kindOf(join(dir, STORYBOARD_FILE), signal)) === 'file') {
    const { project, warnings } = await importStoryCoreEngine(dir, folderOptions);
    if ((await kindOf(join(dir, SCENE_BREAKDOWN_FILE), signal)) === 'file') {
      warnings.push(`${SCENE_BREAKDOWN_FILE} not read: the folder's ${STORYBOARD_FILE} gives the shots`);
    }
    return { ...named('engine-storyboard'), source: dir, project, warnings, transitions: {} };
  }
  if ((await kindOf(join(dir, SCENE_BREAKDOWN_FILE), signal)) === 'file') {
    const { project, warnings } = await importSceneBreakdown(dir, folderOptions);
    return { ...named('engine-scene-breakdown'), source: dir, project, warnings, transitions: {} };
  }
  if ((await kindOf(join(dir, 'project.json'), signal)) === 'file') {
    return importStudioFile(join(dir, 'project.json'), options, dir);
  }
  throw new ValidationError(
    `nothing to import in ${dir}: expected ${STORYBOARD_FILE} or ${SCENE_BREAKDOWN_FILE} (a StoryCore-Engine folder) or a Creative Studio project.json`,
    [],
    { details: { dir } },
  );
}

async function importStudioFile(
  file: string,
  options: ImportProjectOptions,
  folder?: string,
): Promise<ImportProjectResult> {
  const read = await readProjectText(file, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    what: 'project file',
  });
  throwIfAborted(options.signal);
  const doc = parseJsonDocument(read.text, read.file);
  if (!isCreativeStudioProject(doc)) {
    const ours =
      typeof doc === 'object' &&
      doc !== null &&
      typeof (doc as Record<string, unknown>)['schemaVersion'] === 'number';
    throw new ValidationError(
      ours
        ? `${read.file} is already a StoryCore project (schemaVersion ${String((doc as Record<string, unknown>)['schemaVersion'])}); use it as it is (storycore validate ${read.file})`
        : `${read.file} is not a Creative Studio project (no "shots" with "schema_version" or "project_name")${
            folder === undefined
              ? ''
              : `, and ${folder} holds no ${STORYBOARD_FILE} or ${SCENE_BREAKDOWN_FILE}`
          }`,
      [],
      { details: { file: read.file } },
    );
  }
  const converted = convertCreativeStudioProject(doc, {
    source: read.file,
    ...(options.style === undefined ? {} : { style: options.style }),
  });
  return {
    ...named('creative-studio'),
    source: read.file,
    project: converted.project,
    warnings: converted.warnings,
    transitions: converted.transitions,
  };
}

const named = (format: ImportFormat): { format: ImportFormat; formatName: string } => ({
  format,
  formatName: IMPORT_FORMAT_NAMES[format],
});

async function kindOf(path: string, signal: AbortSignal | undefined): Promise<'file' | 'dir' | 'missing'> {
  throwIfAborted(signal);
  try {
    const info = await stat(path);
    return info.isDirectory() ? 'dir' : 'file';
  } catch (error) {
    const cancelled = asCancellation(error, signal);
    if (cancelled !== error) throw cancelled;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      if (
        path.endsWith(STORYBOARD_FILE) ||
        path.endsWith(SCENE_BREAKDOWN_FILE) ||
        path.endsWith('project.json')
      )
        return 'missing';
    }
    throw new ValidationError(`cannot read ${path}: ${errorMessage(error)}`, [], {
      cause: error,
      details: { path },
    });
  }
}
