/**
 * What a client must do differently per ComfyUI release. Read from `/system_stats` → `system.comfyui_version`.
 *
 * - Client-chosen `prompt_id`: 0.3.64 uses it; mid-2025 releases (0.3.40) ignore it and assign their own, and the
 *   job's first WebSocket messages can arrive before the HTTP answer. The client therefore always routes by the id the
 *   server returned and buffers messages for ids it has not learned yet — no version switch needed.
 * - Targeted interrupt (`POST /interrupt {prompt_id}`), merged upstream in autumn 2025 (ComfyUI PR 9607) and present
 *   in 0.3.64: older servers interrupt whatever runs. Below 0.3.64 (the oldest release we verified it on) the client
 *   interrupts only after `/queue` shows that the running job is its own.
 * - `progress_state` messages exist only in newer builds; progress also comes from `progress` and `executing`.
 */

export interface ServerFeatures {
  /** "0.3.64", or "unknown" for a server that does not report one (older than every release we know). */
  version: string;
  targetedInterrupt: boolean;
}

/** The oldest release whose behaviour the tests check (through the test double's 0.3.40 mode). */
export const OLDEST_SUPPORTED_VERSION = '0.3.40';

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function featuresOf(version: string | undefined): ServerFeatures {
  const v = typeof version === 'string' && /^\d+\.\d+/.test(version) ? version : 'unknown';
  return { version: v, targetedInterrupt: v !== 'unknown' && compareVersions(v, '0.3.64') >= 0 };
}
