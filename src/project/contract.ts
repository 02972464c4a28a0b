/**
 * The project contract's constants and id rule, without zod: what the pipeline, the export and the animatic read at
 * run time. The schema (schema.ts) is built from them, and loading zod (~0.1 s) is left to the commands that
 * validate a project that has changed.
 */

export const SCHEMA_VERSION = 1;

/** Shot ids become file names (`shots/03_<id>.png`) and step ids, so they must be safe as both. */
export const SHOT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Shot prompt bounds, after trimming; the seed's UI enforces the same range. */
export const SHOT_PROMPT_MIN = 10;
export const SHOT_PROMPT_MAX = 500;
/** Most shots a project may hold. */
export const MAX_SHOTS = 2000;
/** Longest project name, in UTF-16 code units (what `string.length` counts). */
export const PROJECT_NAME_MAX = 200;
/** Longest style prompt. */
export const STYLE_PROMPT_MAX = 1000;

/** Why an id is unsafe as a file name and step id, most specific reason first; undefined when it is fine. */
export function idProblem(id: string, what = 'shot id'): string | undefined {
  if (id.length === 0) return `${what} must not be empty`;
  if (id.length > 64) return `${what} must be at most 64 characters`;
  if (id.includes('..')) return `${what} must not contain ".."`;
  if (/[/\\]/.test(id)) return `${what} must not contain "/" or "\\" (it becomes a file name)`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id)) return `${what} must not contain control characters`;
  if (!SHOT_ID_PATTERN.test(id)) {
    return `${what} may use only letters, digits, ".", "_" and "-" and must start with a letter or digit (it becomes a file name)`;
  }
  return undefined;
}

/** ComfyUI's KSampler accepts seeds in [0, 2^64-1]; we keep to JavaScript's safe integers. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;
/** A shot's animatic hold when it gives none, s. */
export const DEFAULT_SHOT_SECONDS = 3;
/** Longer than this is a typo, not a storyboard shot. */
export const MAX_SHOT_SECONDS = 600;
export const TRANSITION_TYPES = ['cut', 'dissolve', 'fade-to-black'] as const;
export type TransitionType = (typeof TRANSITION_TYPES)[number];
/** A dissolve's or fade's length when the shot gives none, s. */
export const DEFAULT_TRANSITION_SECONDS = 0.5;

export const DEFAULT_OUTPUT = { width: 1920, height: 1080 } as const;
export const DEFAULT_FPS = 24;

/** QA thresholds that bound one measure from both sides: a minimum above its maximum would fail every shot. */
export const QA_THRESHOLD_RANGES = [
  ['sharpnessMin', 'sharpnessMax'],
  ['meanLumaMin', 'meanLumaMax'],
] as const;
