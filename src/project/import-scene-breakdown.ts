import { basename, join } from 'node:path';
import { z } from 'zod';
import { throwIfAborted } from '../core/abort.js';
import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { formatJsonPath } from './issues.js';
import { clean, fitPhrase, fitPrompt, optionalText, sanitiseId } from './import-text.js';
import { readProjectText } from './load.js';
import {
  DEFAULT_OUTPUT,
  MAX_SHOTS,
  PROJECT_NAME_MAX,
  SCHEMA_VERSION,
  SHOT_PROMPT_MIN,
  STYLE_PROMPT_MAX,
  type Project,
  type ProjectInput,
} from './schema.js';
import { checkDocument, validateConverted } from './import-checks.js';
import { parseJsonDocument, validationMessage } from './validate.js';

/**
 * Import of a StoryCore-Engine folder holding a scene breakdown (`scene_breakdown.json`: scenes with environment,
 * mood, tension, dialogue and actions) beside a `project.json` that may hold only the project's id and name. Each
 * scene becomes one shot whose prompt says what happens (the actions) and where (the environment); what a still
 * frame cannot show (dialogue, tension) is reported as not imported.
 */

export interface ImportSceneBreakdownOptions {
  signal?: AbortSignal;
  /** Style prompt; needed, since a scene breakdown carries none unless project.json gives one. */
  style?: string;
}

export interface ImportSceneBreakdownResult {
  project: Project;
  warnings: string[];
}

export const SCENE_BREAKDOWN_FILE = 'scene_breakdown.json';
const PROJECT_FILE = 'project.json';

const text = z.string();
const sceneSchema = z.looseObject({
  scene_id: z.union([text, z.number()]),
  environment: z
    .looseObject({ type: text.optional(), time_of_day: text.optional(), weather: text.optional() })
    .optional(),
  mood: text.optional(),
  tension: z.unknown().optional(),
  dialogue: z
    .array(z.looseObject({ character_id: text.optional(), text: text.optional(), emotion: text.optional() }))
    .optional(),
  actions: z.array(z.looseObject({ type: text.optional(), description: text.optional() })).optional(),
});
const breakdownSchema = z.looseObject({
  scenes: z.array(sceneSchema).min(1, 'the scene breakdown has no scenes'),
});
const projectSchema = z.looseObject({
  project_id: text.optional(),
  project_name: text.optional(),
  style: z.union([text, z.looseObject({ prompt: text.optional() })]).optional(),
});

/** Reads a scene-breakdown folder and converts it to a valid v1 project, with warnings for what changed. */
export async function importSceneBreakdown(
  dir: string,
  options: ImportSceneBreakdownOptions = {},
): Promise<ImportSceneBreakdownResult> {
  const readOptions = options.signal === undefined ? {} : { signal: options.signal };
  const projectRead = await readProjectText(join(dir, PROJECT_FILE), {
    ...readOptions,
    what: 'StoryCore-Engine project file',
  });
  const breakdownRead = await readProjectText(join(dir, SCENE_BREAKDOWN_FILE), {
    ...readOptions,
    what: 'StoryCore-Engine scene breakdown',
  });
  throwIfAborted(options.signal);
  const issues: ValidationIssue[] = [];
  const fail = (): ValidationError =>
    new ValidationError(validationMessage(`StoryCore-Engine scene breakdown ${dir}`, issues), issues, {
      details: { dir },
    });
  const engine = checkDocument(
    projectSchema,
    parseJsonDocument(projectRead.text, projectRead.file),
    PROJECT_FILE,
    issues,
  );
  const breakdown = checkDocument(
    breakdownSchema,
    parseJsonDocument(breakdownRead.text, breakdownRead.file),
    SCENE_BREAKDOWN_FILE,
    issues,
  );
  if (engine === undefined || breakdown === undefined) throw fail();
  const at = (...path: Array<string | number>): string => `${SCENE_BREAKDOWN_FILE}: ${formatJsonPath(path)}`;
  if (breakdown.scenes.length > MAX_SHOTS) {
    issues.push({
      path: at('scenes'),
      message: `${breakdown.scenes.length} scenes; a project may hold at most ${MAX_SHOTS} shots`,
    });
    throw fail();
  }

  const warnings: string[] = [];
  const style =
    clean(options.style) || clean(typeof engine.style === 'string' ? engine.style : engine.style?.prompt);
  if (style.length < 3) {
    issues.push({
      path: `${PROJECT_FILE}: $.style`,
      message:
        'no style found: a scene breakdown carries none and project.json gives none (pass one: `storycore import --style "…"`)',
    });
  }
  warnings.push(
    `${SCENE_BREAKDOWN_FILE} gives no resolution; output set to ${DEFAULT_OUTPUT.width}x${DEFAULT_OUTPUT.height}`,
  );

  const taken = new Set<string>();
  const shots: ProjectInput['shots'] = breakdown.scenes.map((scene, index) => {
    const raw = String(scene.scene_id);
    const base = sanitiseId(raw) || `scene-${String(index + 1).padStart(2, '0')}`;
    let id = base;
    for (let n = 2; taken.has(id.toLowerCase()); n++) id = `${base.slice(0, 60)}-${n}`;
    taken.add(id.toLowerCase());
    if (id !== raw) warnings.push(`${at('scenes', index, 'scene_id')} "${raw}" becomes "${id}"`);

    const actions = (scene.actions ?? []).map((a) => clean(a.description)).filter((d) => d !== '');
    const environment = scene.environment;
    const where = [environment?.type, environment?.time_of_day, environment?.weather]
      .map(clean)
      .filter((p) => p !== '');
    const prompt = fitPrompt(actions, where, at('scenes', index, 'actions'), warnings);
    if (prompt.length < SHOT_PROMPT_MIN) {
      issues.push({
        path: at('scenes', index, 'actions'),
        message: `actions and environment give ${prompt === '' ? 'no prompt' : `only "${prompt}"`}; a shot prompt needs at least ${SHOT_PROMPT_MIN} characters`,
      });
    }
    if (scene.tension !== undefined) {
      warnings.push(`${at('scenes', index, 'tension')} not imported: the v1 contract has no tension`);
    }
    if ((scene.dialogue ?? []).length > 0) {
      warnings.push(
        `${at('scenes', index, 'dialogue')} (${scene.dialogue?.length} lines) not imported: a frame carries no speech`,
      );
    }
    return {
      id,
      prompt,
      ...optionalText('mood', fitPhrase(scene.mood, 200, at('scenes', index, 'mood'), warnings)),
    };
  });
  if (issues.length > 0) throw fail();

  const rawId = clean(engine.project_id) || basename(dir);
  const projectId = sanitiseId(rawId) || 'imported-project';
  if (projectId !== rawId)
    warnings.push(`project id "${rawId}" renamed to "${projectId}" (ids become file names)`);
  const input: ProjectInput = {
    schemaVersion: SCHEMA_VERSION,
    id: projectId,
    name: fitPhrase(
      clean(engine.project_name) || rawId,
      PROJECT_NAME_MAX,
      `${PROJECT_FILE}: $.project_name`,
      warnings,
    ),
    style: { prompt: fitPhrase(style, STYLE_PROMPT_MAX, `${PROJECT_FILE}: $.style`, warnings) },
    output: { ...DEFAULT_OUTPUT },
    shots,
  };
  return { project: validateConverted(input, `project imported from ${dir}`, { dir }), warnings };
}
