import { ValidationError } from '../../core/errors.js';

/**
 * A step's job id: the same work always gets the same id, so enqueueing it again (a second orchestrator, a
 * resumed run) finds the existing job instead of adding one — BullMQ ignores an add whose id exists. The design's
 * `<project>:<input hash>` is spelled `<project>.<input hash>`: BullMQ refuses custom ids containing ":" (its
 * keys and flow references are ":"-separated), and a project id never contains "." followed by 64 hex digits.
 */
export function stepJobId(projectId: string, inputHash: string): string {
  if (projectId === '' || /[:\s]/.test(projectId)) {
    const message = `project id ${JSON.stringify(projectId)} cannot name a queue job (empty, ":" or whitespace)`;
    throw new ValidationError(message, [{ path: 'project.id', message }]);
  }
  if (!/^[0-9a-f]{64}$/.test(inputHash)) {
    const message = `step input hash ${JSON.stringify(inputHash)} is not 64 lowercase hex digits`;
    throw new ValidationError(message, [{ path: 'inputHash', message }]);
  }
  return `${projectId}.${inputHash}`;
}

/**
 * A flow parent's children results keyed by child job id. BullMQ's `getChildrenValues()` keys them by a
 * backend-specific reference (`<prefix>:<queue>:<id>` on Redis, `<queue>:<id>` on PostgreSQL); the id is the
 * part after the last ":" on both, since ids never contain one.
 */
export async function childValuesById<R>(job: {
  getChildrenValues(): Promise<Record<string, R>>;
}): Promise<Record<string, R>> {
  const byKey = await job.getChildrenValues();
  const byId: Record<string, R> = {};
  for (const [key, value] of Object.entries(byKey)) byId[key.slice(key.lastIndexOf(':') + 1)] = value;
  return byId;
}
