import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { abortWith, cancellationFrom, throwIfAborted } from '../core/abort.js';
import { isCancellation } from '../core/errors.js';
import { deriveOperationSeed } from '../core/seeds.js';
import type { RetryPolicy } from '../core/retry.js';
import type { GenerationRequest, ImageBackend } from '../backends/types.js';
import { decodeImage, encodePng, type Raster } from '../image/raster.js';
import type { Project, Shot } from '../project/schema.js';
import { composeNegativePrompt, composeShotPrompt, projectContentHash } from '../project/prompt.js';
import { resolveGlobalSeed, resolveShotSeed } from '../project/seeds.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { RunStore, StoredError } from '../store/run-store.js';
import {
  composeSheet,
  derivePanelPrompts,
  measureSheetDna,
  panelRequest,
  renderSheetPanel,
} from '../stages/coherence/index.js';
import type { VisualDna } from '../stages/coherence/types.js';
import { promoteFrame, type PromotionRecord } from '../stages/promote/index.js';
import {
  autofixFrame,
  buildQaReport,
  DEFAULT_QA_THRESHOLDS,
  shotQaResult,
  type QaReport,
  type QaThresholds,
  type ShotQaResult,
} from '../stages/qa/index.js';
import { exportPackage, type ExportFrame, type PngFile } from '../stages/export/index.js';
import type { ErrorInfo, PipelineEvent, PipelineEventListener, PipelineStage } from './events.js';
import { mapPool } from './pool.js';
import { PipelineProgress } from './progress.js';
import { StepRunner, toErrorInfo } from './step-runner.js';

export interface PipelineOptions {
  backend: ImageBackend;
  store: RunStore;
  artifacts: ArtifactStore;
  /** Where export folders and zips are written. */
  outDir: string;
  retryPolicy: RetryPolicy;
  signal?: AbortSignal;
  /** Shots in flight at once. @default backend.capacity */
  concurrency?: number;
  /** Stop the whole run at the first shot that fails for good. @default false (the others finish) */
  failFast?: boolean;
  /** Ignore memoised results from earlier runs. @default false */
  fresh?: boolean;
  qaThresholds?: Partial<QaThresholds>;
  /** Regenerations per failing shot when fixes are not enough. @default 2 */
  regenerateBudget?: number;
  /** Side of the coherence sheet's panels. @default 512 */
  panelSize?: number;
  /** Continue this run (resume) instead of creating a new one. */
  runId?: string;
  onEvent?: PipelineEventListener;
  now?: () => number;
}

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
}

export interface ShotFailure {
  shotId: string;
  stage: PipelineStage;
  error: ErrorInfo;
}

export interface PipelineResult {
  runId: string;
  status: 'succeeded' | 'failed';
  sheet: { sha256: string; path: string; dna: VisualDna };
  shots: ShotOutcome[];
  qaReport: QaReport;
  export?: { dir: string; zipPath: string };
  failures: ShotFailure[];
  /** Step ids executed in this run, and reused from earlier ones. */
  executedSteps: string[];
  reusedSteps: string[];
  durationMs: number;
}

/** Gutter between the sheet's panels, px. */
const SHEET_GUTTER = 16;

interface SheetOutput {
  dna: VisualDna;
}

interface QaOutput {
  qa: ShotQaResult;
  seed: number;
}

interface ExportOutput {
  dir: string;
  zipPath: string;
}

/** Which resolution to ask the backend for: its own preferred size when it has one, else the output size. */
function generationSize(project: Project, backend: ImageBackend): { width: number; height: number } {
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

/**
 * Runs the five stages for one project as memoised, journaled steps:
 * `sheet:panel-1..9` → `sheet:compose` → per shot `generate:<id>` → `promote:<id>` → `qa:<id>` → `export`.
 * Shots flow through their three steps independently, `concurrency` at a time, so frames are streamed (a shot's
 * pixels live only while it is in flight) and CPU work overlaps backend waits.
 */
export async function runPipeline(project: Project, options: PipelineOptions): Promise<PipelineResult> {
  // libvips' operation cache keeps decoded inputs for reuse; the pipeline never repeats an operation, so the cache
  // only holds memory, and it made peak RSS grow with the number of shots.
  sharp.cache(false);
  const now = options.now ?? Date.now;
  const started = now();
  const { backend, store, artifacts } = options;
  const outer = options.signal ?? new AbortController().signal;
  // fail-fast aborts this inner controller; the caller's signal aborts it too.
  const inner = new AbortController();
  const onOuterAbort = (): void => inner.abort(outer.reason);
  if (outer.aborted) onOuterAbort();
  else outer.addEventListener('abort', onOuterAbort, { once: true });
  const signal = inner.signal;
  let silenced = false;
  let journal: (event: PipelineEvent) => void = () => {};
  const emit = (event: PipelineEvent): void => {
    // After a cancel nothing more reaches the caller: a settled run must not keep reporting.
    if (silenced || (outer.aborted && event.type !== 'run-finished')) return;
    journal(event);
    options.onEvent?.(event);
  };

  const projectHash = projectContentHash(project);
  const run = options.runId
    ? store.setRunStatus(options.runId, 'running')
    : store.createRun({
        projectId: project.id,
        projectName: project.name,
        projectHash,
        backend: backend.name,
        options: { project, outDir: options.outDir, failFast: options.failFast ?? false },
      });
  const runId = run.id;
  let loggedPercent = -1;
  journal = (event) => {
    // The run's event log (what a server replays to a client that reconnects): every event but progress, which
    // is kept at whole percents so a long run does not write thousands of rows.
    if (event.type === 'progress') {
      const percent = Math.floor(event.progress);
      if (percent === loggedPercent) return;
      loggedPercent = percent;
    }
    store.appendEvent(runId, event.type, event);
  };
  const thresholds: QaThresholds = { ...DEFAULT_QA_THRESHOLDS, ...options.qaThresholds };
  const regenerateBudget = options.regenerateBudget ?? 2;
  const panelSize = options.panelSize ?? 512;
  const steps = new StepRunner({
    runId,
    projectId: project.id,
    store,
    artifacts,
    retryPolicy: options.retryPolicy,
    fresh: options.fresh ?? false,
    emit,
    now,
  });
  const progress = new PipelineProgress(project.shots.length, emit, now);
  const stageStart = new Map<PipelineStage, number>();
  const stageDone = new Set<PipelineStage>();
  const startStage = (stage: PipelineStage): void => {
    if (stageStart.has(stage)) return;
    stageStart.set(stage, now());
    emit({ type: 'stage-started', stage });
  };
  const finishStageIfDone = (stage: PipelineStage, result: () => Record<string, unknown>): void => {
    if (stageDone.has(stage) || !progress.isStageDone(stage)) return;
    stageDone.add(stage);
    emit({
      type: 'stage-completed',
      stage,
      durationMs: now() - (stageStart.get(stage) ?? now()),
      result: result(),
    });
  };

  emit({
    type: 'run-started',
    runId,
    projectId: project.id,
    totalShots: project.shots.length,
    resumed: !!options.runId,
  });
  const body = async (): Promise<PipelineResult> => {
    // ── Stage 1: master coherence sheet ───────────────────────────────────────────────────────────
    startStage('grid');
    const globalSeed = resolveGlobalSeed(project);
    const prompts = derivePanelPrompts(project);
    const panelResults = await mapPool(
      prompts.map((prompt, index) => ({ prompt, index })),
      Math.max(1, options.concurrency ?? backend.capacity),
      async ({ index }) => {
        const result = await steps.run<{ seed: number }, Raster>(
          {
            id: `sheet:panel-${index + 1}`,
            stage: 'grid',
            input: {
              request: panelRequest(project, index, panelSize),
              backend: [backend.name, backend.version],
            },
            execute: async (attemptSignal) => {
              const panel = await renderSheetPanel(project, backend, index, {
                signal: attemptSignal,
                panelSize,
                onProgress: (p) => progress.update('grid', `panel-${index}`, Math.min(p.fraction, 0.99)),
              });
              return {
                artifacts: { image: await encodePng(panel.raster) },
                output: { seed: panel.panel.seed },
                keep: panel.raster,
              };
            },
          },
          signal,
        );
        progress.update('grid', `panel-${index}`, 1);
        return result;
      },
      { signal },
    );
    const panelShas = panelResults.map(
      (r) => (r as PromiseFulfilledResult<{ artifacts: Record<string, string> }>).value.artifacts['image']!,
    );
    const sheetStep = await steps.run<SheetOutput, { png: Buffer }>(
      {
        id: 'sheet:compose',
        stage: 'grid',
        input: { panels: panelShas, panelSize, gutter: SHEET_GUTTER },
        execute: async (attemptSignal) => {
          const rasters = await Promise.all(
            panelResults.map(async (r, i) => {
              const v = (r as PromiseFulfilledResult<{ keep?: Raster }>).value;
              return v.keep ?? decodeImage(await artifacts.get(panelShas[i]!, { signal: attemptSignal }));
            }),
          );
          throwIfAborted(attemptSignal);
          const sheet = composeSheet(rasters, panelSize, SHEET_GUTTER);
          const dna = measureSheetDna(rasters);
          const png = await encodePng(sheet);
          return {
            artifacts: { image: png, dna: Buffer.from(JSON.stringify(dna, null, 2)) },
            output: { dna },
            keep: { png },
          };
        },
      },
      signal,
    );
    progress.update('grid', 'compose', 1);
    const sheetSha = sheetStep.artifacts['image']!;
    const dna = sheetStep.output.dna;
    finishStageIfDone('grid', () => ({
      sheet: artifacts.pathOf(sheetSha),
      palette: dna.palette.map((c) => c.hex),
    }));

    // ── Stages 2–4, per shot: generate → promote → QA ─────────────────────────────────────────────
    const size = generationSize(project, backend);
    const palette = dna.palette.map((c) => c.hex);
    const failures: ShotFailure[] = [];
    const outcomes: Array<ShotOutcome | undefined> = new Array(project.shots.length);
    let sheetPng: Buffer | undefined = sheetStep.keep?.png;
    const reference = async (): Promise<{ png: Buffer; sha256: string }> => {
      sheetPng ??= await artifacts.get(sheetSha, { signal });
      return { png: sheetPng, sha256: sheetSha };
    };
    startStage('comfyui');

    const processShot = async (shot: Shot, index: number): Promise<ShotOutcome> => {
      const shotStarted = now();
      const seed = resolveShotSeed(project, shot);
      const baseRequest: Omit<GenerationRequest, 'seed' | 'purpose'> = {
        prompt: composeShotPrompt(project, shot),
        negativePrompt: composeNegativePrompt(project, shot),
        width: size.width,
        height: size.height,
        shotNumber: index + 1,
        label: shot.id,
        caption: shot.prompt,
        palette,
        ...(shot.camera === undefined ? {} : { camera: shot.camera }),
      };
      const requestKey = { ...baseRequest, reference: sheetSha, backend: [backend.name, backend.version] };

      const gen = await steps.run<{ seed: number; metadata: Record<string, unknown> }, Raster>(
        {
          id: `generate:${shot.id}`,
          stage: 'comfyui',
          shotId: shot.id,
          input: { ...requestKey, seed },
          execute: async (attemptSignal) => {
            const image = await backend.generate(
              { ...baseRequest, seed, purpose: 'shot', reference: await reference() },
              {
                signal: attemptSignal,
                onProgress: (p) => progress.update('comfyui', shot.id, Math.min(p.fraction, 0.99), p.message),
              },
            );
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
      finishStageIfDone('comfyui', () => ({ shots: project.shots.length }));
      startStage('promotion');

      const target = { width: project.output.width, height: project.output.height };
      const promoted = await steps.run<{ promotion: PromotionRecord }, Raster>(
        {
          id: `promote:${shot.id}`,
          stage: 'promotion',
          shotId: shot.id,
          input: { source: gen.artifacts['image'], ...target },
          execute: async (attemptSignal) => {
            const source =
              gen.keep ??
              (await decodeImage(await artifacts.get(gen.artifacts['image']!, { signal: attemptSignal })));
            const result = await promoteFrame(source, { ...target, signal: attemptSignal });
            return {
              artifacts: { image: await encodePng(result.raster) },
              output: { promotion: result.record },
              keep: result.raster,
            };
          },
        },
        signal,
      );
      progress.update('promotion', shot.id, 1);
      finishStageIfDone('promotion', () => ({ shots: project.shots.length }));
      startStage('qa');

      const qa = await steps.run<QaOutput, never>(
        {
          id: `qa:${shot.id}`,
          stage: 'qa',
          shotId: shot.id,
          input: {
            source: promoted.artifacts['image'],
            dna: sheetStep.artifacts['dna'],
            thresholds,
            regenerateBudget,
            regenerateWith: backend.canRegenerate ? requestKey : null,
          },
          execute: async (attemptSignal) => {
            const source =
              promoted.keep ??
              (await decodeImage(
                await artifacts.get(promoted.artifacts['image']!, { signal: attemptSignal }),
              ));
            const result = await autofixFrame(source, dna, {
              thresholds,
              signal: attemptSignal,
              regenerateBudget,
              onAttempt: () => progress.update('qa', shot.id, 0.5),
              ...(backend.canRegenerate
                ? {
                    regenerate: async (attempt: number) => {
                      const opSeed = deriveOperationSeed(seed, 'regenerate', attempt);
                      const image = await backend.generate(
                        { ...baseRequest, seed: opSeed, purpose: 'regenerate', reference: await reference() },
                        { signal: attemptSignal },
                      );
                      const p = await promoteFrame(image.raster, { ...target, signal: attemptSignal });
                      return { raster: p.raster, seed: opSeed };
                    },
                  }
                : {}),
            });
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
      finishStageIfDone('qa', () => ({ shots: project.shots.length }));
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
      };
    };

    const shotsDone = mapPool(
      project.shots,
      Math.max(1, options.concurrency ?? backend.capacity),
      async (shot, index) => {
        try {
          outcomes[index] = await processShot(shot, index);
        } catch (error) {
          if (isCancellation(error) || signal.aborted) throw error;
          failures.push({
            shotId: shot.id,
            stage: steps.failedStages.get(shot.id) ?? 'comfyui',
            error: toErrorInfo(error),
          });
          if (options.failFast) abortWith(inner, 'shutdown');
        }
      },
      { signal, settleAll: true },
    );
    try {
      await shotsDone;
    } catch (error) {
      // A fail-fast stop aborts the inner signal on purpose: that is a failed run, not a cancelled one.
      if (outer.aborted || failures.length === 0) throw error;
    }
    if (outer.aborted) throw cancellationFrom(outer);

    const done = outcomes.filter((o): o is ShotOutcome => o !== undefined);
    const qaReport = buildQaReport(
      done.map((o) => o.qa),
      thresholds,
    );
    const base = {
      runId,
      sheet: { sha256: sheetSha, path: artifacts.pathOf(sheetSha), dna },
      shots: done,
      qaReport,
      failures,
    };
    if (failures.length > 0) {
      // An export is a finished sequence: with shots missing there is none. The run stays resumable: a rerun
      // retries the failed shots and reuses everything else.
      const result: PipelineResult = {
        ...base,
        status: 'failed',
        executedSteps: steps.executed,
        reusedSteps: steps.reused,
        durationMs: now() - started,
      };
      return result;
    }

    // ── Stage 5: export ────────────────────────────────────────────────────────────────────────────
    startStage('export');
    const exported = await steps.run<ExportOutput, never>(
      {
        id: 'export',
        stage: 'export',
        input: {
          project: projectHash,
          outDir: options.outDir,
          sheet: sheetSha,
          frames: done.map((o) => [o.shotId, o.frameSha256, o.promotedSha256, o.seed]),
          qa: qaReport,
          backend: [backend.name, backend.version],
        },
        stillValid: async (output) => {
          try {
            await stat(output.zipPath);
            return (await stat(output.dir)).isDirectory();
          } catch {
            return false;
          }
        },
        execute: async (attemptSignal) => {
          // Files, not bytes: the export copies each frame from the store and decodes it once, so memory does
          // not grow with the number of shots.
          const fromStore = (sha: string): PngFile => ({ path: artifacts.pathOf(sha), sha256: sha });
          const frames: ExportFrame[] = done.map((o) => {
            const shot = project.shots[o.index]!;
            return {
              shotId: o.shotId,
              index: o.index,
              png: fromStore(o.frameSha256),
              ...(o.qa.autofixApplied && o.promotedSha256 !== o.frameSha256
                ? { beforePng: fromStore(o.promotedSha256) }
                : {}),
              width: project.output.width,
              height: project.output.height,
              seed: o.seed,
              prompt: composeShotPrompt(project, shot),
              negativePrompt: composeNegativePrompt(project, shot),
              backend: backend.name,
              draft: backend.name === 'draft',
              promotion: {
                original: { width: o.promotion.original.w, height: o.promotion.original.h },
                cropped: { width: o.promotion.cropped.w, height: o.promotion.cropped.h },
                final: { width: o.promotion.final.w, height: o.promotion.final.h },
              },
              timings: { processingMs: o.processingTimeMs },
            };
          });
          const result = await exportPackage(
            {
              project,
              outDir: options.outDir,
              sheet: { png: fromStore(sheetSha), dna },
              frames,
              qaReport,
              backend: { name: backend.name, version: backend.version },
              parameters: {
                output: project.output,
                generation: size,
                panelSize,
                globalSeed,
                qaThresholds: thresholds,
                regenerateBudget,
              },
              timings: { totalMs: now() - started },
              createdAt: new Date(now()),
            },
            {
              signal: attemptSignal,
              onProgress: (d, total) => progress.update('export', 'export', Math.min(0.99, d / total)),
            },
          );
          return { artifacts: {}, output: { dir: result.dir, zipPath: result.zipPath } };
        },
      },
      signal,
    );
    progress.update('export', 'export', 1);
    finishStageIfDone('export', () => ({ dir: exported.output.dir, zip: exported.output.zipPath }));
    progress.complete();
    return {
      ...base,
      status: 'succeeded',
      export: exported.output,
      executedSteps: steps.executed,
      reusedSteps: steps.reused,
      durationMs: now() - started,
    };
  };

  try {
    const result = await body();
    const error = result.failures.length > 0 ? failuresError(result.failures) : undefined;
    store.setRunStatus(runId, result.status, {
      result: summarize(result),
      ...(error ? { error: toStored(error) } : {}),
    });
    emit({
      type: 'run-finished',
      status: result.status,
      durationMs: result.durationMs,
      ...(error ? { error } : {}),
    });
    return result;
  } catch (error) {
    const cancelled = isCancellation(error);
    const info = toErrorInfo(error);
    store.setRunStatus(runId, cancelled ? 'cancelled' : 'failed', { error: toStored(info) });
    emit({
      type: 'run-finished',
      status: cancelled ? 'cancelled' : 'failed',
      durationMs: now() - started,
      error: info,
    });
    throw error;
  } finally {
    silenced = outer.aborted;
    outer.removeEventListener('abort', onOuterAbort);
  }
}

function toStored(info: ErrorInfo): StoredError {
  return { ...info, code: String(info.code) };
}

function failuresError(failures: readonly ShotFailure[]): ErrorInfo {
  const first = failures[0]!;
  return {
    code: first.error.code,
    message: `${failures.length} shot(s) failed: ${failures.map((f) => `${f.shotId} (${f.stage}: ${f.error.rootCause ?? f.error.message})`).join('; ')}`,
    retryable: failures.every((f) => f.error.retryable),
  };
}

/** What the run record keeps of a result: enough for `storycore status` and getPartialResults without the pixels. */
function summarize(result: PipelineResult): Record<string, unknown> {
  return {
    status: result.status,
    sheet: result.sheet.sha256,
    shots: result.shots.map((s) => ({
      shotId: s.shotId,
      frame: s.frameSha256,
      score: s.qa.score,
      seed: s.seed,
    })),
    overallScore: result.qaReport.overallScore,
    export: result.export ?? null,
    failures: result.failures,
    executed: result.executedSteps.length,
    reused: result.reusedSteps.length,
    durationMs: result.durationMs,
  };
}
