import type { WorkerOptions, WorkerReport } from './worker.js';

/**
 * The distributed runner's entry points. The coordinator loads no queue driver by itself (its queue handle does,
 * when opened); the worker imports bullmq's classes, so it is loaded on first call: importing the library (or
 * `storycore --version`) never loads bullmq.
 */
export { runOnQueue, LeftRunError, RemoteJobError } from './coordinator.js';
export type { QueuedRunOptions } from './coordinator.js';
export { openQueueHandle } from './queue-handle.js';
export type { QueueHandle } from './queue-handle.js';
export { DEFAULT_QUEUE_NAME } from './job-ids.js';
export type { WorkerOptions, WorkerReport } from './worker.js';

/** `runWorker` of ./worker.js, loaded on first call (it brings bullmq with it). */
export async function runWorker(options: WorkerOptions): Promise<WorkerReport> {
  const { runWorker: run } = await import('./worker.js');
  return run(options);
}
