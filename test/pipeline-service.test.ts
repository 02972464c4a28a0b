import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, ValidationError } from '../src/core/errors.js';
import type { GenerationStatus, PipelineStage } from '../src/core/status-tracker.js';
import { GenerationErrorHandler, type GenerationError } from '../src/core/error-handler.js';
import { SequenceGenerationService } from '../src/pipeline/sequence-generation-service.js';
import type { ProjectInput } from '../src/project/schema.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';
import { makeProjectInput, shotId } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

/** 9 sheet panels + compose, 3 steps per shot, 1 export. */
/** Sheet (10), three per shot, the export and its animatic. */
const stepCount = (shots: number): number => 10 + 3 * shots + 2;

let ws: TempWorkspace | undefined;
let service: SequenceGenerationService | undefined;
afterEach(async () => {
  service?.close();
  service = undefined;
  await ws?.dispose();
  ws = undefined;
});

async function setUp(
  backend = new FaultInjectingBackend(),
): Promise<{ service: SequenceGenerationService; backend: FaultInjectingBackend }> {
  ws = await createTempWorkspace('storycore-service-');
  service = new SequenceGenerationService({ workspace: ws.workspace, outDir: ws.outDir, backend });
  return { service, backend };
}

const fileOf = (url: string): string => fileURLToPath(url);

describe('Pipeline Integration (the note’s tests, on the real engine)', () => {
  it('should complete full pipeline end-to-end', async () => {
    const { service } = await setUp();
    const project = makeProjectInput({ id: 'end-to-end', shots: 4 });
    const progress: GenerationStatus[] = [];
    const stages: PipelineStage[] = [];
    let generatingDuringRun = false;
    const results = await service.generateSequence(project, {
      onProgress: (status) => {
        progress.push(status);
        generatingDuringRun ||= service.isGenerating();
      },
      onStageComplete: (stage) => stages.push(stage),
    });

    expect(results?.success).toBe(true);
    expect(results?.masterCoherenceSheetUrl).toBeTruthy();
    expect(results?.generatedShots.length).toBe(project.shots.length);
    expect(results?.qaReport.overallScore).toBeGreaterThan(0);
    expect(results?.exportPackageUrl).toBeTruthy();
    // Beyond the note: the URLs point at real files, and the bookkeeping is right.
    expect(existsSync(fileOf(results!.masterCoherenceSheetUrl))).toBe(true);
    expect(existsSync(fileOf(results!.exportPackageUrl))).toBe(true);
    for (const shot of results!.generatedShots) expect(existsSync(fileOf(shot.imageUrl))).toBe(true);
    expect(results!.errors).toEqual([]);
    expect(results!.executedSteps).toBe(stepCount(4));
    expect(service.getPartialResults('end-to-end')).toBeNull();

    expect(stages).toEqual(['grid', 'comfyui', 'promotion', 'qa', 'export']);
    expect(generatingDuringRun).toBe(true);
    expect(service.isGenerating()).toBe(false);
    const values = progress.map((p) => p.progress);
    expect(values.length).toBeGreaterThan(20);
    for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i - 1]!);
    expect(values.filter((v) => v === 100)).toHaveLength(1);
    expect(values.at(-1)).toBe(100);
    for (const status of progress) {
      expect(status.etaMs).toBeGreaterThanOrEqual(0);
      expect(status.estimatedCompletion).toBeGreaterThan(0);
      expect(status.totalShots).toBe(4);
    }
    expect(progress.at(-1)).toMatchObject({ etaMs: 0, currentShot: 4 });
    expect(progress.some((p) => p.progress > 0 && p.progress < 100 && p.etaMs! > 0)).toBe(true);
  });

  it('should recover from partial failure', async () => {
    const { service, backend } = await setUp();
    const project = makeProjectInput({ id: 'partial', shots: 3 });
    // Simulate failure after grid generation: every shot request is refused.
    backend.setFailureStage('comfyui');

    const result1 = await service.generateSequence(project, { retryAttempts: 1 });
    // Adapted: with the sheet done and every shot's error known, the service reports them rather than null.
    expect(result1?.success).toBe(false);
    expect(result1?.errors.map((e) => [e.shotId, e.stage, e.code])).toEqual(
      [1, 2, 3].map((n) => [shotId(n), 'comfyui', ErrorCode.BACKEND_REJECTED]),
    );
    expect(result1?.exportPackageUrl).toBe('');

    // Check partial results saved
    const partial = service.getPartialResults(project.id);
    expect(partial?.completedStages).toContain('grid');
    expect(partial?.completedStages).not.toContain('comfyui');
    expect(partial?.masterCoherenceSheetUrl).toBeTruthy();
    expect(existsSync(fileOf(partial!.masterCoherenceSheetUrl!))).toBe(true);

    // Retry should use partial results
    backend.clearFailures();
    const result2 = await service.generateSequence(project);
    expect(result2?.success).toBe(true);
    expect(result2?.reusedSteps).toBe(10);
    expect(result2?.executedSteps).toBe(stepCount(3) - 10);
    expect(backend.calls.filter((c) => c.purpose === 'sheet-panel')).toHaveLength(9);
  });
});

describe('partial results: one store for the service and the error handler', () => {
  it("the note's save → getPartialResults works, merged with the journal, and a successful run clears it", async () => {
    const { service, backend } = await setUp();
    const project = makeProjectInput({ id: 'one-store', shots: 2 });
    const handler = new GenerationErrorHandler({ workspace: service.workspace });
    handler.savePartialResults(project.id, ['grid'], [{ shotId: 'saved-by-hand' }], 'grid.png');
    // Nothing has run yet: what the handler saved is what the service reports.
    expect(service.getPartialResults(project.id)).toMatchObject({
      completedStages: ['grid'],
      generatedShots: [{ shotId: 'saved-by-hand' }],
      masterCoherenceSheetUrl: 'grid.png',
    });

    backend.setFailureStage('comfyui');
    await service.generateSequence(project, { retryAttempts: 1 });
    handler.savePartialResults(project.id, [], [], undefined, new Error('GPU server went away'));
    const merged = service.getPartialResults(project.id)!;
    expect(merged.runId).toMatch(/\S/);
    expect(merged.completedStages).toEqual(['grid']);
    // The journal's sheet replaces the hand-saved URL; the hand-saved shot and error are kept.
    expect(merged.masterCoherenceSheetUrl).toMatch(/^file:/);
    expect(merged.generatedShots.map((s) => s.shotId)).toContain('saved-by-hand');
    expect(merged.lastError?.message).toBeTruthy();
    expect(handler.loadPartialResults(project.id)?.lastError?.message).toBe('GPU server went away');

    backend.clearFailures();
    expect((await service.generateSequence(project))?.success).toBe(true);
    expect(service.getPartialResults(project.id)).toBeNull();
    expect(handler.loadPartialResults(project.id)).toBeNull();
  });

  it('the default handler and the default service share the workspace in the working directory', async () => {
    ws = await createTempWorkspace('storycore-defaults-');
    const cwd = process.cwd();
    process.chdir(ws.root);
    try {
      service = new SequenceGenerationService();
      new GenerationErrorHandler().savePartialResults('defaults', ['grid'], [], 'grid.png');
      expect(service.getPartialResults('defaults')?.completedStages).toEqual(['grid']);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('SequenceGenerationService', () => {
  it('honours retryAttempts and retryDelayMs, calling onError once per failed attempt with what happens next', async () => {
    const { service, backend } = await setUp();
    const project = makeProjectInput({ id: 'retrying', shots: 2 });
    backend.failShot(shotId(2), { kind: 'unreachable', rootCause: 'connect ECONNREFUSED 10.0.0.7:8188' });
    const errors: Array<GenerationError & { next: string; delayMs?: number }> = [];

    const results = await service.generateSequence(project, {
      retryAttempts: 2,
      retryDelayMs: 200,
      onError: (e) => errors.push(e),
    });

    const calls = backend.callsFor(shotId(2), 'shot');
    expect(calls).toHaveLength(2);
    expect(calls[1]!.startedAt - calls[0]!.settledAt!).toBeGreaterThanOrEqual(195);
    expect(errors.map((e) => [e.shotId, e.stage, e.attemptNumber, e.next, e.retryable, e.delayMs])).toEqual([
      [shotId(2), 'comfyui', 1, 'retry', true, 200],
      [shotId(2), 'comfyui', 2, 'give-up', false, undefined],
    ]);
    expect(errors[1]!.message).toContain('ECONNREFUSED 10.0.0.7:8188');
    expect(results?.success).toBe(false);
    expect(results?.generatedShots.map((s) => s.shotId)).toEqual([shotId(1)]);
    expect(results?.errors).toEqual([
      expect.objectContaining({
        shotId: shotId(2),
        code: ErrorCode.BACKEND_UNREACHABLE,
        rootCause: 'connect ECONNREFUSED 10.0.0.7:8188',
      }),
    ]);
  });

  it('cancel() settles the run within 1 s with no progress after it, and resume() completes it', async () => {
    const { service } = await setUp();
    const project = makeProjectInput({ id: 'cancelled', shots: 4 });
    let runId = '';
    let cancelledAt = 0;
    let progressAfterCancel = 0;
    const running = service.generateSequence(project, {
      onEvent: (e) => {
        if (e.type === 'run-started') runId = e.runId;
      },
      onProgress: (status) => {
        if (cancelledAt > 0) progressAfterCancel++;
        else if (status.stage === 'comfyui') {
          cancelledAt = performance.now();
          service.cancel();
        }
      },
    });
    const result = await running;
    const latency = performance.now() - cancelledAt;

    expect(result).toBeNull();
    expect(cancelledAt).toBeGreaterThan(0);
    expect(latency).toBeLessThan(1000);
    expect(progressAfterCancel).toBe(0);
    expect(service.isGenerating()).toBe(false);
    expect(service.getRun(runId).status).toBe('cancelled');
    expect(service.getPartialResults('cancelled')?.completedStages).toEqual(['grid']);

    const stages: PipelineStage[] = [];
    const values: number[] = [];
    const resumed = await service.resume(runId, {
      onStageComplete: (stage) => stages.push(stage),
      onProgress: (status) => values.push(status.progress),
    });
    expect(resumed?.success).toBe(true);
    expect(stages).toEqual(['grid', 'comfyui', 'promotion', 'qa', 'export']);
    for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i - 1]!);
    expect(values.at(-1)).toBe(100);
    expect(resumed?.runId).toBe(runId);
    expect(resumed!.reusedSteps).toBeGreaterThanOrEqual(10);
    expect(resumed!.executedSteps + resumed!.reusedSteps).toBe(stepCount(4));
    expect(service.getRun(runId).status).toBe('succeeded');
  });

  it('rejects an invalid project with a ValidationError listing every path, and writes nothing', async () => {
    const { service, backend } = await setUp();
    const bad = {
      ...makeProjectInput({ id: 'invalid' }),
      output: { width: 10, height: 180 },
      shots: [{ id: 'bad/id', prompt: 'short' }],
    } as ProjectInput;

    const error = await service.generateSequence(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual([
      '$.output.width',
      '$.shots[0].id',
      '$.shots[0].prompt',
    ]);
    expect(backend.calls).toEqual([]);
    expect(existsSync(ws!.workspace)).toBe(false);
    expect(existsSync(ws!.outDir)).toBe(false);
    expect(existsSync(join(ws!.root, 'workspace', 'storycore.db'))).toBe(false);
  });
});

describe('GenerationResults URLs', () => {
  it('point at files that exist, also past 99 shots where the export pads numbers to three digits', async () => {
    const { service } = await setUp();
    const project = { ...makeProjectInput({ id: 'hundred', shots: 101 }), output: { width: 64, height: 64 } };
    const results = await service.generateSequence(project, { retryAttempts: 1 });
    expect(results?.success).toBe(true);
    expect(results!.generatedShots[0]!.imageUrl).toMatch(/\/shots\/001_shot-01\.png$/);
    for (const shot of results!.generatedShots)
      expect(existsSync(fileOf(shot.imageUrl)), shot.imageUrl).toBe(true);
    expect(existsSync(fileOf(results!.masterCoherenceSheetUrl))).toBe(true);
    expect(existsSync(fileOf(results!.exportPackageUrl))).toBe(true);
  });
});
