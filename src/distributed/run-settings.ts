import { ValidationError } from '../core/errors.js';
import type { RetryPolicy } from '../core/retry.js';
import type { ImageBackend } from '../backends/types.js';
import type { Project } from '../project/schema.js';
import type { RunSnapshot } from '../pipeline/orchestrator.js';
import type { QaThresholds } from '../stages/qa/thresholds.js';
import type { RunRecord } from '../store/run-store.js';
import { identityBackend, recordedIdentity, type BackendIdentity } from './backend-identity.js';

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

/**
 * What a coordinator needs to drive a recorded run again — `storycore resume --queue`, a studio on a queue
 * resuming a run or adopting one whose coordinator is gone: the project and the places the run was started with,
 * its settings, and a stand-in with the run's backend identity, so the job ids come out as the first coordinator's
 * without building the backend (a coordinator executes nothing; the workers bring their own).
 */
export function queuedResumption(run: RunRecord): {
  project: Project;
  outDir: string;
  projectDir: string;
  failFast: boolean;
  panelSize: number;
  verify: boolean;
  backend: ImageBackend;
} {
  const snapshot = distributedSnapshot(run);
  return {
    project: snapshot.project,
    outDir: snapshot.outDir,
    projectDir: snapshot.projectDir,
    failFast: snapshot.failFast,
    panelSize: snapshot.distributed.panelSize,
    verify: snapshot.distributed.verify,
    backend: identityBackend(snapshot.distributed.backend),
  };
}

/** Whether the run was started on a queue (its options record the distributed settings). */
export function isQueuedRun(run: RunRecord): boolean {
  return (run.options as { distributed?: unknown } | undefined)?.distributed !== undefined;
}
