import type { ImageBackend } from '../backends/types.js';
import type { Project } from '../project/schema.js';
import { SHEET_GUTTER, sheetInputHashes, type SheetResult } from '../pipeline/sheet-steps.js';
import { generateStepHash } from '../pipeline/shot-steps.js';
import { hashInput } from '../pipeline/step-runner.js';
import { stepJobId } from './queue/job-ids.js';

/** The queue every worker and coordinator of a studio share, unless told another (`--queue-name`). */
export const DEFAULT_QUEUE_NAME = 'storycore';

/** A job of a distributed run: one part of the run's body (see PipelineScope). */
export type JobData =
  | { runId: string; scope: 'sheet' }
  | { runId: string; scope: 'shot'; shotId: string }
  | { runId: string; scope: 'finish' };

/**
 * Job ids are the queue seam's `stepJobId(project, input hash)` (`<project>.<hash>`: BullMQ ids must not hold ":"),
 * each hash naming its kind of work. The same work always gets the same id, so a second coordinator enqueuing it is
 * deduplicated by the queue, and every write the job makes is keyed by step input hashes or content, so a job run
 * twice leaves one result.
 */
export function sheetJobId(project: Project, backend: ImageBackend, panelSize: number): string {
  const panels = sheetInputHashes(project, backend, panelSize);
  return stepJobId(project.id, hashInput('sheet', { panels, panelSize, gutter: SHEET_GUTTER }));
}

/** A shot job is keyed by its `generate:<id>` step's input hash (which holds the shot id, the sheet and the seed). */
export function shotJobId(
  project: Project,
  backend: ImageBackend,
  sheet: Pick<SheetResult, 'sha256' | 'dna'>,
  index: number,
): string {
  const shot = project.shots[index]!;
  return stepJobId(project.id, generateStepHash(project, backend, sheet, shot, index));
}

/** The finish job (export + animatic) is keyed by its shots' jobs, where it writes and the project's content. */
export function finishJobId(
  project: Project,
  shotJobIds: readonly string[],
  where: { outDir: string; projectHash: string },
): string {
  return stepJobId(project.id, hashInput('finish', { shots: shotJobIds, ...where }));
}
