import { basename, join } from 'node:path';
import { z } from 'zod';
import { throwIfAborted } from '../core/abort.js';
import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { formatJsonPath, issueMessages } from './issues.js';
import { readProjectText } from './load.js';
import {
  allSame,
  clean,
  fitPhrase,
  fitPrompt,
  mostCommon,
  optionalText,
  resolution,
  sanitiseId,
} from './import-text.js';
import {
  DEFAULT_OUTPUT,
  MAX_SEED,
  SCHEMA_VERSION,
  MAX_SHOTS,
  PROJECT_NAME_MAX,
  SHOT_PROMPT_MIN,
  STYLE_PROMPT_MAX,
  type Project,
  type ProjectInput,
} from './schema.js';
import { checkDocument, validateConverted } from './import-checks.js';
import { parseJsonDocument, validationMessage } from './validate.js';

/**
 * Import of a StoryCore-Engine project folder (the Python engine's own layout): `project.json` (snake_case,
 * `config.global_seed`, `config.target_resolution`) and `storyboard.json` (shots with `shot_id`, `description`,
 * `prompt_modules` {subject, camera, lighting, color, style, technical}). Engine files carry much more (asset
 * manifests, statuses); only what the v1 contract can express is read, and every loss or change is a warning.
 */

export interface ImportStoryCoreEngineOptions {
  signal?: AbortSignal;
  /** Style prompt to use instead of the one found in the files (needed when the files give none). */
  style?: string;
}

export interface ImportStoryCoreEngineResult {
  project: Project;
  /** One line per renamed id, dropped field or shortened text, naming where in the source it was. */
  warnings: string[];
}

const PROJECT_FILE = 'project.json';
const STORYBOARD_FILE = 'storyboard.json';

const text = z.string();
const technicalSchema = z.union([
  text,
  z.looseObject({ seed: z.unknown().optional(), negative_prompt: text.optional() }),
]);
const engineShotSchema = z.looseObject({
  shot_id: z.union([text, z.number()]),
  title: text.optional(),
  description: text.optional(),
  duration_seconds: z
    .number()
    .positive('duration must be > 0')
    .max(3600, 'duration must be ≤ 3600 s')
    .optional(),
  duration: z.number().positive('duration must be > 0').max(3600, 'duration must be ≤ 3600 s').optional(),
  prompt_modules: z
    .looseObject({
      subject: text.optional(),
      camera: text.optional(),
      lighting: text.optional(),
      color: text.optional(),
      style: text.optional(),
      technical: technicalSchema.optional(),
    })
    .optional(),
});
const storyboardSchema = z.looseObject({
  project_id: text.optional(),
  shots: z.array(engineShotSchema).min(1, 'the storyboard has no shots'),
});
const seedSchema = z
  .number()
  .int('seed must be an integer')
  .min(0, 'seed must be ≥ 0')
  .max(MAX_SEED, `seed must be ≤ ${MAX_SEED}`);
const engineProjectSchema = z.looseObject({
  project_id: text.optional(),
  id: text.optional(),
  project_name: text.optional(),
  name: text.optional(),
  style: z
    .union([text, z.looseObject({ prompt: text.optional(), negative_prompt: text.optional() })])
    .optional(),
  config: z
    .looseObject({
      global_seed: seedSchema.optional(),
      target_resolution: z.unknown().optional(),
      style: text.optional(),
    })
    .optional(),
});

type EngineShot = z.output<typeof engineShotSchema>;

/** Reads a StoryCore-Engine folder and converts it to a valid v1 project, with warnings for what changed. */
export async function importStoryCoreEngine(
  dir: string,
  options: ImportStoryCoreEngineOptions = {},
): Promise<ImportStoryCoreEngineResult> {
  const signal = options.signal;
  const readOptions = signal === undefined ? {} : { signal };
  const projectRead = await readProjectText(join(dir, PROJECT_FILE), {
    ...readOptions,
    what: 'StoryCore-Engine project file',
  });
  const storyboardRead = await readProjectText(join(dir, STORYBOARD_FILE), {
    ...readOptions,
    what: 'StoryCore-Engine storyboard file',
  });
  throwIfAborted(signal);

  const issues: ValidationIssue[] = [];
  const engineProject = checkDocument(
    engineProjectSchema,
    parseJsonDocument(projectRead.text, projectRead.file),
    PROJECT_FILE,
    issues,
  );
  const storyboard = checkDocument(
    storyboardSchema,
    parseJsonDocument(storyboardRead.text, storyboardRead.file),
    STORYBOARD_FILE,
    issues,
  );
  const at = (file: string, path: Array<string | number>): string => `${file}: ${formatJsonPath(path)}`;
  if (engineProject === undefined || storyboard === undefined) throw importError(dir, issues);
  // Said about the source, before converting anything: the converted project could only fail on it later, with
  // paths into a file the user never wrote.
  if (storyboard.shots.length > MAX_SHOTS) {
    throw importError(dir, [
      {
        path: at(STORYBOARD_FILE, ['shots']),
        message: `${storyboard.shots.length} shots; a project may hold at most ${MAX_SHOTS} (split the storyboard into several projects)`,
      },
    ]);
  }

  const warnings: string[] = [];
  const output = resolution(engineProject.config?.target_resolution);
  if (typeof output === 'string') {
    issues.push({ path: at(PROJECT_FILE, ['config', 'target_resolution']), message: output });
  } else if (engineProject.config?.target_resolution === undefined) {
    warnings.push(
      `${at(PROJECT_FILE, ['config', 'target_resolution'])} is missing; output set to ${DEFAULT_OUTPUT.width}x${DEFAULT_OUTPUT.height}`,
    );
  }

  const shots = storyboard.shots;
  const modules = shots.map((s) => s.prompt_modules);
  const explicitStyle =
    options.style ??
    (typeof engineProject.style === 'string' ? engineProject.style : engineProject.style?.prompt) ??
    engineProject.config?.style;
  const commonStyle = mostCommon(modules.map((m) => m?.style));
  const style = clean(explicitStyle) || commonStyle;
  if (style === '') {
    issues.push({
      path: at(PROJECT_FILE, ['style']),
      message:
        "no style found: neither project.json nor any shot's prompt_modules.style gives one (pass a style to the import)",
    });
  }
  // A colour or negative prompt every shot shares is the project's look, not a shot detail.
  const sharedColor = allSame(modules.map((m) => m?.color));
  const negatives = modules.map((m) =>
    typeof m?.technical === 'object' ? m.technical.negative_prompt : undefined,
  );
  const sharedNegative = allSame(negatives);
  const seeds = pinnedSeeds(shots, issues, warnings, at);
  const ignored = new Set(
    modules
      .flatMap((m) => (typeof m?.technical === 'object' ? Object.keys(m.technical) : []))
      .filter((k) => k !== 'seed' && k !== 'negative_prompt'),
  );
  if (ignored.size > 0) {
    warnings.push(
      `prompt_modules.technical ${[...ignored].sort().join(', ')} not imported: the v1 contract leaves sampler settings and per-shot sizes to the backend and the project output`,
    );
  }
  const ids = uniqueIds(shots, warnings, at);

  const outShots: ProjectInput['shots'] = shots.map((shot, index) => {
    const m = shot.prompt_modules;
    const where = (...path: Array<string | number>): string => at(STORYBOARD_FILE, ['shots', index, ...path]);
    const required = [
      clean(shot.description) || clean(shot.title),
      placeholderless(m?.subject, where('prompt_modules', 'subject'), warnings),
    ];
    const optional = [
      sharedColor === undefined ? clean(m?.color) : '',
      clean(m?.style) !== '' && clean(m?.style) !== style ? clean(m?.style) : '',
      typeof m?.technical === 'string' ? clean(m.technical) : '',
    ];
    const prompt = fitPrompt(required, optional, where('description'), warnings);
    if (prompt.length < SHOT_PROMPT_MIN) {
      issues.push({
        path: where('description'),
        message: `description and prompt_modules.subject give ${prompt.length === 0 ? 'no prompt' : `only "${prompt}"`}; a shot prompt needs at least ${SHOT_PROMPT_MIN} characters`,
      });
    }
    const negative = sharedNegative === undefined ? clean(negatives[index]) : '';
    const duration = shot.duration_seconds ?? shot.duration;
    return {
      id: ids[index] ?? `shot-${index + 1}`,
      prompt,
      ...optionalText('camera', fitPhrase(m?.camera, 200, where('prompt_modules', 'camera'), warnings)),
      ...optionalText('lighting', fitPhrase(m?.lighting, 200, where('prompt_modules', 'lighting'), warnings)),
      ...optionalText(
        'negativePrompt',
        fitPhrase(negative, 1000, where('prompt_modules', 'technical', 'negative_prompt'), warnings),
      ),
      ...(duration === undefined ? {} : { durationSeconds: duration }),
      ...(seeds[index] === undefined ? {} : { seed: seeds[index] }),
    };
  });
  if (issues.length > 0) throw importError(dir, issues);

  const rawId =
    clean(engineProject.project_id) ||
    clean(engineProject.id) ||
    clean(storyboard.project_id) ||
    basename(dir);
  const projectId = sanitiseId(rawId) || 'imported-project';
  if (projectId !== rawId)
    warnings.push(`project id "${rawId}" renamed to "${projectId}" (ids become file names)`);
  if (
    storyboard.project_id !== undefined &&
    engineProject.project_id !== undefined &&
    storyboard.project_id !== engineProject.project_id
  ) {
    warnings.push(
      `${at(STORYBOARD_FILE, ['project_id'])} "${storyboard.project_id}" differs from project.json's "${engineProject.project_id}"; project.json's is used`,
    );
  }
  const styleNegative =
    clean(typeof engineProject.style === 'object' ? engineProject.style.negative_prompt : undefined) ||
    clean(sharedNegative);
  const input: ProjectInput = {
    schemaVersion: SCHEMA_VERSION,
    id: projectId,
    name: fitPhrase(
      clean(engineProject.project_name) || clean(engineProject.name) || rawId,
      PROJECT_NAME_MAX,
      at(PROJECT_FILE, [engineProject.project_name ? 'project_name' : 'name']),
      warnings,
    ),
    ...(engineProject.config?.global_seed === undefined
      ? {}
      : { globalSeed: engineProject.config.global_seed }),
    style: {
      prompt: fitPhrase(
        [style, clean(sharedColor)].filter((s) => s !== '').join(', '),
        STYLE_PROMPT_MAX,
        at(PROJECT_FILE, ['style']),
        warnings,
      ),
      ...(styleNegative === '' ? {} : { negativePrompt: styleNegative }),
    },
    output: typeof output === 'string' ? { ...DEFAULT_OUTPUT } : output,
    shots: outShots,
  };
  return { project: validateConverted(input, `project imported from ${dir}`, { dir }), warnings };
}

function importError(dir: string, issues: ValidationIssue[]): ValidationError {
  return new ValidationError(validationMessage(`StoryCore-Engine project ${dir}`, issues), issues, {
    details: { dir },
  });
}

/** Engine storyboards are created with "Placeholder subject for shot_01"; such text describes nothing. */
function placeholderless(subject: string | undefined, where: string, warnings: string[]): string {
  const s = clean(subject);
  if (/^placeholder\b/i.test(s)) {
    warnings.push(`${where} "${s}" is a placeholder and was left out of the prompt`);
    return '';
  }
  return s;
}

/** Safe ids, unique ignoring case (they are file names); a warning names each one that had to change. */
function uniqueIds(
  shots: readonly EngineShot[],
  warnings: string[],
  at: (file: string, path: Array<string | number>) => string,
): string[] {
  const taken = new Set<string>();
  return shots.map((shot, index) => {
    const raw = String(shot.shot_id);
    const base = sanitiseId(raw) || `shot-${String(index + 1).padStart(2, '0')}`;
    let id = base;
    for (let n = 2; taken.has(id.toLowerCase()); n++) {
      const suffix = `-${n}`;
      id = `${base.slice(0, 64 - suffix.length)}${suffix}`;
    }
    taken.add(id.toLowerCase());
    if (id !== raw) {
      const why = base !== raw ? 'not safe as a file name' : 'already used by an earlier shot';
      warnings.push(
        `${at(STORYBOARD_FILE, ['shots', index, 'shot_id'])} "${raw}" renamed to "${id}" (${why})`,
      );
    }
    return id;
  });
}

/**
 * Per-shot seeds from prompt_modules.technical.seed, kept only when they tell shots apart: Engine templates
 * give every shot the same seed (42), which would start every frame from the same noise. Shared seeds are
 * dropped and those shots get seeds derived from the project seed instead.
 */
function pinnedSeeds(
  shots: readonly EngineShot[],
  issues: ValidationIssue[],
  warnings: string[],
  at: (file: string, path: Array<string | number>) => string,
): Array<number | undefined> {
  const seeds = shots.map((shot, index) => {
    const technical = shot.prompt_modules?.technical;
    if (typeof technical !== 'object' || technical.seed === undefined) return undefined;
    const parsed = seedSchema.safeParse(technical.seed, { error: issueMessages });
    if (parsed.success) return parsed.data;
    issues.push({
      path: at(STORYBOARD_FILE, ['shots', index, 'prompt_modules', 'technical', 'seed']),
      message: parsed.error.issues[0]?.message ?? 'invalid seed',
    });
    return undefined;
  });
  const uses = new Map<number, number>();
  for (const s of seeds) if (s !== undefined) uses.set(s, (uses.get(s) ?? 0) + 1);
  const shared = [...uses].filter(([, count]) => count > 1);
  if (shared.length > 0) {
    const list = shared.map(([seed, count]) => `${seed} (${count} shots)`).join(', ');
    warnings.push(
      `prompt_modules.technical.seed shared by several shots (${list}) was not imported; those shots get seeds derived from the project seed`,
    );
  }
  return seeds.map((s) => (s !== undefined && uses.get(s) === 1 ? s : undefined));
}
