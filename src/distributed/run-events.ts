import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorInfo } from '../pipeline/events.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import type { EventRecord } from '../store/run-store.js';

/**
 * The one event a distributed run's log holds that a single process never writes: a worker finished a job (its
 * part of the body), with the failure when the part failed for good. The coordinator waits on these rather than on
 * the queue, so it follows one source (the run's log) whichever backend the queue has, and a coordinator that
 * attaches later finds every job that already finished.
 */
export interface JobFinishedEvent {
  type: 'job-finished';
  jobId: string;
  scope: 'sheet' | 'shot' | 'finish';
  shotId?: string;
  /** The worker (host:pid) that ran it. */
  worker: string;
  /** When the worker took the job (ISO 8601): with the event's own time, what the queue's overhead is measured from. */
  startedAt: string;
  ok: boolean;
  error?: ErrorInfo;
}

export const JOB_FINISHED = 'job-finished';

/**
 * Reads a run's event log as it grows (polling: the log is a table in a shared store, and every process appends to
 * it), handing each event once, in `seq` order. `stop()` ends it.
 */
export function followRunEvents(
  store: AsyncRunStore,
  runId: string,
  onEvent: (event: EventRecord) => void,
  options: { intervalMs?: number; afterSeq?: number; onError?: (error: unknown) => void } = {},
): { stop: () => Promise<void>; poll: () => Promise<void> } {
  let after = options.afterSeq ?? 0;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const poll = (): Promise<void> => {
    running = running.then(async () => {
      for (;;) {
        const page = await store.listEvents(runId, { afterSeq: after, limit: 500 });
        for (const event of page) {
          after = event.seq;
          onEvent(event);
        }
        if (page.length < 500) return;
      }
    });
    return running;
  };
  const loop = async (): Promise<void> => {
    while (!stopped) {
      try {
        await poll();
      } catch (error) {
        // A store that does not answer (a restart) is waited out: the log keeps what was appended meanwhile.
        options.onError?.(error);
        running = Promise.resolve();
      }
      await sleep(options.intervalMs ?? 250);
    }
  };
  const done = loop();
  return {
    poll,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

/**
 * A coordinator claimed the run again (a resume, a studio adopting it): every `job-finished` before this event is
 * of an earlier attempt — the same job ids come back, and a failed finish job of the last attempt must not end this
 * one. Followers forget what they learned of jobs before it.
 */
export interface RunClaimedEvent {
  type: 'run-claimed';
  /** The coordinator (host:pid) that claimed it. */
  by: string;
}

export const RUN_CLAIMED = 'run-claimed';
