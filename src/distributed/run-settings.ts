import { ValidationError } from '../core/errors.js';
import type { RetryPolicy } from '../core/retry.js';
import type { RunSnapshot } from '../pipeline/orchestrator.js';
import type { QaThresholds } from '../stages/qa/thresholds.js';
import type { RunRecord } from '../store/run-store.js';
import { recordedIdentity, type BackendIdentity } from './backend-identity.js';

/**
 * What a distributed run's workers must know besides the project: recorded in the run (its `options.distributed`)
 * by the coordinator that created it, so every worker builds the same step inputs as any other.
 */
export interface DistributedSettings {
  backend: BackendIdentity;
  queueName: string;
  panelSize: number;
  retryPolicy: RetryPolicy;
  fresh: boolean;
  verify: boolean;
  qaThresholds?: Partial<QaThresholds>;
  regenerateBudget?: number;
  requestTimeoutMs?: number;
}

export type DistributedSnapshot = RunSnapshot & { distributed: DistributedSettings };

/** The run's snapshot, or a ValidationError naming the run when it was not started on a queue. */
export function distributedSnapshot(run: RunRecord): DistributedSnapshot {
  const options = run.options as Partial<DistributedSnapshot> | undefined;
  if (!options?.project || !options.distributed) {
    throw new ValidationError(`run ${run.id} was not started on a queue (storycore generate --queue …)`, [
      { path: 'options.distributed', message: 'missing' },
    ]);
  }
  recordedIdentity(run.id, options.distributed.backend);
  return options as DistributedSnapshot;
}
