import { z } from 'zod';

/**
 * Project contract v1: what a storyboard looks like on disk (`project.json`).
 * The zod schema is the single source of truth for both validation and the TypeScript types.
 */

export const SCHEMA_VERSION = 1;

/** Shot ids become file names (`shots/03_<id>.png`) and step ids, so they must be safe as both. */
export const SHOT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const shotId = z
  .string()
  .min(1, 'shot id must not be empty')
  .max(64, 'shot id must be at most 64 characters')
  .refine((s) => !s.includes('..'), 'shot id must not contain ".."')
  .refine((s) => SHOT_ID_PATTERN.test(s), 'shot id may use only letters, digits, ".", "_" and "-" and must start with a letter or digit (it becomes a file name)');

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

/** ComfyUI's KSampler accepts seeds in [0, 2^64-1]; we keep to JavaScript's safe integers. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;
const seed = z.number().int('seed must be an integer').min(0, 'seed must be ≥ 0').max(MAX_SEED, `seed must be ≤ ${MAX_SEED}`);

export const shotSchema = z.strictObject({
  id: shotId,
  prompt: promptText(10, 500, 'prompt'),
  negativePrompt: z.string().max(1000).optional(),
  camera: z.string().max(200).optional(),
  lighting: z.string().max(200).optional(),
  mood: z.string().max(200).optional(),
  durationSeconds: z.number().positive('durationSeconds must be > 0').max(3600).optional(),
  seed: seed.optional(),
});

const dimension = z
  .number()
  .int('must be an integer number of pixels')
  .min(64, 'must be at least 64 px')
  .max(8192, 'must be at most 8192 px');

export const projectSchema = z
  .strictObject({
    schemaVersion: z.literal(SCHEMA_VERSION, { error: `schemaVersion must be ${SCHEMA_VERSION}` }),
    id: shotId,
    name: z.string().trim().min(1, 'name must not be empty').max(200),
    globalSeed: seed.optional(),
    style: z.strictObject({
      prompt: promptText(3, 1000, 'style.prompt'),
      negativePrompt: z.string().max(1000).optional(),
    }),
    output: z
      .strictObject({ width: dimension.default(1920), height: dimension.default(1080) })
      .default({ width: 1920, height: 1080 }),
    coherence: z
      .strictObject({
        panels: z.array(promptText(3, 500, 'panel prompt')).length(9, 'coherence.panels must hold exactly nine prompts'),
      })
      .optional(),
    shots: z.array(shotSchema).min(1, 'a project needs at least one shot').max(2000),
  })
  .superRefine((project, ctx) => {
    const seen = new Map<string, number>();
    project.shots.forEach((shot, index) => {
      const first = seen.get(shot.id);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['shots', index, 'id'],
          message: `duplicate shot id "${shot.id}" (first used at shots[${first}])`,
        });
      } else {
        seen.set(shot.id, index);
      }
    });
  });

/** A project as written in a file (optional fields may be missing). */
export type ProjectInput = z.input<typeof projectSchema>;
/** A validated project: defaults applied, prompts trimmed. */
export type Project = z.output<typeof projectSchema>;
export type Shot = z.output<typeof shotSchema>;
