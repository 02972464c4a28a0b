import { ValidationError } from '../core/errors.js';
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

/**
 * The queue, the shared run store and the shared artifacts the flags name, each checked before any work: a bad URL,
 * a server that does not answer (named, without its password) or a missing `--artifacts` fails here.
 */
export async function openQueueParts(opts: QueueFlags, signal: AbortSignal): Promise<QueueParts> {
  const location = requireQueue(opts);
  const [{ openRedisQueue }, { openSharedArtifacts, openSharedRunStore }] = await Promise.all([
    import('../distributed/queue-handle.js'),
    import('../distributed/locations.js'),
  ]);
  const artifacts = await openSharedArtifacts(opts.artifacts);
  const queue = openRedisQueue(location);
  if (opts.store === undefined) {
    throw new ValidationError('with a Redis queue, --store <location> names the shared run journal', [
      { path: '--store', message: 'missing' },
    ]);
  }
  await queue.check();
  const { store } = await openSharedRunStore(opts.store, signal);
  return {
    queue,
    store,
    artifacts,
    close: async () => {
      await queue.close();
      await store.close();
    },
  };
}
