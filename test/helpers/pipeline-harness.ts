import { abortWith } from '../../src/core/abort.js';
import { asyncRunStore } from '../../src/store/async-run-store.js';
import type { ImageBackend } from '../../src/backends/types.js';
import { runPipeline, type PipelineOptions, type PipelineResult } from '../../src/pipeline/orchestrator.js';
import type { PipelineEvent } from '../../src/pipeline/events.js';
import type { Project } from '../../src/project/schema.js';
import { FaultInjectingBackend } from './fault-injecting-backend.js';
import { quickRetryPolicy, type TempWorkspace } from './temp-workspace.js';

/** Panels of 64 px: the sheet's maths is the same, the renders are ~60x cheaper than the 512 default. */
export const TEST_PANEL_SIZE = 64;

export interface HarnessOptions extends Partial<Omit<PipelineOptions, 'store' | 'artifacts' | 'onEvent'>> {
  /** Aborts the run (as a user cancel) the moment an event matching this arrives. */
  cancelWhen?: (event: PipelineEvent) => boolean;
  /** Sees each event as it arrives (the record has them all once the run settles). */
  onEvent?: (event: PipelineEvent) => void;
}

export interface HarnessRun {
  result?: PipelineResult;
  error?: unknown;
  events: PipelineEvent[];
  runId?: string;
  /** performance.now() when `cancelWhen` fired, and when the run's promise settled. */
  abortedAt?: number;
  settledAt: number;
}

/** The step-completed event of `stepId`. */
export function stepCompleted(stepId: string): (event: PipelineEvent) => boolean {
  return (event) => event.type === 'step-completed' && event.stepId === stepId;
}

/**
 * Runs the real orchestrator on a temp workspace with small, fast defaults (draft renderer behind a fault
 * injector, 64 px panels, no retry waits), recording every event. Never throws: the error is in the record.
 */
export async function runOn(
  ws: TempWorkspace,
  project: Project,
  options: HarnessOptions = {},
): Promise<HarnessRun> {
  const { cancelWhen, onEvent, ...rest } = options;
  const store = ws.store();
  const events: PipelineEvent[] = [];
  const controller = new AbortController();
  const record: HarnessRun = { events, settledAt: 0 };
  const outer = rest.signal;
  if (outer) outer.addEventListener('abort', () => controller.abort(outer.reason), { once: true });
  const backend: ImageBackend = rest.backend ?? new FaultInjectingBackend();
  try {
    record.result = await runPipeline(project, {
      outDir: ws.outDir,
      retryPolicy: quickRetryPolicy(),
      panelSize: TEST_PANEL_SIZE,
      ...rest,
      backend,
      store: asyncRunStore(store.runs),
      artifacts: store.artifacts,
      signal: controller.signal,
      onEvent: (event) => {
        events.push(event);
        onEvent?.(event);
        if (event.type === 'run-started') record.runId = event.runId;
        if (cancelWhen && record.abortedAt === undefined && cancelWhen(event)) {
          record.abortedAt = performance.now();
          abortWith(controller, 'user');
        }
      },
    });
  } catch (error) {
    record.error = error;
  }
  record.settledAt = performance.now();
  return record;
}

/** Step ids that really executed in `runId` after execution row `afterId` (reuses are not executions). */
export function executedSince(ws: TempWorkspace, runId: string, afterId = 0): string[] {
  return ws
    .store()
    .runs.listExecutions({ runId, limit: 100_000 })
    .filter((e) => e.id > afterId)
    .map((e) => e.stepId);
}

/** The newest execution id in the workspace (0 when none): a bookmark before a resume. */
export function lastExecutionId(ws: TempWorkspace): number {
  const all = ws.store().runs.listExecutions({ limit: 100_000 });
  return all.length === 0 ? 0 : all[all.length - 1]!.id;
}
