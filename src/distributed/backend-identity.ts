import { InternalError, ValidationError } from '../core/errors.js';
import type { GenerationPurpose, ImageBackend } from '../backends/types.js';

/**
 * Everything about a backend that goes into step input hashes (see backendKey, generationSize, the QA step's
 * `regenerateWith`). A distributed run records its coordinator's; a worker whose backend has another identity would
 * file its results under other hashes than the coordinator waits for, so it refuses the run's jobs (they go to a
 * worker that can) instead.
 */
export interface BackendIdentity {
  name: string;
  version: string;
  /** The backend's fingerprint per purpose (a ComfyUI workflow's hash), null when it has none. */
  fingerprints: Record<GenerationPurpose, string | null>;
  maxGenerationSide: number | null;
  canRegenerate: boolean;
}

const PURPOSES: readonly GenerationPurpose[] = ['sheet-panel', 'shot', 'regenerate'];

export function backendIdentity(backend: ImageBackend): BackendIdentity {
  const fingerprints = Object.fromEntries(
    PURPOSES.map((p) => [p, backend.fingerprint?.(p) ?? null] as const),
  ) as Record<GenerationPurpose, string | null>;
  const max = (backend as { maxGenerationSide?: number }).maxGenerationSide;
  return {
    name: backend.name,
    version: backend.version,
    fingerprints,
    maxGenerationSide: typeof max === 'number' ? max : null,
    canRegenerate: backend.canRegenerate,
  };
}

/** What differs between two identities, in words ("version 0.3.60 here, 0.3.64 in the run"); empty when none. */
export function identityDifferences(mine: BackendIdentity, theirs: BackendIdentity): string[] {
  const out: string[] = [];
  if (mine.name !== theirs.name) out.push(`backend ${mine.name} here, ${theirs.name} in the run`);
  else {
    if (mine.version !== theirs.version)
      out.push(`version ${mine.version} here, ${theirs.version} in the run`);
    for (const p of PURPOSES) {
      if (mine.fingerprints[p] !== theirs.fingerprints[p])
        out.push(
          `another ${p} workflow (${short(mine.fingerprints[p])} here, ${short(theirs.fingerprints[p])} in the run)`,
        );
    }
    if (mine.maxGenerationSide !== theirs.maxGenerationSide)
      out.push(
        `generation size limit ${mine.maxGenerationSide} here, ${theirs.maxGenerationSide} in the run`,
      );
    if (mine.canRegenerate !== theirs.canRegenerate) out.push('regeneration support differs');
  }
  return out;
}

function short(hash: string | null): string {
  return hash === null ? 'none' : hash.slice(0, 12);
}

/**
 * A stand-in with the recorded identity, for computing a run's step hashes where the real backend is not needed
 * (a coordinator that only reads results). It never generates.
 */
export function identityBackend(identity: BackendIdentity): ImageBackend {
  return {
    name: identity.name,
    version: identity.version,
    capacity: 1,
    canRegenerate: identity.canRegenerate,
    ...(identity.maxGenerationSide === null ? {} : { maxGenerationSide: identity.maxGenerationSide }),
    fingerprint: (purpose: GenerationPurpose) => identity.fingerprints[purpose] ?? undefined,
    generate: () =>
      Promise.reject(new InternalError('a backend identity stand-in was asked to generate an image')),
  } as ImageBackend;
}

/** The identity recorded in a run's options, or a ValidationError naming the run (a run made by another version). */
export function recordedIdentity(runId: string, value: unknown): BackendIdentity {
  const v = value as Partial<BackendIdentity> | undefined;
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.name !== 'string' ||
    typeof v.version !== 'string' ||
    typeof v.fingerprints !== 'object'
  ) {
    throw new ValidationError(`run ${runId} was not started for a queue (it records no backend identity)`, [
      { path: 'options.distributed.backend', message: 'missing' },
    ]);
  }
  return v as BackendIdentity;
}
