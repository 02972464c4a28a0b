import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { OutputInfo } from 'sharp';
import { loadSharp } from '../../image/sharp.js';
import { cancellationFrom, throwIfAborted } from '../../core/abort.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { BackendFailedError } from '../../core/errors.js';
import { createRaster } from '../../image/raster.js';
import type { GenerateOptions, GeneratedImage, GenerationRequest, ImageBackend } from '../types.js';
import { CAPTION_BAND, caption, draftLabel, fontSizeFor } from './caption.js';
import { compose, type Layout } from './composition.js';
import { assignRoles, paletteFromPrompt } from './draft-palette.js';
import { guides } from './guides.js';
import { prngFrom } from './prng.js';
import { parseFraming, type Framing } from './shot-type.js';
import { applyTexture, type TextureOptions } from './texture.js';
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

/** What the draft renderer decided about a frame. */
export interface DraftFacts {
  framing: Framing;
  layout: Layout;
  palette: string[];
  paletteSource: 'request' | 'prompt';
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

function heading(request: GenerationRequest, framing: Framing): string {
  const n = request.shotNumber;
  const num = n === undefined ? '' : ` ${String(n).padStart(2, '0')}`;
  const what = request.purpose === 'sheet-panel' ? `PANEL${n === undefined ? '' : ` ${n}/9`}` : `SHOT${num}`;
  const parts = [what, framing.abbreviation];
  if (framing.angle !== 'eye') parts.push(`${framing.angle} angle`);
  if (framing.roll !== 0) parts.push('dutch');
  if (framing.move !== 'none') parts.push(framing.move);
  if (request.purpose === 'regenerate') parts.push('regen');
  if (request.label && request.purpose !== 'sheet-panel') parts.push(request.label);
  return parts.join(' · ');
}

/** Builds the vector part of a frame: scene, guides, caption, label. Pure: same request → same string. */
export function draftSvg(request: GenerationRequest): { svg: string; metadata: DraftFacts } {
  const { width: w, height: h } = request;
  const framing = parseFraming(request.camera, request.prompt);
  const palette = request.palette ? [...request.palette] : paletteFromPrompt(request.prompt);
  const roles = assignRoles(palette);
  const rng = prngFrom('layout', request.seed, request.prompt, request.camera ?? '', w, h);
  const scene = compose({ width: w, height: h, framing, roles, prompt: request.prompt, rng });
  const captionTop = h - Math.max(fontSizeFor(w, h) * 4.2, h * CAPTION_BAND);
  const overlay = request.purpose === 'sheet-panel' ? '' : guides(w, h, framing, roles, captionTop);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
    `<rect width="${w}" height="${h}" fill="${roles.groundFar}"/>` +
    scene.svg +
    overlay +
    caption({
      width: w,
      height: h,
      roles,
      heading: heading(request, framing),
      prompt: request.caption ?? request.prompt,
      seed: request.seed,
    }) +
    draftLabel(w, h, roles) +
    `</svg>`;
  return {
    svg,
    metadata: {
      framing,
      layout: scene.layout,
      palette: roles.colours,
      paletteSource: request.palette ? 'request' : 'prompt',
    },
  };
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
