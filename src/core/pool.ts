import { throwIfAborted } from './abort.js';

/**
 * Runs `worker` over `items` with at most `limit` in flight, in item order of start.
 * On the first rejection, no new item starts (items already running finish or observe the signal) and the
 * first error is rethrown after all running ones settle, so nothing keeps writing after we return.
 * With `settleAll`, every item runs and the per-item outcomes are returned instead.
 */
export async function mapPool<T, R>(
  items: readonly T[],
  limit: number,
  worker: (item: T, index: number) => Promise<R>,
  options: { signal?: AbortSignal; settleAll?: boolean } = {},
): Promise<Array<PromiseSettledResult<R>>> {
  const results: Array<PromiseSettledResult<R>> = new Array(items.length);
  let next = 0;
  let firstError: { error: unknown } | undefined;
  const lanes = Math.max(1, Math.min(limit, items.length));
  const lane = async (): Promise<void> => {
    while (next < items.length && (options.settleAll || !firstError)) {
      if (options.signal?.aborted) return;
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await worker(items[index]!, index) };
      } catch (error) {
        results[index] = { status: 'rejected', reason: error };
        if (!options.settleAll) firstError ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  throwIfAborted(options.signal);
  if (firstError) throw firstError.error;
  return results;
}
