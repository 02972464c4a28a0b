import { backendKey } from '../backends/backend-key.js';
import { deriveOperationSeed } from '../core/seeds.js';
import type { GenerationRequest, ImageBackend, ReferenceImage } from '../backends/types.js';
import { decodeImage, encodePng, type Raster } from '../image/raster.js';
import { composeNegativePrompt, composeShotPrompt } from '../project/prompt.js';
import type { Project, Shot } from '../project/schema.js';
import { resolveShotSeed } from '../project/seeds.js';
import type { PromotionRecord } from '../stages/promote/index.js';
import { shotQaResult } from '../stages/qa/report.js';
import type { ShotQaResult } from '../stages/qa/types.js';
import { relayPreviews } from './preview-relay.js';
import type { RunContext } from './run-context.js';
import type { SheetResult } from './sheet-steps.js';
import { hashInput } from './step-runner.js';

export interface ShotOutcome {
  shotId: string;
  index: number;
  seed: number;
  /** sha256 of the final frame in the artifact store. */
  frameSha256: string;
  /** sha256 of the promoted frame before QA; differs from frameSha256 when autofix changed the frame. */
  promotedSha256: string;
  qa: ShotQaResult;
  promotion: PromotionRecord;
  processingTimeMs: number;
  reused: boolean;
  /** The server that generated the frame, when the backend has several (ComfyUI): recorded in the manifest. */
  server?: string;
}

/** Which resolution to ask the backend for: its own preferred size when it has one, else the output size. */
export function generationSize(project: Project, backend: ImageBackend): { width: number; height: number } {
  const { width, height } = project.output;
  const max = (backend as { maxGenerationSide?: number }).maxGenerationSide;
  if (!max || Math.max(width, height) <= max) return { width, height };
  const scale = max / Math.max(width, height);
  // Multiples of 8: latent-diffusion models work on 8x-downsampled latents.
  return {
    width: Math.max(8, Math.round((width * scale) / 8) * 8),
    height: Math.max(8, Math.round((height * scale) / 8) * 8),
  };
}

/** The promote stage (its Lanczos and PNG kernels), loaded when a frame is first promoted, not on a rerun. */
const promotion = () => import('../stages/promote/index.js');

/**
 * Stages 2–4 for one shot: `generate:<id>` → `promote:<id>` → `qa:<id>`. A step that executes hands its raster to
 * the next in memory (`keep`); only a step after a reused one decodes from the store, and only if it must run.
 * Returns a function running one shot; the sheet PNG (the reference every request carries) is read once and shared.
 */
export function createShotRunner(
  ctx: RunContext,
  sheet: SheetResult,
): (shot: Shot, index: number) => Promise<ShotOutcome> {
  const { project, backend, artifacts, steps, progress, stages, signal, now, emit } = ctx;
  const target = { width: project.output.width, height: project.output.height };
  let sheetPng = sheet.png;
  const reference = async (): Promise<ReferenceImage> => {
    sheetPng ??= await artifacts.get(sheet.sha256, { signal });
    return { png: sheetPng, sha256: sheet.sha256 };
  };
  const decodeArtifact = async (sha: string, attemptSignal: AbortSignal): Promise<Raster> =>
    decodeImage(await artifacts.get(sha, { signal: attemptSignal }));

  return async (shot, index) => {
    const shotStarted = now();
    const { seed, baseRequest, requestKey } = shotRequest(project, backend, sheet, shot, index);

    const gen = await steps.run<{ seed: number; metadata: Record<string, unknown> }, Raster>(
      {
        id: `generate:${shot.id}`,
        stage: 'comfyui',
        shotId: shot.id,
        input: { ...requestKey, seed },
        execute: async (attemptSignal) => {
          // Live previews (ComfyUI's sampler previews) become the shot's thumbnail while it renders.
          const previews = relayPreviews(shot.id, `generate:${shot.id}`, emit);
          const image = await backend
            .generate(
              { ...baseRequest, seed, purpose: 'shot', reference: await reference() },
              {
                signal: attemptSignal,
                onProgress: (p) => progress.update('comfyui', shot.id, Math.min(p.fraction, 0.99), p.message),
                onPreview: previews.onPreview,
              },
            )
            .finally(previews.close);
          return {
            artifacts: { image: await encodePng(image.raster) },
            output: { seed, metadata: image.metadata },
            keep: image.raster,
          };
        },
      },
      signal,
    );
    progress.update('comfyui', shot.id, 1);
    stages.finishIfDone('comfyui', () => ({ shots: project.shots.length }));
    stages.start('promotion');

    const promoted = await steps.run<{ promotion: PromotionRecord }, Raster>(
      {
        id: `promote:${shot.id}`,
        stage: 'promotion',
        shotId: shot.id,
        // `resize` names the enlargement: frames memoised when libvips enlarged them (bicubic) are promoted again,
        // and nothing else reruns (generate steps are reused).
        input: { source: gen.artifacts['image'], ...target, resize: 'lanczos3-v2' },
        execute: async (attemptSignal) => {
          if (gen.keep === undefined) {
            // The frame comes from the store (its generate step was reused): one streamed resize-and-encode, and
            // QA decodes the result only if it has to run.
            const stored = await artifacts.get(gen.artifacts['image']!, { signal: attemptSignal });
            const { promotePng } = await promotion();
            const result = await promotePng(stored, { ...target, signal: attemptSignal });
            return { artifacts: { image: result.png }, output: { promotion: result.record } };
          }
          const { encodePromoted, promoteFrame } = await promotion();
          const result = await promoteFrame(gen.keep, { ...target, signal: attemptSignal });
          return {
            artifacts: {
              image: await encodePromoted(result.raster, result.record, { signal: attemptSignal }),
            },
            output: { promotion: result.record },
            keep: result.raster,
          };
        },
      },
      signal,
    );
    progress.update('promotion', shot.id, 1);
    stages.finishIfDone('promotion', () => ({ shots: project.shots.length }));
    stages.start('qa');

    const regenerate = async (attempt: number, attemptSignal: AbortSignal) => {
      const opSeed = deriveOperationSeed(seed, 'regenerate', attempt);
      const image = await backend.generate(
        { ...baseRequest, seed: opSeed, purpose: 'regenerate', reference: await reference() },
        { signal: attemptSignal },
      );
      const p = await (await promotion()).promoteFrame(image.raster, { ...target, signal: attemptSignal });
      return { raster: p.raster, seed: opSeed };
    };
    const qa = await steps.run<{ qa: ShotQaResult; seed: number }, never>(
      {
        id: `qa:${shot.id}`,
        stage: 'qa',
        shotId: shot.id,
        input: {
          source: promoted.artifacts['image'],
          dna: sheet.dnaSha256,
          thresholds: ctx.thresholds,
          regenerateBudget: ctx.regenerateBudget,
          regenerateWith: backend.canRegenerate
            ? { ...requestKey, backend: backendKey(backend, 'regenerate') }
            : null,
        },
        execute: async (attemptSignal) => {
          const source = promoted.keep ?? (await decodeArtifact(promoted.artifacts['image']!, attemptSignal));
          // Metrics, fixes and the WebAssembly kernel load when a frame is first checked, not on a rerun.
          const { autofixFrame } = await import('../stages/qa/autofix.js');
          const result = await autofixFrame(source, sheet.dna, {
            thresholds: ctx.thresholds,
            signal: attemptSignal,
            regenerateBudget: ctx.regenerateBudget,
            onAttempt: () => progress.update('qa', shot.id, 0.5),
            ...(backend.canRegenerate
              ? { regenerate: (attempt: number) => regenerate(attempt, attemptSignal) }
              : {}),
          });
          // An untouched frame is the promoted artifact itself: no second copy in the store.
          const finalImage =
            result.raster === source
              ? { sha256: promoted.artifacts['image']! }
              : await encodePng(result.raster);
          return {
            artifacts: { image: finalImage },
            output: { qa: shotQaResult(shot.id, result), seed: result.seed ?? seed },
          };
        },
      },
      signal,
    );
    progress.update('qa', shot.id, 1, `shot ${shot.id} done`);
    stages.finishIfDone('qa', () => ({ shots: project.shots.length }));
    return {
      shotId: shot.id,
      index,
      seed: qa.output.seed,
      frameSha256: qa.artifacts['image']!,
      promotedSha256: promoted.artifacts['image']!,
      qa: qa.output.qa,
      promotion: promoted.output.promotion,
      processingTimeMs: now() - shotStarted,
      reused: gen.reused && promoted.reused && qa.reused,
      ...(typeof gen.output.metadata['server'] === 'string' ? { server: gen.output.metadata['server'] } : {}),
    };
  };
}

/** What one shot asks the backend for, and what its generate step's input hash is made of. */
export function shotRequest(
  project: Project,
  backend: ImageBackend,
  sheet: Pick<SheetResult, 'sha256' | 'dna'>,
  shot: Shot,
  index: number,
): {
  seed: number;
  baseRequest: Omit<GenerationRequest, 'seed' | 'purpose'>;
  requestKey: Record<string, unknown>;
} {
  const size = generationSize(project, backend);
  const seed = resolveShotSeed(project, shot);
  const baseRequest: Omit<GenerationRequest, 'seed' | 'purpose'> = {
    prompt: composeShotPrompt(project, shot),
    negativePrompt: composeNegativePrompt(project, shot),
    width: size.width,
    height: size.height,
    shotNumber: index + 1,
    label: shot.id,
    caption: shot.prompt,
    palette: sheet.dna.palette.map((c) => c.hex),
    ...(shot.camera === undefined ? {} : { camera: shot.camera }),
  };
  // What a request depends on besides its seed: the reference travels by hash, the backend by name + version.
  const requestKey = { ...baseRequest, reference: sheet.sha256, backend: backendKey(backend, 'shot') };
  return { seed, baseRequest, requestKey };
}

/** The input hash of a shot's `generate:<id>` step: what a distributed shot job is keyed by. */
export function generateStepHash(
  project: Project,
  backend: ImageBackend,
  sheet: Pick<SheetResult, 'sha256' | 'dna'>,
  shot: Shot,
  index: number,
): string {
  const { seed, requestKey } = shotRequest(project, backend, sheet, shot, index);
  return hashInput(`generate:${shot.id}`, { ...requestKey, seed });
}
