import { z } from 'zod';
import {
  SCHEMA_VERSION,
  SHOT_PROMPT_MIN,
  SHOT_PROMPT_MAX,
  MAX_SHOTS,
  PROJECT_NAME_MAX,
  STYLE_PROMPT_MAX,
  idProblem,
  MAX_SEED,
  MAX_SHOT_SECONDS,
  TRANSITION_TYPES,
  DEFAULT_OUTPUT,
  DEFAULT_FPS,
  QA_THRESHOLD_RANGES,
} from './contract.js';
// The contract's constants, where importers of the schema have always found them.
export {
  SCHEMA_VERSION,
  SHOT_ID_PATTERN,
  SHOT_PROMPT_MIN,
  SHOT_PROMPT_MAX,
  MAX_SHOTS,
  PROJECT_NAME_MAX,
  STYLE_PROMPT_MAX,
  idProblem,
  MAX_SEED,
  DEFAULT_SHOT_SECONDS,
  MAX_SHOT_SECONDS,
  TRANSITION_TYPES,
  DEFAULT_TRANSITION_SECONDS,
  DEFAULT_OUTPUT,
  DEFAULT_FPS,
  QA_THRESHOLD_RANGES,
} from './contract.js';
export type { TransitionType } from './contract.js';

/**
 * Project contract v1: what a storyboard looks like on disk (`project.json`).
 * The zod schema is the single source of truth for both validation and the TypeScript types.
 */

const safeId = (what: string) =>
  z.string().superRefine((id, ctx) => {
    const message = idProblem(id, what);
    if (message !== undefined) ctx.addIssue({ code: 'custom', message });
  });

const promptText = (min: number, max: number, what: string) =>
  z
    .string()
    .transform((s) => s.trim())
    .pipe(
      z
        .string()
        .min(min, `${what} must be at least ${min} characters after trimming`)
        .max(max, `${what} must be at most ${max} characters after trimming`),
    );

const phrase = (max: number, what: string) =>
  z
    .string()
    .transform((s) => s.trim())
    .pipe(z.string().max(max, `${what} must be at most ${max} characters`));

const seed = z
  .number()
  .int('seed must be an integer')
  .min(0, 'seed must be ≥ 0')
  .max(MAX_SEED, `seed must be ≤ ${MAX_SEED}`);

/** The transition out of a shot into the next one (the last shot's is ignored). */
export const transitionSchema = z.strictObject({
  type: z.enum(TRANSITION_TYPES, { error: 'transition.type must be "cut", "dissolve" or "fade-to-black"' }),
  /** Length of a dissolve or fade, s; a cut has none. @default 0.5 */
  durationSeconds: z
    .number()
    .positive('transition.durationSeconds must be > 0')
    .max(60, 'transition.durationSeconds must be ≤ 60')
    .optional(),
});

export const shotSchema = z.strictObject({
  id: safeId('shot id'),
  prompt: promptText(SHOT_PROMPT_MIN, SHOT_PROMPT_MAX, 'prompt'),
  negativePrompt: phrase(1000, 'negativePrompt').optional(),
  camera: phrase(200, 'camera').optional(),
  lighting: phrase(200, 'lighting').optional(),
  mood: phrase(200, 'mood').optional(),
  /** How long the shot holds in the animatic. @default 3 (DEFAULT_SHOT_SECONDS) */
  durationSeconds: z
    .number()
    .positive('durationSeconds must be > 0')
    .max(MAX_SHOT_SECONDS, `durationSeconds must be ≤ ${MAX_SHOT_SECONDS} (10 minutes)`)
    .optional(),
  /** How the animatic goes from this shot to the next. @default cut */
  transition: transitionSchema.optional(),
  seed: seed.optional(),
});

/**
 * Shot ids must be unique, and unique ignoring case too: they become file names, and "Shot-1.png" and
 * "shot-1.png" are the same file on macOS and Windows. Runs even when other issues were found (`when`), so a
 * user sees every problem at once; the value may then be partly unparsed, hence the defensive reads.
 */
function checkUniqueIds(shots: unknown, ctx: z.RefinementCtx): void {
  if (!Array.isArray(shots)) return;
  const seen = new Map<string, { id: string; index: number }>();
  shots.forEach((shot: unknown, index) => {
    if (typeof shot !== 'object' || shot === null) return;
    const id = (shot as { id?: unknown }).id;
    if (typeof id !== 'string') return;
    const key = id.toLowerCase();
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, { id, index });
      return;
    }
    ctx.addIssue({
      code: 'custom',
      path: [index, 'id'],
      message:
        first.id === id
          ? `duplicate shot id "${id}" (first used at shots[${first.index}])`
          : `shot id "${id}" differs from "${first.id}" (shots[${first.index}]) only by case; they would be the same file on macOS and Windows`,
    });
  });
}

const dimension = z
  .number()
  .int('must be an integer number of pixels')
  .min(64, 'must be at least 64 px')
  .max(8192, 'must be at most 8192 px');

/** The animatic's options: what the export's video adds to the held stills. */
export const animaticSchema = z.strictObject({
  /** A slow camera move from each shot's `camera` words (dolly-in/push in → zoom in, pan left/right → pan). @default false */
  motion: z.boolean().optional(),
  /** Burn a slate (shot number, id, timecode) into each shot. @default false */
  slate: z.boolean().optional(),
  /** A voice-over or temp track, relative to the project file, muxed as AAC and trimmed or padded to the picture. */
  audio: z.string().trim().min(1, 'animatic.audio must not be empty').max(1024).optional(),
});

const limit = (min: number, max: number) =>
  z.number().min(min, `must be ≥ ${min}`).max(max, `must be ≤ ${max}`).optional();

function checkThresholdRanges(
  thresholds: Partial<Record<(typeof QA_THRESHOLD_RANGES)[number][number], number | undefined>>,
  ctx: z.RefinementCtx,
): void {
  for (const [min, max] of QA_THRESHOLD_RANGES) {
    const lo = thresholds[min];
    const hi = thresholds[max];
    if (lo !== undefined && hi !== undefined && lo > hi) {
      ctx.addIssue({
        code: 'custom',
        path: [min],
        message: `${min} (${lo}) is above ${max} (${hi}): every shot would fail QA`,
      });
    }
  }
}

/**
 * Per-project QA configuration: any threshold left out keeps its documented default (DEFAULT_QA_THRESHOLDS in
 * src/stages/qa/thresholds.ts, where each one's meaning and calibration is written down). A noir film may want a
 * lower `meanLumaMin`; a grainy 16 mm look a higher `noiseSigmaMax`.
 */
export const qaSchema = z.strictObject({
  thresholds: z
    .strictObject({
      sharpnessMin: limit(0, 1e6),
      sharpnessMax: limit(0, 1e7),
      sharpnessScaleExponent: limit(0, 6),
      meanLumaMin: limit(0, 255),
      meanLumaMax: limit(0, 255),
      clippedShadowsMaxPct: limit(0, 100),
      clippedHighlightsMaxPct: limit(0, 100),
      contrastMin: limit(0, 1),
      noiseSigmaMax: limit(0, 255),
      paletteDriftMax: limit(0, 200),
    })
    .superRefine(checkThresholdRanges)
    .optional(),
  /** Regenerations per shot when fixes cannot make it pass (only with backends that can regenerate). @default 2 */
  regenerateBudget: z.number().int('must be an integer').min(0).max(10).optional(),
});

/**
 * Which image backend generates the frames. Paths are relative to the project file; CLI flags win over this.
 * `headers` are deliberately absent: secrets (proxy tokens) do not belong in a project file (use `--header`).
 */
export const backendSchema = z.strictObject({
  type: z.enum(['draft', 'comfyui'], { error: 'backend.type must be "draft" or "comfyui"' }),
  servers: z
    .array(
      z
        .string()
        .max(2048)
        .regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL, e.g. http://127.0.0.1:8188'),
    )
    .min(1, 'list at least one server')
    .max(64)
    .optional(),
  workflow: z.string().trim().min(1, 'must not be empty').max(1024).optional(),
  panelWorkflow: z.string().trim().min(1, 'must not be empty').max(1024).optional(),
  /** Jobs queued on each server behind the running one (pool routing). @default 1 */
  queueDepth: z.number().int('must be an integer').min(0).max(16).optional(),
  /** Seconds a run waits while every server is down before its shots fail. @default 60 */
  outageTimeout: z.number().min(0).max(86_400).optional(),
});

export const projectSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSION, { error: `schemaVersion must be ${SCHEMA_VERSION}` }),
  id: safeId('project id'),
  name: z
    .string()
    .trim()
    .min(1, 'name must not be empty')
    .max(PROJECT_NAME_MAX, `name must be at most ${PROJECT_NAME_MAX} characters`),
  globalSeed: seed.optional(),
  style: z.strictObject({
    prompt: promptText(3, STYLE_PROMPT_MAX, 'style.prompt'),
    negativePrompt: phrase(1000, 'style.negativePrompt').optional(),
  }),
  output: z
    .strictObject({
      width: dimension.default(DEFAULT_OUTPUT.width),
      height: dimension.default(DEFAULT_OUTPUT.height),
      /** Frame rate of the animatic and the timelines (whole frames: EDL timecodes need them). @default 24 */
      fps: z
        .number()
        .int('output.fps must be a whole number of frames per second')
        .min(1, 'output.fps must be ≥ 1')
        .max(120, 'output.fps must be ≤ 120')
        .default(DEFAULT_FPS),
    })
    .default({ ...DEFAULT_OUTPUT, fps: DEFAULT_FPS }),
  coherence: z
    .strictObject({
      panels: z
        .array(promptText(3, 500, 'panel prompt'))
        .length(9, 'coherence.panels must hold exactly nine prompts'),
    })
    .optional(),
  qa: qaSchema.optional(),
  backend: backendSchema.optional(),
  animatic: animaticSchema.optional(),
  shots: z
    .array(shotSchema)
    .min(1, 'a project needs at least one shot')
    .max(MAX_SHOTS, `a project may hold at most ${MAX_SHOTS} shots`)
    .superRefine(checkUniqueIds, { when: () => true }),
});

/** A project as written in a file (optional fields may be missing). */
export type ProjectInput = z.input<typeof projectSchema>;
/** A validated project: defaults applied, prompts trimmed. */
export type Project = z.output<typeof projectSchema>;
export type Shot = z.output<typeof shotSchema>;
export type ShotTransition = z.output<typeof transitionSchema>;
export type AnimaticSettings = z.output<typeof animaticSchema>;
