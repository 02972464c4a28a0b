import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import {
  ErrorCode,
  StoreError,
  ValidationError,
  errorMessage,
  isStoryCoreError,
  rootCause,
} from './errors.js';

/**
 * Partial results: what a failed or cancelled run had finished, kept so the next run (or the person) can recover.
 * Storage is a synchronous key/value interface shaped like the Web Storage API, so the browser's localStorage
 * fits as is and the Node side can use a folder of JSON files.
 */

/** A generated shot as recorded for recovery; any JSON-safe fields beside its id. */
export interface PartialShotRecord {
  shotId: string;
  [key: string]: unknown;
}

/** The error that ended the run, reduced to JSON-safe facts. */
export interface PartialResultsError {
  message: string;
  code: string;
  name: string;
  stage?: string;
  shotId?: string;
}

/** The note's record shape. `savedAt` is epoch ms. */
export interface PartialResults {
  projectId: string;
  completedStages: string[];
  generatedShots: PartialShotRecord[];
  masterCoherenceSheetUrl?: string;
  lastError?: PartialResultsError;
  savedAt: number;
}

export interface PartialResultsStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class MemoryPartialResultsStorage implements PartialResultsStorage {
  private readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** Web Storage (the browser's localStorage) with keys namespaced so they cannot clash with the page's own. */
export class LocalStoragePartialResultsStorage implements PartialResultsStorage {
  constructor(
    // The three Web Storage methods, typed here rather than as the DOM's `Storage`, so consumers compiling for Node
    // (no DOM lib) can use these declarations.
    private readonly storage: PartialResultsStorage,
    private readonly prefix = 'storycore:partial-results:',
  ) {}
  getItem(key: string): string | null {
    return this.storage.getItem(this.prefix + key);
  }
  setItem(key: string, value: string): void {
    this.storage.setItem(this.prefix + key, value);
  }
  removeItem(key: string): void {
    this.storage.removeItem(this.prefix + key);
  }
}

/**
 * One JSON file per key in `dir`. Keys become file names by percent-encoding every byte outside [a-z0-9_-]
 * (upper case too, so case-insensitive file systems cannot merge two projects); `..`, `/` and `\` therefore
 * cannot leave the folder. Writes go to a temp file, are fsynced, then renamed over the old file.
 */
export class FilePartialResultsStorage implements PartialResultsStorage {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** The file that holds `key`. */
  pathFor(key: string): string {
    if (key === '')
      throw new ValidationError('Partial results key must not be empty', [
        { path: 'projectId', message: 'empty' },
      ]);
    let name = '';
    for (const byte of Buffer.from(key, 'utf8')) {
      const ch = String.fromCharCode(byte);
      name += /[a-z0-9_-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
    if (name.length > 180)
      name = `${name.slice(0, 100)}~${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
    const file = join(this.dir, `${name}.json`);
    if (dirname(file) !== this.dir || !file.startsWith(this.dir + sep)) {
      throw new ValidationError(`Partial results key "${key}" does not map to a file inside ${this.dir}`);
    }
    return file;
  }

  getItem(key: string): string | null {
    const file = this.pathFor(key);
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new StoreError(`Cannot read partial results at ${file}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  setItem(key: string, value: string): void {
    const file = this.pathFor(key);
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true });
      const fd = openSync(temp, 'w', 0o600);
      try {
        writeSync(fd, value);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, file);
    } catch (error) {
      rmSync(temp, { force: true });
      throw new StoreError(`Cannot write partial results to ${file}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  removeItem(key: string): void {
    rmSync(this.pathFor(key), { force: true });
  }
}

/** The workspace `SequenceGenerationService` and the CLI use unless told otherwise, relative to the working directory. */
export const DEFAULT_WORKSPACE = '.storycore';

/** The folder of a workspace that holds saved partial results: the one store the service and the handler share. */
export function partialResultsFolder(workspace: string = DEFAULT_WORKSPACE): string {
  return join(resolve(workspace), 'partial-results');
}

/**
 * Where partial results live by default: the browser's localStorage when there is one, else the `partial-results/`
 * folder of the workspace (`.storycore` in the working directory unless given) — the same folder
 * `SequenceGenerationService.getPartialResults` reads, so what a handler saves is what the service reports.
 */
export function defaultPartialResultsStorage(workspace: string = DEFAULT_WORKSPACE): PartialResultsStorage {
  const ls = (globalThis as { localStorage?: unknown }).localStorage;
  try {
    if (ls && typeof (ls as PartialResultsStorage).getItem === 'function')
      return new LocalStoragePartialResultsStorage(ls as PartialResultsStorage);
  } catch {
    // Some runtimes expose a localStorage getter that throws when it is not configured: fall back to files.
  }
  return new FilePartialResultsStorage(partialResultsFolder(workspace));
}

/** Reduces anything thrown (or a GenerationError-like object with stage/shotId) to JSON-safe facts. */
export function toPartialResultsError(error: unknown): PartialResultsError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const code = isStoryCoreError(error)
    ? error.code
    : typeof e['code'] === 'string'
      ? e['code']
      : ErrorCode.INTERNAL;
  const name = error instanceof Error ? error.name : typeof e['name'] === 'string' ? e['name'] : 'Error';
  const root = rootCause(error);
  const message =
    typeof e['message'] === 'string' ? e['message'] : errorMessage(root === error ? error : root);
  return {
    message,
    code,
    name,
    ...(typeof e['stage'] === 'string' ? { stage: e['stage'] } : {}),
    ...(typeof e['shotId'] === 'string' ? { shotId: e['shotId'] } : {}),
  };
}

const STAGE_ORDER = ['grid', 'comfyui', 'promotion', 'qa', 'export'];

function stageRank(stage: string): number {
  const i = STAGE_ORDER.indexOf(stage);
  return i === -1 ? STAGE_ORDER.length : i;
}

/**
 * Merges a new record into the stored one so that nothing already saved is lost: stages and shots are unions
 * (a shot present in both takes the newer fields), the sheet URL and last error are the newer ones when given.
 * This is what keeps a failure's save, which may know less than an earlier one, from erasing recovery data.
 */
export function mergePartialResults(stored: PartialResults | null, next: PartialResults): PartialResults {
  if (!stored) return next;
  const stages = [...new Set([...stored.completedStages, ...next.completedStages])].sort(
    (a, b) => stageRank(a) - stageRank(b),
  );
  const shots = new Map<string, PartialShotRecord>();
  for (const shot of stored.generatedShots) shots.set(shot.shotId, shot);
  for (const shot of next.generatedShots) shots.set(shot.shotId, { ...shots.get(shot.shotId), ...shot });
  const sheet = next.masterCoherenceSheetUrl ?? stored.masterCoherenceSheetUrl;
  const lastError = next.lastError ?? stored.lastError;
  return {
    projectId: next.projectId,
    completedStages: stages,
    generatedShots: [...shots.values()],
    ...(sheet === undefined ? {} : { masterCoherenceSheetUrl: sheet }),
    ...(lastError === undefined ? {} : { lastError }),
    savedAt: next.savedAt,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseRecord(projectId: string, text: string): PartialResults {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StoreError(
      `Partial results for project "${projectId}" are not valid JSON: ${errorMessage(error)}`,
      {
        cause: error,
        details: { projectId },
      },
    );
  }
  const ok =
    isRecord(value) &&
    value['projectId'] === projectId &&
    Array.isArray(value['completedStages']) &&
    value['completedStages'].every((s) => typeof s === 'string') &&
    Array.isArray(value['generatedShots']) &&
    value['generatedShots'].every((s) => isRecord(s) && typeof s['shotId'] === 'string') &&
    typeof value['savedAt'] === 'number' &&
    (value['masterCoherenceSheetUrl'] === undefined ||
      typeof value['masterCoherenceSheetUrl'] === 'string') &&
    (value['lastError'] === undefined ||
      (isRecord(value['lastError']) && typeof value['lastError']['message'] === 'string'));
  if (!ok) {
    throw new StoreError(`Partial results for project "${projectId}" do not have the expected shape`, {
      details: { projectId },
    });
  }
  return value as unknown as PartialResults;
}

/** Save/load/clear of partial results over a storage, with merge-on-save. */
export class PartialResultsStore {
  constructor(
    readonly storage: PartialResultsStorage = defaultPartialResultsStorage(),
    private readonly now: () => number = Date.now,
  ) {}

  /** Saves (merging with what is stored) and returns the record now stored. */
  save(
    projectId: string,
    completedStages: readonly string[],
    generatedShots: readonly PartialShotRecord[],
    masterCoherenceSheetUrl?: string,
    lastError?: unknown,
  ): PartialResults {
    if (typeof projectId !== 'string' || projectId === '') {
      throw new ValidationError('Partial results need a non-empty projectId', [
        { path: 'projectId', message: 'empty' },
      ]);
    }
    const next: PartialResults = {
      projectId,
      completedStages: [...completedStages],
      generatedShots: generatedShots.map((s) => ({ ...s })),
      ...(masterCoherenceSheetUrl === undefined ? {} : { masterCoherenceSheetUrl }),
      ...(lastError === undefined ? {} : { lastError: toPartialResultsError(lastError) }),
      savedAt: this.now(),
    };
    let stored: PartialResults | null = null;
    try {
      stored = this.load(projectId);
    } catch (error) {
      // An unreadable record holds nothing we can keep; the fresh one replaces it.
      if (!(error instanceof StoreError) || error.code !== ErrorCode.STORE) throw error;
    }
    const merged = mergePartialResults(stored, next);
    this.storage.setItem(projectId, JSON.stringify(merged));
    return merged;
  }

  /** The stored record, or null when there is none. Throws StoreError when it is unreadable. */
  load(projectId: string): PartialResults | null {
    const text = this.storage.getItem(projectId);
    return text === null ? null : parseRecord(projectId, text);
  }

  clear(projectId: string): void {
    this.storage.removeItem(projectId);
  }
}
