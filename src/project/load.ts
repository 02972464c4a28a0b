import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { asCancellation, throwIfAborted } from '../core/abort.js';
import { ValidationError, errorMessage } from '../core/errors.js';
import { isCreativeStudioProject } from './creative-studio-shape.js';
import { parseJsonDocument } from './json-syntax.js';
import type { Project } from './schema.js';
import { cachedValidation, rememberValidation } from './validated-cache.js';

/** Name of the project file inside a project folder. */
export const PROJECT_FILE_NAME = 'project.json';

/** A storyboard of 2000 shots is well under 1 MB; anything past this is not a project file. */
export const DEFAULT_MAX_PROJECT_BYTES = 5 * 1024 * 1024;

export interface ReadJsonFileOptions {
  signal?: AbortSignal;
  /**
   * Files larger than this are refused before they are read.
   * @default 5 MiB (DEFAULT_MAX_PROJECT_BYTES)
   */
  maxBytes?: number;
  /** Names the file in messages ("project file", "storyboard file").
   * @default 'project file' */
  what?: string;
}

export interface LoadProjectOptions extends Omit<ReadJsonFileOptions, 'what'> {
  /**
   * Told each loss or change when the file is a Creative Studio project and is converted.
   * @default process.emitWarning (type 'StoryCoreImportWarning')
   */
  onWarning?: (message: string) => void;
  /** Style prompt for a Creative Studio project that gives none. */
  style?: string;
  /**
   * A workspace whose cache of validated projects to use (project/validated-cache.ts): a file validated before, byte
   * for byte the same document, is not validated again, and zod is not even loaded. `generate` passes its own.
   */
  validatedCache?: string;
}

/**
 * Reads and validates a project. `path` is a `project.json` or a folder holding one. A Creative Studio project
 * (StoryCore-Engine's Data Contract v1) is converted on the way, each loss or change told to `onWarning`.
 * Every failure (missing, unreadable, too large, not UTF-8, not JSON, not a valid project) is a ValidationError
 * that names the file; validation failures list every issue with its JSON path.
 */
export async function loadProjectFile(path: string, options: LoadProjectOptions = {}): Promise<Project> {
  const { file, text } = await readProjectText(path, options);
  throwIfAborted(options.signal);
  // Parsed once to tell the shapes apart; our own files keep their line/column errors through parseProjectJson.
  const doc = parseJsonDocument(text, file);
  if (!isCreativeStudioProject(doc)) {
    const cache = options.validatedCache;
    const known = cache === undefined ? undefined : await cachedValidation(cache, doc);
    if (known !== undefined) return known;
    // The schema and zod, loaded only for a document not validated before.
    const { parseProjectJson } = await import('./validate.js');
    const project = parseProjectJson(text, file);
    if (cache !== undefined) await rememberValidation(cache, doc, project);
    return project;
  }
  const { convertCreativeStudioProject } = await import('./import-creative-studio.js');
  const converted = convertCreativeStudioProject(doc, {
    source: file,
    ...(options.style === undefined ? {} : { style: options.style }),
  });
  const warn =
    options.onWarning ?? ((message: string) => process.emitWarning(message, 'StoryCoreImportWarning'));
  for (const warning of converted.warnings) warn(`${file}: ${warning}`);
  return converted.project;
}

/** Resolves a folder to its `project.json` and reads the text, with the size limit and readable errors. */
export async function readProjectText(
  path: string,
  options: ReadJsonFileOptions = {},
): Promise<{ file: string; text: string }> {
  const what = options.what ?? 'project file';
  let file = path;
  let info = await statOrThrow(file, what, options.signal);
  if (info.isDirectory()) {
    file = join(path, PROJECT_FILE_NAME);
    info = await statOrThrow(file, what, options.signal);
  }
  if (!info.isFile())
    throw new ValidationError(`cannot read ${what} ${file}: not a regular file`, [], { details: { file } });
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PROJECT_BYTES;
  if (info.size > maxBytes) {
    throw new ValidationError(
      `${what} ${file} is ${formatBytes(info.size)}, larger than the ${formatBytes(maxBytes)} limit; is it the right file?`,
      [],
      { details: { file, size: info.size, maxBytes } },
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(file, options.signal === undefined ? {} : { signal: options.signal });
  } catch (error) {
    throw readFailure(error, file, what, options.signal);
  }
  try {
    return { file, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch (error) {
    throw new ValidationError(`${what} ${file} is not UTF-8 text`, [], { cause: error, details: { file } });
  }
}

async function statOrThrow(file: string, what: string, signal: AbortSignal | undefined) {
  throwIfAborted(signal);
  try {
    return await stat(file);
  } catch (error) {
    throw readFailure(error, file, what, signal);
  }
}

function readFailure(error: unknown, file: string, what: string, signal: AbortSignal | undefined): unknown {
  const cancelled = asCancellation(error, signal);
  if (cancelled !== error) return cancelled;
  // Node's message already starts with the code ("ENOENT: no such file or directory, stat '…'").
  return new ValidationError(`cannot read ${what} ${file}: ${errorMessage(error)}`, [], {
    cause: error,
    details: { file },
  });
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
