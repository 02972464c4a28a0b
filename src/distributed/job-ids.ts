import type { ImageBackend } from '../backends/types.js';
import type { Project } from '../project/schema.js';
import { SHEET_GUTTER, sheetInputHashes, type SheetResult } from '../pipeline/sheet-steps.js';
import { generateStepHash } from '../pipeline/shot-steps.js';
import { hashInput } from '../pipeline/step-runner.js';

/** The queue every worker and coordinator of a studio share, unless told another (`--queue-name`). */
export const DEFAULT_QUEUE_NAME = 'storycore';

/** A job of a distributed run: one part of the run's body (see PipelineScope). */
export type JobData =
  | { runId: string; scope: 'sheet' }
  | { runId: string; scope: 'shot'; shotId: string }
  | { runId: string; scope: 'finish' };

/**
 * Job ids are `<project>:<kind>:<input hash>` (BullMQ allows exactly two colons in a custom id; project ids have
 * none). The same work always gets the same id, so a second coordinator enqueuing it is deduplicated by the queue,
 * and every write the job makes is keyed by step input hashes or content, so a job run twice leaves one result.
 */
export function sheetJobId(project: Project, backend: ImageBackend, panelSize: number): string {
  const panels = sheetInputHashes(project, backend, panelSize);
  return `${project.id}:sheet:${hashInput('sheet', { panels, panelSize, gutter: SHEET_GUTTER })}`;
}

/** A shot job is keyed by its `generate:<id>` step's input hash (which holds the shot id, the sheet and the seed). */
export function shotJobId(
  project: Project,
  backend: ImageBackend,
  sheet: Pick<SheetResult, 'sha256' | 'dna'>,
  index: number,
): string {
  const shot = project.shots[index]!;
  return `${project.id}:shot:${generateStepHash(project, backend, sheet, shot, index)}`;
}

/** The finish job (export + animatic) is keyed by its shots' jobs, where it writes and the project's content. */
export function finishJobId(
  project: Project,
  shotJobIds: readonly string[],
  where: { outDir: string; projectHash: string },
): string {
  return `${project.id}:finish:${hashInput('finish', { shots: shotJobIds, ...where })}`;
}
