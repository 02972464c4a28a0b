import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { OutputInfo } from 'sharp';
import { loadSharp } from '../../image/sharp.js';
import { cancellationFrom, throwIfAborted } from '../../core/abort.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { BackendFailedError } from '../../core/errors.js';
import { createRaster } from '../../image/raster.js';
import type { GenerateOptions, GeneratedImage, GenerationRequest, ImageBackend } from '../types.js';
import type { DraftFacts } from './draft-svg.js';
import { prngFrom } from './prng.js';
import type { TextureOptions } from './texture.js';
import { validateGenerationRequest } from '../validate-request.js';

/**
 * Version of the drawing code. Part of every step's input hash: bump it whenever a change alters pixels, so
 * stored drafts from an older renderer are not reused as if they were current.
 */
export const DRAFT_RENDERER_VERSION = '1.0.0';

export interface DraftBackendOptions {
  /** Requests run at once; each render uses a libvips thread and a JS texture pass. @default os.availableParallelism() */
  capacity?: number;
  /** Grain/mottle/vignette strengths. @default see TextureOptions */
  texture?: TextureOptions;
}

/** Returned in metadata so a board (and a test) can say what was drawn. */
export interface DraftMetadata extends DraftFacts {
  backend: 'draft';
  draft: true;
  seed: number;
  rendererVersion: string;
  [key: string]: unknown;
}

/** Rejects as soon as the signal aborts, even while libvips is still busy (its result is then dropped). */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(cancellationFrom(signal));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * The embedded draft renderer: deterministic storyboard frames (composition from the camera text, the palette
 * it is given, shapes from a seeded PRNG, caption, film grain), drawn locally with no network. Every output is
 * labelled DRAFT in the pixels and `draft: true` in the metadata.
 */
export function createDraftBackend(options: DraftBackendOptions = {}): ImageBackend {
  const capacity = options.capacity ?? availableParallelism();
  const texture = options.texture ?? {};
  return {
    name: 'draft',
    // Texture settings change pixels, so they are part of the version that step input hashes include: a workspace
    // never hands back frames rendered with other settings.
    version:
      Object.keys(texture).length === 0
        ? DRAFT_RENDERER_VERSION
        : `${DRAFT_RENDERER_VERSION}+texture.${createHash('sha256').update(canonicalJson(texture)).digest('hex').slice(0, 12)}`,
    capacity,
    canRegenerate: true,
    async generate(request: GenerationRequest, opts: GenerateOptions = {}): Promise<GeneratedImage> {
      const { signal, onProgress } = opts;
      throwIfAborted(signal);
      validateGenerationRequest(request, 'request for the draft renderer');
      const { width, height } = request;
      // The drawing code loads with the first frame: a run that reuses every frame never needs it.
      const [{ draftSvg }, { applyTexture }] = await Promise.all([
        import('./draft-svg.js'),
        import('./texture.js'),
      ]);
      const { svg, metadata } = draftSvg(request);
      onProgress?.({ fraction: 0.2, message: 'composed' });
      throwIfAborted(signal);
      let rendered: { data: Buffer; info: OutputInfo };
      try {
        rendered = await raceAbort(
          loadSharp()(Buffer.from(svg)).raw().toBuffer({ resolveWithObject: true }),
          signal,
        );
      } catch (error) {
        throwIfAborted(signal);
        throw new BackendFailedError(
          `draft renderer could not rasterise the ${width}x${height} frame: ${String(error)}`,
          {
            cause: error,
            retryable: false,
            details: { label: request.label, seed: request.seed },
          },
        );
      }
      throwIfAborted(signal);
      if (rendered.info.width !== width || rendered.info.height !== height) {
        throw new BackendFailedError(
          `draft renderer produced ${rendered.info.width}x${rendered.info.height}, expected ${width}x${height}`,
          { retryable: false },
        );
      }
      onProgress?.({ fraction: 0.6, message: 'rasterised' });
      const grain = prngFrom('grain', request.seed, request.prompt, width, height);
      const data = applyTexture(rendered.data, rendered.info.channels, width, height, grain, texture);
      throwIfAborted(signal);
      onProgress?.({ fraction: 1, message: 'done' });
      const meta: DraftMetadata = {
        backend: 'draft',
        draft: true,
        seed: request.seed,
        rendererVersion: DRAFT_RENDERER_VERSION,
        ...metadata,
      };
      return { raster: createRaster(width, height, data), metadata: meta };
    },
  };
}
