import { afterEach, describe, expect, it } from 'vitest';
import { createDraftBackend } from '../src/backends/draft/index.js';
import type {
  GenerateOptions,
  GeneratedImage,
  GenerationRequest,
  ImageBackend,
} from '../src/backends/types.js';
import { ErrorCode } from '../src/core/errors.js';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { backendKey } from '../src/backends/backend-key.js';
import { guardBackend } from '../src/pipeline/backend-guard.js';
import { SequenceGenerationService } from '../src/pipeline/sequence-generation-service.js';
import { makeProjectInput, shotId } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

let ws: TempWorkspace | undefined;
let service: SequenceGenerationService | undefined;
afterEach(async () => {
  service?.close();
  service = undefined;
  await ws?.dispose();
  ws = undefined;
});

/**
 * A custom backend written the way a first-day library user might: the draft renderer behind it, but it never
 * looks at `signal`. Chosen requests are held: for `holdMs` (then answered anyway), or forever (a hung server).
 */
class DeafBackend implements ImageBackend {
  readonly name = 'deaf';
  readonly version = '1';
  readonly capacity = 2;
  readonly canRegenerate = false;
  private readonly draft = createDraftBackend({ capacity: 2 });
  readonly answered: string[] = [];
  holds = new Map<string, { times: number; holdMs: number | 'forever' }>();

  async generate(request: GenerationRequest, _options?: GenerateOptions): Promise<GeneratedImage> {
    const label = request.label ?? '';
    const hold = this.holds.get(label);
    if (hold && hold.times > 0) {
      hold.times--;
      if (hold.holdMs === 'forever') return new Promise<never>(() => {});
      await new Promise((resolve) => setTimeout(resolve, hold.holdMs as number));
    }
    // Deliberately no signal: this backend cannot be stopped.
    const image = await this.draft.generate(request);
    this.answered.push(label);
    return image;
  }
}

async function setUp(
  backend: ImageBackend,
  options: { requestTimeoutMs?: number } = {},
): Promise<SequenceGenerationService> {
  ws = await createTempWorkspace('storycore-deaf-');
  // The design note's form: the backend as the first argument.
  service = new SequenceGenerationService(backend, {
    workspace: ws.workspace,
    outDir: ws.outDir,
    ...options,
  });
  return service;
}

describe('a backend that ignores its signal', () => {
  it('cannot keep a cancelled run pending: generateSequence settles within 1 s, and its late answer is dropped', async () => {
    const backend = new DeafBackend();
    const held = shotId(2);
    backend.holds.set(held, { times: 1, holdMs: 3000 });
    const svc = await setUp(backend);
    const project = makeProjectInput({ id: 'deaf-cancel', shots: 3 });
    let cancelledAt = 0;
    const events: PipelineEvent[] = [];
    const pending = svc.generateSequence(project, {
      concurrency: 3,
      onEvent: (event) => {
        events.push(event);
        // Cancel once the held request is in the backend's hands.
        if (event.type === 'step-started' && event.stepId === `generate:${held}` && cancelledAt === 0) {
          setTimeout(() => {
            cancelledAt = performance.now();
            svc.cancel();
          }, 100);
        }
      },
    });
    const result = await pending;
    const latency = performance.now() - cancelledAt;
    expect(cancelledAt).toBeGreaterThan(0);
    expect(result).toBeNull();
    expect(latency).toBeLessThan(1000);
    expect(svc.isGenerating()).toBe(false);

    // Let the backend answer after all: nothing of that answer reaches the journal or the caller.
    const eventsAtSettle = events.length;
    await new Promise((resolve) => setTimeout(resolve, 3200));
    expect(backend.answered).toContain(held);
    expect(events.length).toBe(eventsAtSettle);
    const runs = svc.getStore().runs;
    const [run] = runs.listRuns({ projectId: 'deaf-cancel', limit: 1 });
    expect(run?.status).toBe('cancelled');
    const step = runs.listSteps(run!.id).find((s) => s.stepId === `generate:${held}`);
    expect(step?.status).not.toBe('done');
    expect(runs.listSteps(run!.id).filter((s) => s.status === 'running')).toEqual([]);
  });

  it('with requestTimeoutMs, a hung request becomes a retried TimeoutError and the run succeeds', async () => {
    const backend = new DeafBackend();
    const hung = shotId(1);
    backend.holds.set(hung, { times: 1, holdMs: 'forever' });
    // Generous enough that a loaded 2-core machine never times out a healthy draft request, which would add failures.
    const svc = await setUp(backend, { requestTimeoutMs: 1500 });
    const failures: PipelineEvent[] = [];
    const started = performance.now();
    const results = await svc.generateSequence(makeProjectInput({ id: 'deaf-timeout', shots: 2 }), {
      retryDelayMs: 10,
      onEvent: (event) => {
        if (event.type === 'step-failed') failures.push(event);
      },
    });
    expect(results?.success).toBe(true);
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(failures).toEqual([
      expect.objectContaining({
        stepId: `generate:${hung}`,
        next: 'retry',
        error: expect.objectContaining({
          code: ErrorCode.TIMEOUT,
          retryable: true,
          message: `backend "deaf" did not answer within 1500 ms (shot ${hung})`,
        }),
      }),
    ]);
    expect(svc.isGenerating()).toBe(false);
  });

  it('without a timeout, a hung request is still ended by cancel()', async () => {
    const backend = new DeafBackend();
    backend.holds.set(shotId(1), { times: 1, holdMs: 'forever' });
    const svc = await setUp(backend);
    const pending = svc.generateSequence(makeProjectInput({ id: 'deaf-hung', shots: 1 }), {
      onEvent: (event) => {
        if (event.type === 'step-started' && event.stepId === `generate:${shotId(1)}`)
          setTimeout(() => svc.cancel(), 50);
      },
    });
    await expect(pending).resolves.toBeNull();
    expect(svc.isGenerating()).toBe(false);
  });
});

describe('guardBackend', () => {
  it('hashes like the backend it guards (fingerprint, size limit) and relays progress and previews until it settles', async () => {
    const inner = new DeafBackend();
    const previews: number[] = [];
    const progress: number[] = [];
    const fingerprinted = Object.assign(inner, {
      maxGenerationSide: 1024,
      fingerprint: (purpose: string) => `workflow:${purpose}`,
      generate: async (_request: GenerationRequest, options?: GenerateOptions): Promise<GeneratedImage> => {
        options?.onProgress?.({ fraction: 0.5 });
        options?.onPreview?.({ png: Buffer.alloc(0), fraction: 0.5 } as never);
        return new DeafBackend().generate(_request);
      },
    });
    const guarded = guardBackend(fingerprinted);
    for (const purpose of ['shot', 'sheet-panel', 'regenerate'] as const)
      expect(backendKey(guarded, purpose)).toEqual(backendKey(fingerprinted, purpose));
    expect((guarded as { maxGenerationSide?: number }).maxGenerationSide).toBe(1024);
    await guarded.generate(
      { prompt: 'a lighthouse', width: 64, height: 64, seed: 1, purpose: 'shot', label: 'x' },
      { onProgress: (p) => progress.push(p.fraction), onPreview: () => previews.push(1) },
    );
    expect([progress, previews]).toEqual([[0.5], [1]]);
  });
});

describe('new SequenceGenerationService(...)', () => {
  it('uses a backend given as the first argument (the design note form), never the draft renderer instead', async () => {
    const backend = new DeafBackend();
    const svc = await setUp(backend);
    const results = await svc.generateSequence(makeProjectInput({ id: 'first-arg', shots: 1 }));
    expect(results?.success).toBe(true);
    expect(backend.answered).toContain(shotId(1));
  });

  it.each([
    [
      'an object that is not a full backend (the note’s mockBackendApi)',
      { generateGrid: () => undefined, generate: () => undefined },
      /looks like a backend but is not an ImageBackend \(missing or mistyped: name: string, version: string, capacity: number, canRegenerate: boolean\)/,
    ],
    ['an unknown option', { workspace: '.storycore', out: 'x' }, /unknown option\(s\) "out"/],
    ['a string', 'draft', /the first argument must be an object/],
    [
      'a backend option that is not a backend',
      { backend: { name: 'x' } },
      /options.backend is not an ImageBackend/,
    ],
  ])('throws a TypeError saying what to pass, for %s', (_name, argument, message) => {
    const construct = (): unknown => new SequenceGenerationService(argument as never);
    expect(construct).toThrow(TypeError);
    expect(construct).toThrow(message);
    expect(construct).toThrow(/pass an ImageBackend/);
  });

  it('rejects a requestTimeoutMs that is not a positive number, naming the option', () => {
    expect(() => new SequenceGenerationService({ requestTimeoutMs: 0 })).toThrow(
      'options.requestTimeoutMs must be a positive number of milliseconds, got 0',
    );
  });
});
