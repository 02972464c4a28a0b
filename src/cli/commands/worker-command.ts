import type { Command } from 'commander';
import { ValidationError } from '../../core/errors.js';
import { addBackendOptions, resolveBackend, type BackendFlags } from '../backend-options.js';
import { intAtLeast, type CliContext, type GlobalOptions } from '../context.js';

export interface QueueFlags {
  queue?: string;
  store?: string;
  artifacts?: string;
  queueName?: string;
  /** Seconds without a worker taking a job of the run before the coordinator warns (not on `worker`). */
  idleWarning?: number;
}

interface WorkerFlags extends GlobalOptions, BackendFlags, QueueFlags {
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
}

/** The options that put a run on a queue; shared by `worker`, `generate`/`resume --queue` and `serve --queue`. */
export function addQueueOptions(cmd: Command, forWorker: boolean): Command {
  cmd
    .option(
      '--queue <url>',
      forWorker
        ? 'the job queue to take work from: postgres://… or redis://host:port'
        : "run on the studio's workers through this job queue (postgres://… or redis://…) instead of here",
    )
    .option(
      '--store <location>',
      "the shared run journal: postgres://… (default: the queue's database) or, on one machine, a folder",
    )
    .option(
      '--artifacts <location>',
      'the shared artifacts: a folder every worker reaches (NFS) or s3://bucket/prefix?endpoint=…',
    )
    .option('--queue-name <name>', 'the BullMQ queue within the server (default storycore)');
  if (!forWorker) {
    cmd.option(
      '--idle-warning <s>',
      'warn when no worker has taken a job of a queued run for this long (default 30)',
      intAtLeast('--idle-warning', 1),
    );
  }
  return cmd;
}

/** Adds `worker`: takes a studio's jobs from the queue and runs them with this machine's backend, until Ctrl-C. */
export function registerWorkerCommand(program: Command, ctx: CliContext): void {
  addQueueOptions(
    addBackendOptions(
      program
        .command('worker')
        .description('work for a studio: run jobs from the queue on this machine (Ctrl-C stops it)'),
    ),
    true,
  )
    .option(
      '-c, --concurrency <n>',
      "jobs at once (default: the backend's capacity)",
      intAtLeast('--concurrency', 1),
    )
    .option(
      '--lock-duration <ms>',
      "job lock lifetime: a dead worker's job is taken over after it (default 30000)",
      intAtLeast('--lock-duration', 1000),
    )
    .option(
      '--stalled-interval <ms>',
      'how often stalled jobs are looked for (default 30000)',
      intAtLeast('--stalled-interval', 1000),
    )
    .action(async (_o: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<WorkerFlags>();
      const controller = new AbortController();
      const { openQueueParts } = await import('../queue-parts.js');
      const parts = await openQueueParts(opts, controller.signal, (line) => ctx.err(line));
      const backend = await resolveBackend(opts, undefined, process.cwd(), controller.signal);
      const { createDraftBackend } = await import('../../backends/draft/index.js');
      const { runWorker } = await import('../../distributed/worker.js');
      let stops = 0;
      const onSignal = (): void => {
        stops++;
        if (stops === 1) {
          ctx.err(
            'stopping: running jobs finish first (Ctrl-C again to quit at once; other workers take them over)',
          );
          controller.abort();
        } else process.exit(130);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const report = await runWorker({
          queue: parts.queue,
          store: parts.store,
          artifacts: parts.artifacts,
          backend: backend ?? createDraftBackend(),
          ...(opts.queueName ? { queueName: opts.queueName } : {}),
          ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
          ...(opts.lockDuration ? { lockDurationMs: opts.lockDuration } : {}),
          ...(opts.stalledInterval ? { stalledIntervalMs: opts.stalledInterval } : {}),
          signal: controller.signal,
          onLog: (line) => ctx.err(line),
        });
        ctx.err(
          `worker stopped: ${report.jobs.done} jobs done, ${report.jobs.failed} failed, ${report.jobs.refused} left to other workers; event-loop delay p99 ${report.eventLoopDelayMs.p99.toFixed(1)} ms, max ${report.eventLoopDelayMs.max.toFixed(1)} ms`,
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await backend?.close?.();
        await parts.close();
      }
    });
}

/** `--store` is needed unless the queue's server also keeps the journal. */
export function requireQueue(opts: QueueFlags): string {
  if (opts.queue === undefined || opts.queue.trim() === '') {
    throw new ValidationError('a worker needs --queue <url> (postgres://… or redis://host:port)', [
      { path: '--queue', message: 'missing' },
    ]);
  }
  return opts.queue;
}
