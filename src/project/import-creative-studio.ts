import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { formatJsonPath, issueMessages, toValidationIssues } from './issues.js';
import { clean, fitPhrase, fitPrompt, optionalText, resolution, sanitiseId } from './import-text.js';
import {
  DEFAULT_OUTPUT,
  MAX_SEED,
  MAX_SHOTS,
  PROJECT_NAME_MAX,
  SCHEMA_VERSION,
  SHOT_PROMPT_MIN,
  STYLE_PROMPT_MAX,
  type Project,
  type ProjectInput,
} from './schema.js';
import { validateConverted } from './import-checks.js';
import { validationMessage } from './validate.js';
import { isCreativeStudioProject } from './creative-studio-shape.js';

// Lives in a module without zod (a rerun checks the shape before it knows whether to validate); re-exported here.
export { isCreativeStudioProject };

/**
 * Conversion of a StoryCore-Engine Creative Studio project ("Data Contract v1": the object the studio UI holds and
 * exports as `project.json`) into a v1 project. Everything the v1 contract can express is carried over; every
 * loss or change is a warning naming its path in the studio document (`$.shots[3].generation.parameters`).
 */

/** The transition out of a shot, as the animatic's project contract names it. */
export interface ImportedTransition {
  type: 'cut' | 'dissolve' | 'fade-to-black';
  /** Length of a dissolve or fade, s. */
  durationSeconds?: number;
}

/**
 * The Creative Studio project as a TypeScript caller holds it (the studio's own `Project` interface is assignable):
 * only the members the conversion looks at, all loosely typed, since the object is checked at run time.
 */
export interface CreativeStudioProjectInput {
  id?: string | number;
  schema_version?: string;
  schemaVersion?: string;
  project_name?: string;
  name?: string;
  shots?: readonly object[];
  storyboard?: readonly object[];
  metadata?: object;
  capabilities?: object;
  generation_status?: object;
}

export interface ConvertCreativeStudioOptions {
  /** Style prompt to use instead of the one found in the project (needed when it gives none). */
  style?: string;
  /** Names the document in error messages (a file path). @default 'Creative Studio project' */
  source?: string;
}

export interface CreativeStudioConversion {
  project: Project;
  /** One line per loss or change, naming its path in the studio document. */
  warnings: string[];
  /** Transitions out of each shot, by converted shot id (cuts included); the others are in the shots too. */
  transitions: Record<string, ImportedTransition>;
  /** For each converted shot, in order: the studio shot it came from (its id and JSON path). */
  shotSources: StudioShotSource[];
}

export interface StudioShotSource {
  shotId: string;
  /** The studio shot's own id ('' when it had none). */
  sourceId: string;
  /** `shots` or `storyboard`: the array the shot was read from. */
  array: 'shots' | 'storyboard';
  /** Index in that array. */
  index: number;
}

const text = z.string();
const duration = z.number();
const studioShotSchema = z.looseObject({
  id: z.union([text, z.number()]).optional(),
  title: text.optional(),
  name: text.optional(),
  description: text.optional(),
  prompt: text.optional(),
  duration: duration.optional(),
  position: z.number().optional(),
  orderIndex: z.number().optional(),
  number: z.number().optional(),
  type: text.optional(),
  generation: z
    .looseObject({
      prompt: text.optional(),
      negativePrompt: text.optional(),
      seed: z.unknown().optional(),
    })
    .optional(),
  timing: z
    .looseObject({
      duration: duration.optional(),
      transition: z.unknown().optional(),
      transitionDuration: z.number().optional(),
    })
    .optional(),
  transitionOut: z.unknown().optional(),
});
const shotsSchema = z.array(studioShotSchema).min(1, 'the project has no shots');
const studioProjectSchema = z.looseObject({
  id: z.union([text, z.number()]).optional(),
  schema_version: z.union([text, z.number()]).optional(),
  schemaVersion: text.optional(),
  project_name: text.optional(),
  name: text.optional(),
  style: z
    .union([
      text,
      z.looseObject({
        prompt: text.optional(),
        negativePrompt: text.optional(),
        negative_prompt: text.optional(),
      }),
    ])
    .optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

type StudioShot = z.output<typeof studioShotSchema>;
type PlannedShot = StudioShotSource & { shot: StudioShot };

/**
 * Top-level keys the conversion reads or that are the studio's own state (rewritten by write-back, or regenerated
 * by a run); any other non-empty key is reported as not imported.
 */
const HANDLED_KEYS = new Set([
  'id',
  'schema_version',
  'schemaVersion',
  'project_name',
  'name',
  'shots',
  'storyboard',
  'style',
  'metadata',
  'capabilities',
  'generation_status',
  'master_coherence_sheet',
  'path',
  'selectedWorldId',
]);
/** Shot keys the conversion reads, or that describe the UI's own state of the shot. */
const HANDLED_SHOT_KEYS = new Set([
  'id',
  'title',
  'name',
  'description',
  'prompt',
  'duration',
  'position',
  'orderIndex',
  'number',
  'type',
  'generation',
  'timing',
  'transitionOut',
  'image',
  'generated_image_url',
]);
const HANDLED_GENERATION_KEYS = new Set(['prompt', 'negativePrompt', 'seed']);
const HANDLED_TIMING_KEYS = new Set(['duration', 'transition', 'transitionDuration']);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether a value holds anything (an empty array, object or string is no loss when left out). */
const hasContent = (value: unknown): boolean =>
  value !== undefined &&
  value !== null &&
  value !== '' &&
  !(Array.isArray(value) && value.length === 0) &&
  !(isRecord(value) && Object.keys(value).length === 0);

/**
 * The studio shots in sequence order with the ids they get: sorted by `position` (or its aliases `orderIndex`,
 * `number`), ties and unpositioned shots keeping their array order; ids made safe as file names and unique
 * ignoring case. Pure, so write-back finds the same shots a run was given.
 */
export function planStudioShots(
  doc: Record<string, unknown>,
  warnings: string[] = [],
): { ok: true; plan: PlannedShot[] } | { ok: false; issues: ValidationIssue[] } {
  const array: 'shots' | 'storyboard' = Array.isArray(doc['shots']) ? 'shots' : 'storyboard';
  const parsed = shotsSchema.safeParse(doc[array], { error: issueMessages });
  if (!parsed.success) {
    const issues = toValidationIssues(parsed.error.issues, shotsSchema).map((issue) => ({
      path: `$.${array}${issue.path.slice(1)}`,
      message: issue.message,
    }));
    return { ok: false, issues };
  }
  if (parsed.data.length > MAX_SHOTS) {
    const message = `${parsed.data.length} shots; a project may hold at most ${MAX_SHOTS} (split it into several projects)`;
    return { ok: false, issues: [{ path: `$.${array}`, message }] };
  }
  if (array === 'shots' && hasContent(doc['storyboard']) && !sameJson(doc['storyboard'], doc['shots'])) {
    warnings.push(
      '$.storyboard differs from $.shots and was not imported ($.shots is the project’s shot list)',
    );
  }
  const indexed = parsed.data.map((shot, index) => ({
    shot,
    index,
    position: shot.position ?? shot.orderIndex ?? shot.number,
  }));
  const ordered = [...indexed].sort(
    (a, b) => (a.position ?? Infinity) - (b.position ?? Infinity) || a.index - b.index,
  );
  if (ordered.some((s, i) => s.index !== i)) {
    warnings.push(
      `$.${array} reordered by position: ${ordered.map((s) => formatJsonPath([array, s.index])).join(', ')}`,
    );
  }
  const taken = new Set<string>();
  const plan = ordered.map(({ shot, index }, order) => {
    const raw = shot.id === undefined ? '' : String(shot.id);
    const base = sanitiseId(raw) || `shot-${String(order + 1).padStart(2, '0')}`;
    let id = base;
    for (let n = 2; taken.has(id.toLowerCase()); n++) {
      const suffix = `-${n}`;
      id = `${base.slice(0, 64 - suffix.length)}${suffix}`;
    }
    taken.add(id.toLowerCase());
    if (id !== raw) {
      const why =
        raw === ''
          ? 'the shot has no id'
          : base !== raw
            ? 'not safe as a file name'
            : 'already used by an earlier shot';
      warnings.push(`${formatJsonPath([array, index, 'id'])} "${raw}" becomes "${id}" (${why})`);
    }
    return { shot, shotId: id, sourceId: raw, array, index };
  });
  return { ok: true, plan };
}

/**
 * Converts a Creative Studio project (already parsed) into a valid v1 project. Throws ValidationError listing
 * every problem, each with its path in the studio document, when it cannot (no shots, a prompt too short in every
 * source, no style anywhere and none passed).
 */
export function convertCreativeStudioProject(
  doc: unknown,
  options: ConvertCreativeStudioOptions = {},
): CreativeStudioConversion {
  const source = options.source ?? 'Creative Studio project';
  const fail = (issues: ValidationIssue[]): ValidationError =>
    new ValidationError(validationMessage(source, issues), issues, { details: { source } });
  if (!isCreativeStudioProject(doc)) {
    throw fail([
      {
        path: '$',
        message:
          'not a Creative Studio project: expected an object with "shots" (or "storyboard") and "schema_version" or "project_name"',
      },
    ]);
  }
  const top = studioProjectSchema.safeParse(doc, { error: issueMessages });
  if (!top.success) throw fail(toValidationIssues(top.error.issues, studioProjectSchema));
  const studio = top.data;
  const issues: ValidationIssue[] = [];
  const warnings: string[] = [];

  const version = String(studio.schema_version ?? studio.schemaVersion ?? '1.0');
  if (!/^1(\.\d+)*$/.test(version)) {
    issues.push({
      path: studio.schema_version === undefined ? '$.schemaVersion' : '$.schema_version',
      message: `schema version "${version}" is not Data Contract v1 ("1.0"); this importer reads v1 only`,
    });
  }

  const planned = planStudioShots(doc, warnings);
  if (!planned.ok) throw fail([...issues, ...planned.issues]);
  const plan = planned.plan;

  const metadata = studio.metadata ?? {};
  const styleObject = isRecord(studio.style) ? studio.style : undefined;
  const metaStyle = typeof metadata['style'] === 'string' ? metadata['style'] : undefined;
  const style =
    clean(options.style) ||
    clean(typeof studio.style === 'string' ? studio.style : styleObject?.['prompt']) ||
    clean(metaStyle);
  if (style.length < 3) {
    issues.push({
      path: '$.style',
      message:
        'no style found: the project gives no "style" (or "metadata.style"); add one, or pass a style (`storycore import --style "…"`, generateSequence({ style }))',
    });
  }
  const styleNegative = clean(styleObject?.negativePrompt ?? styleObject?.negative_prompt);

  const output = resolution(metadata['resolution']);
  if (typeof output === 'string') issues.push({ path: '$.metadata.resolution', message: output });
  else if (metadata['resolution'] === undefined) {
    warnings.push(
      `$.metadata.resolution is missing; output set to ${DEFAULT_OUTPUT.width}x${DEFAULT_OUTPUT.height}`,
    );
  }
  const globalSeed = metadata['globalSeed'] ?? metadata['global_seed'];
  const seedOk = (value: unknown): value is number =>
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_SEED;
  if (globalSeed !== undefined && !seedOk(globalSeed)) {
    issues.push({
      path: '$.metadata.globalSeed',
      message: `seed must be an integer in 0–${MAX_SEED}, got ${JSON.stringify(globalSeed)}`,
    });
  }

  for (const key of Object.keys(doc)) {
    if (!HANDLED_KEYS.has(key) && hasContent(doc[key])) {
      warnings.push(
        `${formatJsonPath([key])} not imported: the v1 project contract has no ${key} (frames come from the shot prompts and the style)`,
      );
    }
  }

  const transitions: Record<string, ImportedTransition> = {};
  const shots: ProjectInput['shots'] = plan.map(({ shot, shotId, array, index }) => {
    const at = (...path: Array<string | number>): string => formatJsonPath([array, index, ...path]);
    const prompt = shotPrompt(shot, at, issues, warnings);
    const negative = fitPhrase(
      shot.generation?.negativePrompt,
      1000,
      at('generation', 'negativePrompt'),
      warnings,
    );
    const seed = shot.generation?.seed;
    if (seed !== undefined && seed !== null && !seedOk(seed)) {
      issues.push({
        path: at('generation', 'seed'),
        message: `seed must be an integer in 0–${MAX_SEED}, got ${JSON.stringify(seed)}`,
      });
    }
    const seconds = shotDuration(shot, at, warnings);
    const transition = shotTransition(shot, at, warnings);
    if (transition !== undefined) transitions[shotId] = transition.value;
    reportUnread(shot, HANDLED_SHOT_KEYS, at, warnings);
    if (isRecord(shot.generation))
      reportUnread(shot.generation, HANDLED_GENERATION_KEYS, (...p) => at('generation', ...p), warnings);
    if (isRecord(shot.timing))
      reportUnread(shot.timing, HANDLED_TIMING_KEYS, (...p) => at('timing', ...p), warnings);
    return {
      id: shotId,
      prompt,
      ...optionalText('camera', fitPhrase(shot.type, 200, at('type'), warnings)),
      ...optionalText('negativePrompt', negative),
      ...(seconds === undefined ? {} : { durationSeconds: seconds }),
      // A cut is what every shot gets without a transition: nothing is lost by leaving it out of the project.
      ...(transition !== undefined && transition.value.type !== 'cut'
        ? { transition: transition.value }
        : {}),
      ...(seedOk(seed) ? { seed } : {}),
    };
  });
  if (issues.length > 0) throw fail(issues);

  const rawId = studio.id === undefined ? '' : String(studio.id);
  const projectId =
    sanitiseId(rawId) || sanitiseId(clean(studio.project_name ?? studio.name)) || 'imported-project';
  if (projectId !== rawId) {
    warnings.push(
      rawId === ''
        ? `$.id is missing; the project id is "${projectId}"`
        : `$.id "${rawId}" becomes "${projectId}" (ids become file names)`,
    );
  }
  const input: ProjectInput = {
    schemaVersion: SCHEMA_VERSION,
    id: projectId,
    name: fitPhrase(
      clean(studio.project_name) || clean(studio.name) || projectId,
      PROJECT_NAME_MAX,
      studio.project_name === undefined ? '$.name' : '$.project_name',
      warnings,
    ),
    ...(seedOk(globalSeed) ? { globalSeed } : {}),
    style: {
      prompt: fitPhrase(style, STYLE_PROMPT_MAX, '$.style', warnings),
      ...(styleNegative === ''
        ? {}
        : { negativePrompt: fitPhrase(styleNegative, 1000, '$.style.negativePrompt', warnings) }),
    },
    output: typeof output === 'string' ? { ...DEFAULT_OUTPUT } : output,
    shots,
  };
  return {
    project: validateConverted(input, `project converted from ${source}`, { source }),
    warnings,
    transitions,
    shotSources: plan.map(({ shotId, sourceId, array, index }) => ({ shotId, sourceId, array, index })),
  };
}

/** `generation.prompt`, else `prompt`, else title + description: the first that makes a prompt of legal length. */
function shotPrompt(
  shot: StudioShot,
  at: (...path: Array<string | number>) => string,
  issues: ValidationIssue[],
  warnings: string[],
): string {
  const title = clean(shot.title ?? shot.name);
  const description = clean(shot.description);
  const candidates: Array<{ path: string; parts: string[] }> = [
    { path: at('generation', 'prompt'), parts: [clean(shot.generation?.prompt)] },
    { path: at('prompt'), parts: [clean(shot.prompt)] },
    {
      path: description === '' ? at(shot.title === undefined ? 'name' : 'title') : at('description'),
      // A title the description already starts with adds nothing.
      parts: description.toLowerCase().startsWith(title.toLowerCase()) ? [description] : [title, description],
    },
  ];
  for (const [i, candidate] of candidates.entries()) {
    const joined = candidate.parts.filter((p) => p !== '').join(', ');
    if (joined === '') continue;
    if (joined.length < SHOT_PROMPT_MIN) {
      warnings.push(
        `${candidate.path} "${joined}" is shorter than ${SHOT_PROMPT_MIN} characters and was not used as the prompt`,
      );
      continue;
    }
    if (i === 0 && clean(shot.prompt) !== '' && clean(shot.prompt) !== joined) {
      warnings.push(
        `${at('prompt')} differs from ${candidate.path} and was not used (generation.prompt wins)`,
      );
    }
    // Title and description are the board's labels; when a prompt is given they are not sent, which is a loss.
    const titlePath = at(shot.title === undefined ? 'name' : 'title');
    const unsent = [
      { path: titlePath, value: title },
      { path: at('description'), value: description },
    ].filter((f) => i < 2 && f.value !== '' && !joined.toLowerCase().includes(f.value.toLowerCase()));
    if (unsent.length > 0) {
      warnings.push(
        `${unsent.map((f) => f.path).join(' and ')} not sent to the backend: the prompt comes from ${candidate.path}`,
      );
    }
    return fitPrompt(
      candidate.parts.filter((p) => p !== ''),
      [],
      candidate.path,
      warnings,
    );
  }
  issues.push({
    path: at('generation', 'prompt'),
    message: `no prompt of at least ${SHOT_PROMPT_MIN} characters in generation.prompt, prompt, title or description`,
  });
  return '';
}

/** `timing.duration` wins over `duration` (the timeline's value); out-of-range durations are dropped with a warning. */
function shotDuration(
  shot: StudioShot,
  at: (...path: Array<string | number>) => string,
  warnings: string[],
): number | undefined {
  const timed = shot.timing?.duration;
  const path = timed === undefined ? at('duration') : at('timing', 'duration');
  const value = timed ?? shot.duration;
  if (timed !== undefined && shot.duration !== undefined && timed !== shot.duration) {
    warnings.push(`${at('duration')} ${shot.duration} s differs from ${path} ${timed} s; ${path} is used`);
  }
  if (value === undefined) return undefined;
  if (!(value > 0 && value <= 3600)) {
    warnings.push(
      `${path} ${value} s is outside (0, 3600] and was left out (the shot gets the default duration)`,
    );
    return undefined;
  }
  return value;
}

const TRANSITION_NAMES: Record<string, ImportedTransition['type']> = {
  cut: 'cut',
  none: 'cut',
  dissolve: 'dissolve',
  crossfade: 'dissolve',
  'cross-dissolve': 'dissolve',
  fade: 'fade-to-black',
  'fade-to-black': 'fade-to-black',
  fadetoblack: 'fade-to-black',
  fade_to_black: 'fade-to-black',
  'fade-out': 'fade-to-black',
};

/** `timing.transition` (+ `timing.transitionDuration`), else `transitionOut` (a name or `{type, duration}`). */
function shotTransition(
  shot: StudioShot,
  at: (...path: Array<string | number>) => string,
  warnings: string[],
): { value: ImportedTransition; path: string } | undefined {
  let name: unknown;
  let seconds: unknown;
  let path: string;
  if (hasContent(shot.timing?.transition)) {
    name = shot.timing?.transition;
    seconds = shot.timing?.transitionDuration;
    path = at('timing', 'transition');
  } else if (hasContent(shot.transitionOut)) {
    const out = shot.transitionOut;
    name = isRecord(out) ? out['type'] : out;
    seconds = isRecord(out) ? out['duration'] : undefined;
    path = at('transitionOut');
  } else {
    return undefined;
  }
  if (typeof name !== 'string') {
    warnings.push(`${path} ${JSON.stringify(name)} is not a transition name and was not imported`);
    return undefined;
  }
  let type = TRANSITION_NAMES[name.trim().toLowerCase()];
  if (type === undefined) {
    warnings.push(`${path} "${name}" has no StoryCore equivalent and becomes a dissolve`);
    type = 'dissolve';
  }
  if (type === 'cut') return { value: { type }, path };
  if (typeof seconds !== 'number' || !(seconds > 0 && seconds <= 60)) {
    if (seconds !== undefined) {
      warnings.push(`${path} duration ${JSON.stringify(seconds)} is outside (0, 60] s and was left out`);
    }
    return { value: { type }, path };
  }
  return { value: { type, durationSeconds: seconds }, path };
}

/** A warning for each non-empty key of `value` that the conversion does not read. */
function reportUnread(
  value: Record<string, unknown>,
  handled: ReadonlySet<string>,
  at: (...path: Array<string | number>) => string,
  warnings: string[],
): void {
  for (const key of Object.keys(value)) {
    if (!handled.has(key) && hasContent(value[key])) {
      warnings.push(`${at(key)} not imported: the v1 project contract has no equivalent`);
    }
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
