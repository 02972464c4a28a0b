import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { abortWith } from '../core/abort.js';
import { createGenerationError, type GenerationError } from '../core/error-handler.js';
import { ConflictError, NotFoundError, ValidationError, isCancellation } from '../core/errors.js';
import {
  DEFAULT_WORKSPACE,
  FilePartialResultsStorage,
  PartialResultsStore,
  mergePartialResults,
  partialResultsFolder,
  type PartialResults,
} from '../core/partial-results.js';
import { policyFromOptions, type RetryPolicy } from '../core/retry.js';
import { PIPELINE_STAGES, type GenerationStatus, type PipelineStage } from '../core/status-tracker.js';
import { createDraftBackend } from '../backends/draft/index.js';
import type { ImageBackend } from '../backends/types.js';
import { isCreativeStudioProject } from '../project/creative-studio-shape.js';
import type { CreativeStudioProjectInput } from '../project/import-creative-studio.js';
import type { Project, ProjectInput } from '../project/schema.js';
import { cachedValidation, rememberValidation } from '../project/validated-cache.js';
import { assertUsableDir } from '../core/usable-dir.js';
import { asyncRunStore } from '../store/async-run-store.js';
import { openWorkspaceStore, type WorkspaceStore } from '../store/workspace-store.js';
import type { RunRecord, StepRecord } from '../store/run-store.js';
import { findFfmpegCached } from '../stages/animatic/ffmpeg.js';
import { shotFilePath } from '../stages/export/safe-path.js';
import type { QaReport } from '../stages/qa/types.js';
import type { ErrorInfo, PipelineEvent } from './events.js';
import { checkRequestTimeout } from './backend-guard.js';
import { runPipeline, type PipelineOptions, type PipelineResult } from './orchestrator.js';
import { SHEET_STEPS } from './progress.js';

/** Where a workspace remembers which ffmpeg it found (stages/animatic/ffmpeg.ts, `findFfmpegCached`). */
const FFMPEG_LOOKUP_FILE = 'ffmpeg-lookup.json';

/** The note's result shape, with the run id and local paths added. */
export interface GenerationResults {
  success: boolean;
  runId: string;
  masterCoherenceSheetUrl: string;
  generatedShots: Array<{
    shotId: string;
    imageUrl: string;
    qaScore: number;
    processingTime: number;
    seed: number;
    /** The frame's URL under the name the Creative Studio UI stores per shot (the same as `imageUrl`). */
    generated_image_url: string;
    /** The studio shot's own id, when the project was a Creative Studio project whose id had to change. */
    sourceShotId?: string;
  }>;
  /** The sheet as the Creative Studio UI stores it (`url` is `masterCoherenceSheetUrl`; `generated_at` in ms). */
  master_coherence_sheet: { url: string; generated_at: number };
  /** What changed when a Creative Studio project was converted (each names its path); empty otherwise. */
  warnings: string[];
  qaReport: QaReport;
  /** file: URL of the export zip; empty when the run failed before exporting. */
  exportPackageUrl: string;
  /** The export folder, when there is one. */
  exportDir?: string;
  errors: Array<{ shotId: string; stage: PipelineStage; message: string; code: string; rootCause?: string }>;
  executedSteps: number;
  reusedSteps: number;
  durationMs: number;
}

export interface GenerateSequenceOptions {
  onProgress?: (status: GenerationStatus) => void;
  onStageComplete?: (stage: PipelineStage, result: Record<string, unknown>) => void;
  /** Called for every failed attempt, with what happens next (`retryable`: another attempt follows). */
  onError?: (error: GenerationError & { next: 'retry' | 'give-up'; delayMs?: number }) => void;
  /** Every pipeline event, for transports (CLI, SSE). */
  onEvent?: (event: PipelineEvent) => void;
  /**
   * Told each loss or change when `project` is a Creative Studio project and is converted (also in the results'
   * `warnings`). @default the service's onWarning, if any
   */
  onWarning?: (message: string) => void;
  /** Style prompt for a Creative Studio project that gives none (`style` or `metadata.style`). */
  style?: string;
  /** Attempts per step, the first included. @default 3 */
  retryAttempts?: number;
  /** Wait before the first retry, doubled each time up to 30 s. @default 2000 */
  retryDelayMs?: number;
  /** Full retry policy; `retryAttempts`/`retryDelayMs` override its fields. */
  retryPolicy?: Partial<RetryPolicy>;
  signal?: AbortSignal;
  /** @default the service's backend (the draft renderer) */
  backend?: ImageBackend;
  /** @default backend capacity */
  concurrency?: number;
  /** @default false */
  fresh?: boolean;
  /** Hash every file of a reused export against its manifest (presence and sizes are always checked). @default false */
  verify?: boolean;
  /** @default false */
  failFast?: boolean;
  /** Continue this run id (resume). */
  runId?: string;
  /** @default the service's outDir */
  outDir?: string;
  /**
   * Longest wait for one backend request, in ms; a request still pending then fails as a retryable timeout.
   * @default the service's requestTimeoutMs (no limit)
   */
  requestTimeoutMs?: number;
  /** Where the project's relative paths (the animatic's audio) start: the project file's folder. @default cwd */
  projectDir?: string;
  /** Side of each coherence-sheet panel, px; small values keep tests and benchmarks fast. @default 512 */
  panelSize?: number;
  /**
   * What runs the pipeline with the options the service assembled: the distributed runner's coordinator
   * (`runOnQueue`) for a run on a queue. @default runPipeline, in this process
   */
  runner?: (project: Project, options: PipelineOptions) => Promise<PipelineResult>;
}

export interface SequenceGenerationServiceOptions {
  /** Folder holding `storycore.db` and `artifacts/`. @default `.storycore` in the working directory */
  workspace?: string;
  /** Where exports are written. @default `exports` in the working directory */
  outDir?: string;
  /** Backend used when a call names none. @default the embedded draft renderer */
  backend?: ImageBackend;
  /** Told about what deserves a line to the user without being an error. @default process.emitWarning */
  onWarning?: (message: string) => void;
  /** Longest wait for one backend request, in ms (a hung server becomes a retried timeout). @default no limit */
  requestTimeoutMs?: number;
}

const SERVICE_OPTION_KEYS = ['workspace', 'outDir', 'backend', 'requestTimeoutMs', 'onWarning'] as const;
const WHAT_TO_PASS =
  'pass an ImageBackend ({ name, version, capacity, canRegenerate, generate(request, { signal }) }), ' +
  'or options { workspace?, outDir?, backend?, requestTimeoutMs?, onWarning? }, or (backend, options)';

/** Whether `value` has every member of the ImageBackend interface (checked at run time: callers may be plain JS). */
export function isImageBackend(value: unknown): value is ImageBackend {
  if (typeof value !== 'object' || value === null) return false;
  const b = value as Record<string, unknown>;
  return (
    typeof b['generate'] === 'function' &&
    typeof b['name'] === 'string' &&
    typeof b['version'] === 'string' &&
    typeof b['capacity'] === 'number' &&
    typeof b['canRegenerate'] === 'boolean'
  );
}

/** What the constructor was given, as options; anything else is a TypeError that says what to pass. */
function serviceOptions(
  first: ImageBackend | SequenceGenerationServiceOptions | undefined,
  second: SequenceGenerationServiceOptions | undefined,
): SequenceGenerationServiceOptions {
  if (first === undefined) return checkOptions(second ?? {}, 'options');
  if (isImageBackend(first)) {
    const rest = checkOptions(second ?? {}, 'options');
    if (rest.backend !== undefined)
      throw new TypeError(`SequenceGenerationService: a backend was given twice; ${WHAT_TO_PASS}`);
    return { ...rest, backend: first };
  }
  if (second !== undefined)
    throw new TypeError(
      `SequenceGenerationService: the first argument is not an ImageBackend (${missingMembers(first)}); ${WHAT_TO_PASS}`,
    );
  return checkOptions(first, 'the first argument');
}

function checkOptions(options: unknown, what: string): SequenceGenerationServiceOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`SequenceGenerationService: ${what} must be an object; ${WHAT_TO_PASS}`);
  const unknownKeys = Object.keys(options).filter(
    (k) => !(SERVICE_OPTION_KEYS as readonly string[]).includes(k),
  );
  if (unknownKeys.length > 0) {
    // The note's `new SequenceGenerationService(mockBackendApi)` with an object that is not a full backend lands
    // here: ignoring it silently would run the draft renderer instead and every test would "pass".
    const looksLikeBackend = 'generate' in options || 'name' in options;
    throw new TypeError(
      `SequenceGenerationService: ${what} ${
        looksLikeBackend
          ? `looks like a backend but is not an ImageBackend (${missingMembers(options)})`
          : `has unknown option(s) ${unknownKeys.map((k) => `"${k}"`).join(', ')}`
      }; ${WHAT_TO_PASS}`,
    );
  }
  const o = options as SequenceGenerationServiceOptions;
  if (o.backend !== undefined && !isImageBackend(o.backend))
    throw new TypeError(
      `SequenceGenerationService: options.backend is not an ImageBackend (${missingMembers(o.backend)}); ${WHAT_TO_PASS}`,
    );
  if (o.requestTimeoutMs !== undefined) checkRequestTimeout(o.requestTimeoutMs, 'options.requestTimeoutMs');
  return o;
}

function missingMembers(value: unknown): string {
  if (typeof value !== 'object' || value === null) return `got ${value === null ? 'null' : typeof value}`;
  const b = value as Record<string, unknown>;
  const expected: Array<[string, string]> = [
    ['name', 'string'],
    ['version', 'string'],
    ['capacity', 'number'],
    ['canRegenerate', 'boolean'],
    ['generate', 'function'],
  ];
  const wrong = expected.filter(([k, t]) => typeof b[k] !== t).map(([k, t]) => `${k}: ${t}`);
  return `missing or mistyped: ${wrong.join(', ')}`;
}

const STEP_STAGE: Record<string, PipelineStage> = {
  sheet: 'grid',
  generate: 'comfyui',
  promote: 'promotion',
  qa: 'qa',
  export: 'export',
  animatic: 'export',
};

/**
 * The note's service: `generateSequence`, `cancel`, `isGenerating`, `getPartialResults`, backed by the orchestrator
 * and the embedded run store. Partial results are read from the step journal, so they survive crashes and are never
 * overwritten by a failure.
 */
export class SequenceGenerationService {
  private store: WorkspaceStore | undefined;
  private readonly controllers = new Set<AbortController>();
  readonly workspace: string;
  readonly outDir: string;
  /**
   * Partial results saved by hand (`GenerationErrorHandler.savePartialResults`) for this workspace: the handler's
   * default for the same workspace, or pass `{ workspace: service.workspace }`. getPartialResults merges them with
   * the journal's; a run that succeeds clears them.
   */
  readonly partialResults: PartialResultsStore;
  private backend: ImageBackend | undefined;
  private readonly requestTimeoutMs: number | undefined;
  private swept: Promise<void> | undefined;
  private readonly onWarning: ((message: string) => void) | undefined;

  /**
   * `new SequenceGenerationService(backend)` (the design note's form), `new SequenceGenerationService(options)` or
   * `new SequenceGenerationService(backend, options)`. Anything else throws a TypeError saying what to pass.
   */
  constructor(
    backendOrOptions?: ImageBackend | SequenceGenerationServiceOptions,
    options?: SequenceGenerationServiceOptions,
  ) {
    const o = serviceOptions(backendOrOptions, options);
    this.workspace = resolve(o.workspace ?? DEFAULT_WORKSPACE);
    this.partialResults = new PartialResultsStore(
      new FilePartialResultsStorage(partialResultsFolder(this.workspace)),
    );
    this.outDir = resolve(o.outDir ?? 'exports');
    this.backend = o.backend;
    this.requestTimeoutMs = o.requestTimeoutMs;
    this.onWarning = o.onWarning;
  }

  /**
   * Fails fast (ValidationError) when the workspace or the export folder (`null`: not checked) cannot be used (a
   * file, not writable), before any work: `generateSequence` and `resume` call it first.
   */
  async assertUsablePaths(outDir: string | null = this.outDir): Promise<void> {
    await assertUsableDir(this.workspace, 'workspace');
    if (outDir !== null) await assertUsableDir(outDir, 'out');
  }

  /** The workspace store, opened on first use (stale runs of dead processes are marked interrupted then). */
  getStore(): WorkspaceStore {
    if (!this.store) {
      this.store = openWorkspaceStore(this.workspace, this.onWarning ? { onWarning: this.onWarning } : {});
      this.store.runs.markStaleRunsInterrupted();
    }
    return this.store;
  }

  isGenerating(): boolean {
    return this.controllers.size > 0;
  }

  /** Cancels every running generation: backend calls, sleeps and writes stop; the runs stay resumable. */
  cancel(): void {
    for (const controller of this.controllers) abortWith(controller, 'user');
  }

  /**
   * Runs the five stages. Resolves to the results (with `success: false` and per-shot `errors` when some shots
   * failed for good), or `null` when the run was cancelled or failed as a whole (see `getPartialResults`).
   * Invalid projects reject with ValidationError listing every problem. A Creative Studio project (the studio
   * UI's Data Contract v1 object) is converted first, each loss or change told to `onWarning` and listed in the
   * results' `warnings`.
   */
  async generateSequence(
    project: Project | ProjectInput | CreativeStudioProjectInput,
    options: GenerateSequenceOptions = {},
  ): Promise<GenerationResults | null> {
    // The paths first: validation remembers a valid project in the workspace, which must not appear where it
    // cannot be used (a file, an --out that is a file).
    await this.assertUsablePaths(options.outDir ? resolve(options.outDir) : this.outDir);
    const {
      project: validated,
      warnings,
      sourceIds,
    } = await toProject(project, options.style, this.workspace);
    const onWarning = options.onWarning ?? this.onWarning;
    if (onWarning !== undefined) for (const warning of warnings) onWarning(warning);
    const retryPolicy = policyFromOptions(
      {
        ...(options.retryAttempts === undefined ? {} : { retryAttempts: options.retryAttempts }),
        ...(options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs }),
      },
      options.retryPolicy ?? {},
    );
    const store = this.getStore();
    const controller = new AbortController();
    const onAbort = (): void => abortWith(controller, 'user');
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.controllers.add(controller);
    if (options.backend !== undefined && !isImageBackend(options.backend))
      throw new TypeError(
        `generateSequence: options.backend is not an ImageBackend (${missingMembers(options.backend)})`,
      );
    const requestTimeoutMs = checkRequestTimeout(
      options.requestTimeoutMs ?? this.requestTimeoutMs,
      'options.requestTimeoutMs',
    );
    const backend = options.backend ?? (this.backend ??= createDraftBackend());
    let reportedGiveUp = false;
    let runStarted = false;
    try {
      // Once per service: temporaries of artifact writes killed mid-way. Housekeeping only — a failure to sweep
      // must never stop a run.
      this.swept ??= store.artifacts.sweepAbandonedTemps().then(
        () => undefined,
        () => undefined,
      );
      await this.swept;
      const result = await (options.runner ?? runPipeline)(validated, {
        backend,
        store: asyncRunStore(store.runs),
        artifacts: store.artifacts,
        outDir: options.outDir ? resolve(options.outDir) : this.outDir,
        retryPolicy,
        signal: controller.signal,
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.fresh === undefined ? {} : { fresh: options.fresh }),
        ...(options.verify === undefined ? {} : { verify: options.verify }),
        ...(options.failFast === undefined ? {} : { failFast: options.failFast }),
        ...(options.runId === undefined ? {} : { runId: options.runId }),
        ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
        ...(options.projectDir === undefined ? {} : { projectDir: options.projectDir }),
        ...(options.panelSize === undefined ? {} : { panelSize: options.panelSize }),
        // Looked up once per workspace and remembered while the binary stays the same (no spawn on a rerun).
        ffmpeg: await findFfmpegCached(join(this.workspace, FFMPEG_LOOKUP_FILE)),
        onEvent: (event) => {
          if (event.type === 'run-started') runStarted = true;
          if (event.type === 'step-failed' && event.next === 'give-up') reportedGiveUp = true;
          dispatch(event, options, validated.shots.length);
        },
      });
      // The note's "automatic cleanup on success": saved partial results of this project are now stale.
      if (result.status === 'succeeded') this.partialResults.clear(validated.id);
      return this.toResults(result, warnings, sourceIds);
    } catch (error) {
      if (isCancellation(error)) return null;
      // Another live run holds this project: no run was started here, so there is nothing partial to report.
      // No run was started or claimed (another live run holds the project, or the run id is unknown): nothing
      // partial to report, so the caller gets the error itself.
      if (error instanceof ConflictError || error instanceof NotFoundError) throw error;
      // Refused before any work (bad timings, a voice-over that is not audio): the caller gets the named error.
      if (error instanceof ValidationError && !runStarted) throw error;
      // The step that gave up was already reported through onError; report only what no step did.
      if (!reportedGiveUp) {
        options.onError?.({
          ...createGenerationError(error, { stage: 'error', attemptNumber: 1 }),
          next: 'give-up',
        });
      }
      return null;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.controllers.delete(controller);
    }
  }

  /** Resumes a run by id with the project snapshot it started from; nothing finished is redone. */
  async resume(
    runId: string,
    options: Omit<GenerateSequenceOptions, 'runId'> = {},
  ): Promise<GenerationResults | null> {
    await assertUsableDir(this.workspace, 'workspace');
    const run = this.getRun(runId);
    const snapshot =
      (run.options as { project?: unknown; outDir?: string; failFast?: boolean; projectDir?: string }) ?? {};
    return this.generateSequence(snapshot.project as ProjectInput, {
      ...(snapshot.outDir ? { outDir: snapshot.outDir } : {}),
      ...(snapshot.projectDir ? { projectDir: snapshot.projectDir } : {}),
      ...(snapshot.failFast ? { failFast: snapshot.failFast } : {}),
      ...options,
      runId,
    });
  }

  getRun(runId: string): RunRecord {
    const run = this.getStore().runs.getRun(runId);
    if (!run)
      throw new NotFoundError(`no run with id "${runId}" in ${this.workspace}`, { details: { runId } });
    return run;
  }

  /**
   * What the latest unfinished run of a project achieved, from its journal — completed stages, generated shots,
   * the sheet, the last error — merged with what was saved through `GenerationErrorHandler.savePartialResults` in
   * this workspace (nothing is lost from either). `null` when there is neither; `runId` when a run is behind it.
   */
  getPartialResults(projectId: string): (PartialResults & { runId?: string }) | null {
    const journal = this.partialFromJournal(projectId);
    const saved = this.partialResults.load(projectId);
    if (!saved) return journal;
    if (!journal) return saved;
    return { ...mergePartialResults(saved, journal), runId: journal.runId };
  }

  private partialFromJournal(projectId: string): (PartialResults & { runId: string }) | null {
    const store = this.getStore();
    const [run] = store.runs.listRuns({ projectId, limit: 1 });
    if (!run || run.status === 'succeeded') return null;
    const steps = store.runs.listSteps(run.id);
    const finished = (s: StepRecord): boolean => s.status === 'done' || s.status === 'reused';
    const totalShots = ((run.options as { project?: { shots?: unknown[] } }).project?.shots ?? []).length;
    const doneByStage = new Map<PipelineStage, number>();
    let sheetUrl: string | undefined;
    const generatedShots: PartialResults['generatedShots'] = [];
    for (const step of steps.filter(finished)) {
      const [kind, name] = splitStepId(step.stepId);
      const stage = STEP_STAGE[kind];
      if (!stage) continue;
      doneByStage.set(stage, (doneByStage.get(stage) ?? 0) + 1);
      if (step.stepId === 'sheet:compose') sheetUrl = this.artifactUrl(step.artifacts['image']);
      if (kind === 'qa' && name) {
        generatedShots.push({ shotId: name, imageUrl: this.artifactUrl(step.artifacts['image']) });
      }
    }
    const expected: Record<PipelineStage, number> = {
      grid: SHEET_STEPS,
      comfyui: totalShots,
      promotion: totalShots,
      qa: totalShots,
      // The export stage is two steps: the package, then the animatic written into it.
      export: 2,
    };
    const completedStages = PIPELINE_STAGES.filter(
      (s) => totalShots > 0 && (doneByStage.get(s) ?? 0) >= expected[s],
    );
    return {
      runId: run.id,
      projectId,
      completedStages,
      generatedShots,
      ...(sheetUrl ? { masterCoherenceSheetUrl: sheetUrl } : {}),
      ...(run.error
        ? { lastError: { message: run.error.message, code: run.error.code, name: 'StoryCoreError' } }
        : {}),
      savedAt: Date.parse(run.updatedAt),
    };
  }

  /** Closes the workspace store (the CLI and tests call this; a long-lived server keeps it open). */
  close(): void {
    this.store?.close();
    this.store = undefined;
  }

  private artifactUrl(sha: string | undefined): string {
    return sha ? this.getStore().artifacts.urlOf(sha) : '';
  }

  private toResults(
    result: PipelineResult,
    warnings: string[],
    sourceIds: ReadonlyMap<string, string>,
  ): GenerationResults {
    const exportDir = result.export?.dir;
    // The export's own naming (its zero-padding grows with the shot count), never a copy of it.
    const frameUrl = (shotId: string, index: number, sha: string): string =>
      exportDir
        ? pathToFileURL(resolve(exportDir, shotFilePath(index, shotId, result.shots.length))).href
        : this.artifactUrl(sha);
    const sheetUrl = exportDir
      ? pathToFileURL(resolve(exportDir, 'master_coherence_sheet.png')).href
      : this.artifactUrl(result.sheet.sha256);
    return {
      success: result.status === 'succeeded',
      runId: result.runId,
      masterCoherenceSheetUrl: sheetUrl,
      master_coherence_sheet: { url: sheetUrl, generated_at: Date.now() },
      generatedShots: result.shots.map((s) => {
        const imageUrl = frameUrl(s.shotId, s.index, s.frameSha256);
        const sourceShotId = sourceIds.get(s.shotId);
        return {
          shotId: s.shotId,
          imageUrl,
          qaScore: s.qa.score,
          processingTime: s.processingTimeMs,
          seed: s.seed,
          generated_image_url: imageUrl,
          ...(sourceShotId === undefined || sourceShotId === s.shotId ? {} : { sourceShotId }),
        };
      }),
      warnings,
      qaReport: result.qaReport,
      exportPackageUrl: result.export ? pathToFileURL(result.export.zipPath).href : '',
      ...(exportDir ? { exportDir } : {}),
      errors: result.failures.map((f) => ({
        shotId: f.shotId,
        stage: f.stage,
        message: f.error.message,
        code: String(f.error.code),
        ...(f.error.rootCause ? { rootCause: f.error.rootCause } : {}),
      })),
      executedSteps: result.executedSteps.length,
      reusedSteps: result.reusedSteps.length,
      durationMs: result.durationMs,
    };
  }
}

function splitStepId(stepId: string): [string, string | undefined] {
  const i = stepId.indexOf(':');
  return i < 0 ? [stepId, undefined] : [stepId.slice(0, i), stepId.slice(i + 1)];
}

interface ToProject {
  project: Project;
  warnings: string[];
  /** Converted shot id → the studio shot's id (Creative Studio projects only). */
  sourceIds: Map<string, string>;
}

/**
 * The validated project. zod and the converters load on first need: a project this workspace validated before (the
 * CLI's unchanged rerun) comes from its cache of validated projects without them.
 */
async function toProject(project: unknown, style: string | undefined, workspace: string): Promise<ToProject> {
  if (isCreativeStudioProject(project)) {
    const { convertCreativeStudioProject } = await import('../project/import-creative-studio.js');
    const converted = convertCreativeStudioProject(project, style === undefined ? {} : { style });
    return {
      project: converted.project,
      warnings: converted.warnings,
      sourceIds: new Map(converted.shotSources.map((s) => [s.shotId, s.sourceId])),
    };
  }
  const known = await cachedValidation(workspace, project);
  if (known !== undefined) return { project: known, warnings: [], sourceIds: new Map() };
  const { validateProject } = await import('../project/validate.js');
  const result = validateProject(project);
  if (!result.ok) {
    throw new ValidationError(
      `invalid project: ${result.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      result.issues,
    );
  }
  await rememberValidation(workspace, project, result.project);
  return { project: result.project, warnings: [], sourceIds: new Map() };
}

function dispatch(event: PipelineEvent, options: GenerateSequenceOptions, totalShots: number): void {
  options.onEvent?.(event);
  switch (event.type) {
    case 'progress':
      options.onProgress?.({
        stage: event.stage,
        activeStages: event.activeStages,
        progress: event.progress,
        currentShot: event.currentShot,
        totalShots,
        ...(event.message === undefined ? {} : { message: event.message }),
        estimatedCompletion: event.estimatedCompletion,
        elapsedMs: event.elapsedMs,
        etaMs: event.etaMs,
        stageProgress: event.stageProgress,
      });
      break;
    case 'stage-completed':
      options.onStageComplete?.(event.stage, event.result);
      break;
    case 'step-failed':
      options.onError?.(toGenerationError(event));
      break;
    default:
      break;
  }
}

function toGenerationError(
  event: Extract<PipelineEvent, { type: 'step-failed' }>,
): GenerationError & { next: 'retry' | 'give-up'; delayMs?: number } {
  const info: ErrorInfo = event.error;
  return {
    stage: event.stage,
    message:
      info.rootCause && info.rootCause !== info.message
        ? `${info.message} (cause: ${info.rootCause})`
        : info.message,
    code: info.code as GenerationError['code'],
    retryable: event.next === 'retry',
    severity: event.next === 'retry' ? 'medium' : 'high',
    ...(event.shotId === undefined ? {} : { shotId: event.shotId }),
    attemptNumber: event.attempt,
    timestamp: Date.now(),
    details: { stepId: event.stepId, ...(info.details ?? {}) },
    cause: info,
    next: event.next,
    ...(event.delayMs === undefined ? {} : { delayMs: event.delayMs }),
  };
}

/** The note's singleton: workspace `.storycore` and exports in the working directory, draft renderer. */
export const sequenceGenerationService = new SequenceGenerationService();
