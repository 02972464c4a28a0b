import { createHash } from 'node:crypto';

/**
 * Seed derivation: globalSeed → shot seed → operation seed.
 * Each step is SHA-256 over a versioned, length-prefixed encoding of its inputs, truncated to 53 bits so the
 * result is a safe JavaScript integer and lies inside ComfyUI's KSampler seed range [0, 2^64-1].
 * The same inputs give the same seed on every machine, process and run (the original used Python's per-process
 * `hash()`, which is salted, so nothing was reproducible).
 */

const DOMAIN = 'storycore/seed/v1';
const MASK_53 = (1n << 53n) - 1n;

function hashToSeed(...parts: Array<string | number>): number {
  const h = createHash('sha256');
  h.update(DOMAIN);
  for (const part of parts) {
    const s = typeof part === 'number' ? `n:${part}` : `s:${part}`;
    // Length prefix: ("ab","c") and ("a","bc") must not collide.
    h.update(`${Buffer.byteLength(s)}:${s};`);
  }
  const digest = h.digest();
  return Number(digest.readBigUInt64BE(0) & MASK_53);
}

/** The project seed when the project gives none: derived from its id. */
export function deriveGlobalSeed(projectId: string): number {
  return hashToSeed('global', projectId);
}

/** A shot's seed: from the global seed and the shot id (not its position, so reordering shots keeps seeds). */
export function deriveShotSeed(globalSeed: number, shotId: string): number {
  return hashToSeed('shot', globalSeed, shotId);
}

/** Seed of one of the nine coherence-sheet panels (index 0–8). */
export function derivePanelSeed(globalSeed: number, panelIndex: number): number {
  return hashToSeed('panel', globalSeed, panelIndex);
}

/**
 * Seed for an operation on a shot: attempt 0 of 'generate' is the shot seed itself, so a project that pins a
 * shot seed gets exactly that seed on the first render; retries and regenerations get fresh, stable seeds.
 */
export function deriveOperationSeed(shotSeed: number, operation: string, attempt: number): number {
  if (operation === 'generate' && attempt === 0) return shotSeed;
  return hashToSeed('op', shotSeed, operation, attempt);
}
