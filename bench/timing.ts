/** Warm-up runs before timing, on every side of a comparison (ours and the Python one use the same count). */
export const WARMUP = 2;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * WARMUP untimed runs (font cache, libvips start-up, JIT), then `runs` timed ones. `fn` gets the run index
 * (negative for warm-ups), so a benchmark can vary its input per run.
 */
export async function timeRuns(
  runs: number,
  fn: (i: number) => unknown,
): Promise<{ median: number; best: number; times: number[] }> {
  for (let i = 0; i < WARMUP; i++) await fn(-1 - i);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn(i);
    times.push(performance.now() - t0);
  }
  return { median: median(times), best: Math.min(...times), times };
}
