import { StoreError, ValidationError, errorMessage, isCancellation } from '../core/errors.js';
import { throwIfAborted } from '../core/abort.js';
import { writeFileAtomic } from '../core/fs-atomic.js';
import { isCreativeStudioProject, planStudioShots } from './import-creative-studio.js';
import { readProjectText } from './load.js';
import { parseJsonDocument, validationMessage } from './validate.js';

/**
 * The round trip back to the Creative Studio UI: a run's results written into the studio's own `project.json`,
 * touching only the fields the UI stores results in — `generated_image_url` of each generated shot and
 * `master_coherence_sheet` — so everything else the user keeps there (characters, audio, timing, their own
 * metadata, key order) stays as it was.
 */

/** What write-back needs from a run: a subset of `GenerationResults`, so results from any source fit. */
export interface StudioWriteBackResults {
  masterCoherenceSheetUrl: string;
  generatedShots: ReadonlyArray<{ shotId: string; imageUrl: string }>;
}

export interface WriteBackCreativeStudioOptions {
  signal?: AbortSignal;
  /** Time stamped into `master_coherence_sheet.generated_at`, ms since the epoch. @default Date.now() */
  generatedAt?: number;
}

export interface WriteBackCreativeStudioResult {
  /** The file written. */
  file: string;
  /** JSON paths of the shots whose `generated_image_url` was set. */
  updatedShots: string[];
}

/**
 * Updates a Creative Studio project file with a run's results. The shots are matched the way the conversion
 * numbered them (position order, ids made safe), so the results of a run on that file land on the right shots;
 * results naming a shot the file does not have are refused before anything is written. Atomic: a reader sees the
 * old file or the new one.
 */
export async function writeBackCreativeStudio(
  path: string,
  results: StudioWriteBackResults,
  options: WriteBackCreativeStudioOptions = {},
): Promise<WriteBackCreativeStudioResult> {
  const { file, text } = await readProjectText(path, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    what: 'Creative Studio project file',
  });
  throwIfAborted(options.signal);
  const doc = parseJsonDocument(text, file);
  if (!isCreativeStudioProject(doc)) {
    throw new ValidationError(
      `${file} is not a Creative Studio project (no "shots" with "schema_version" or "project_name"); nothing was written`,
      [],
      { details: { file } },
    );
  }
  const planned = planStudioShots(doc);
  if (!planned.ok) {
    throw new ValidationError(validationMessage(file, planned.issues), planned.issues, { details: { file } });
  }
  const byId = new Map(planned.plan.map((p) => [p.shotId, p]));
  const unknown = results.generatedShots.filter((s) => !byId.has(s.shotId)).map((s) => s.shotId);
  if (unknown.length > 0) {
    throw new ValidationError(
      `${file} has no shot ${unknown.map((id) => `"${id}"`).join(', ')} named in the results; are they the results of this project? Nothing was written`,
      [],
      { details: { file, unknown } },
    );
  }

  const updatedShots: string[] = [];
  for (const shot of results.generatedShots) {
    const source = byId.get(shot.shotId);
    if (source === undefined) continue;
    const array = doc[source.array] as unknown[];
    const target = array[source.index] as Record<string, unknown>;
    target['generated_image_url'] = shot.imageUrl;
    updatedShots.push(`$.${source.array}[${source.index}]`);
    // `storyboard` is the contract's alias of `shots`: where it mirrors the shot, it gets the same URL.
    const alias = source.array === 'shots' ? doc['storyboard'] : undefined;
    const mirrored = Array.isArray(alias) ? (alias[source.index] as unknown) : undefined;
    if (isObject(mirrored) && mirrored['id'] === target['id'])
      mirrored['generated_image_url'] = shot.imageUrl;
  }
  const sheet = doc['master_coherence_sheet'];
  doc['master_coherence_sheet'] = {
    ...(isObject(sheet) ? sheet : {}),
    url: results.masterCoherenceSheetUrl,
    generated_at: options.generatedAt ?? Date.now(),
  };

  try {
    await writeFileAtomic(file, formatLike(text, doc), options);
  } catch (error) {
    if (isCancellation(error)) throw error;
    throw new StoreError(`cannot write ${file}: ${errorMessage(error)}`, { cause: error, details: { file } });
  }
  return { file, updatedShots };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON in the file's own indentation, byte-order mark and final newline, so a diff shows only what changed. */
function formatLike(original: string, doc: unknown): string {
  const bom = original.charCodeAt(0) === 0xfeff ? '\ufeff' : '';
  const indent = /^[{[][ \t]*\r?\n([ \t]+)\S/.exec(original.slice(bom.length))?.[1] ?? '';
  const newline = original.includes('\r\n') ? '\r\n' : '\n';
  let body = JSON.stringify(doc, null, indent === '' && original.includes('\n') ? 2 : indent);
  if (newline === '\r\n') body = body.replace(/\n/g, '\r\n');
  return `${bom}${body}${/\r?\n$/.test(original) ? newline : ''}`;
}
