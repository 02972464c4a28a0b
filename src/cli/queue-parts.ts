import { ValidationError, errorMessage } from '../core/errors.js';
import type { QueueHandle } from '../distributed/queue-handle.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import { requireQueue, type QueueFlags } from './commands/worker-command.js';

export interface QueueParts {
  queue: QueueHandle;
  store: AsyncRunStore;
  artifacts: ArtifactStore;
  close(): Promise<void>;
}

/** The queue flags a coordinator is given besides the shared parts: the queue's name and the no-worker warning. */
export function queueFlagSettings(opts: QueueFlags): { queueName?: string; idleWarningMs?: number } {
  return {
    ...(opts.queueName ? { queueName: opts.queueName } : {}),
    ...(opts.idleWarning === undefined ? {} : { idleWarningMs: opts.idleWarning * 1000 }),
  };
}

/**
 * The queue, the shared run store and the shared artifacts the flags name, each checked before any work: a bad URL,
 * a server that does not answer (named, without its password) or a missing `--artifacts` fails here.
 */
export async function openQueueParts(
  opts: QueueFlags,
  signal: AbortSignal,
  onError?: (message: string) => void,
): Promise<QueueParts> {
  const location = requireQueue(opts);
  const [{ openQueueHandle }, { openSharedArtifacts, openSharedRunStore }, { patientRunStore }] =
    await Promise.all([
      import('../distributed/queue-handle.js'),
      import('../distributed/locations.js'),
      import('../distributed/patient-store.js'),
    ]);
  const artifacts = await openSharedArtifacts(opts.artifacts);
  const isRedis = /^rediss?:/i.test(location.trim());
  if (opts.store === undefined && isRedis) {
    throw new ValidationError('with a Redis queue, --store <location> names the shared run journal', [
      { path: '--store', message: 'missing' },
    ]);
  }
  // A server restart makes every reconnecting instance report the same error each second: a line is said once,
  // then again only if it still holds 5 s later.
  const saidAt = new Map<string, number>();
  const say =
    onError &&
    ((message: string): void => {
      const at = saidAt.get(message);
      if (at !== undefined && Date.now() - at < 5000) return;
      saidAt.set(message, Date.now());
      onError(message);
    });
  const queue = await openQueueHandle(location, { signal, ...(say ? { onError: say } : {}) });
  try {
    // With a PostgreSQL queue the journal defaults to the same database (its own schema).
    const { store: opened } = await openSharedRunStore(opts.store ?? location, signal);
    // Workers and coordinators ride out a restart of the journal's server (see patientRunStore).
    const store = patientRunStore(opened, {
      onWait: (error) => say?.(`${errorMessage(error)} (waiting up to 60 s for it)`),
    });
    return {
      queue,
      store,
      artifacts,
      close: async () => {
        await queue.close();
        await store.close();
      },
    };
  } catch (error) {
    await queue.close();
    throw error;
  }
}
