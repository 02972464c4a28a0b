import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../src/core/error-classify.js';
import { createComfyUiBackend, type ComfyUiBackend } from '../../src/backends/comfyui/index.js';
import { parseWorkflow, type Workflow } from '../../src/backends/comfyui/workflow.js';
import type { GenerationRequest } from '../../src/backends/types.js';
import { BackendFailedError, BackendUnreachableError, TimeoutError } from '../../src/core/errors.js';
import { executedSince, lastExecutionId, runOn } from '../helpers/pipeline-harness.js';
import { makeProject } from '../helpers/project-factory.js';
import { createTempWorkspace, quickRetryPolicy, type TempWorkspace } from '../helpers/temp-workspace.js';
import { startComfyDouble, type ComfyDouble, type ComfyFault } from '../support/comfyui-double/index.js';

/**
 * Issue 12's fault matrix: every fault the double can inject ends, within its timeout, in correct frames or in the
 * right clear error — never a hang — and a run that meets one never loses a shot it already finished.
 */

const TIMEOUTS = {
  requestTimeoutMs: 800,
  transferTimeoutMs: 800,
  serverGoneTimeoutMs: 1500,
  jobTimeoutMs: 1500,
  pollIntervalMs: 200,
};

let demo: Workflow;
let double: ComfyDouble;
let backend: ComfyUiBackend;

beforeAll(async () => {
  const file = new URL('../../examples/workflows/demo-model-free.json', import.meta.url);
  demo = parseWorkflow(JSON.parse(await readFile(file, 'utf8')), 'demo-model-free.json');
  double = await startComfyDouble();
  backend = await createComfyUiBackend({
    servers: [double.url],
    workflow: { workflow: demo, source: 'demo-model-free.json' },
    ...TIMEOUTS,
  });
});
afterAll(async () => {
  await backend?.close();
  await double?.close();
});
afterEach(() => double.clearFaults());

let seed = 1000;
const request = (): GenerationRequest => ({
  prompt: 'a test frame',
  width: 96,
  height: 64,
  seed: seed++,
  purpose: 'shot',
  label: 'fault',
});

async function outcome(fault: ComfyFault): Promise<{ value?: unknown; error?: unknown; ms: number }> {
  double.inject(fault);
  const t = performance.now();
  try {
    return { value: await backend.generate(request()), ms: performance.now() - t };
  } catch (error) {
    return { error, ms: performance.now() - t };
  }
}

describe('each fault of the double ends in a frame or the right clear error, never a hang', () => {
  it('connections refused: unreachable, retryable, naming the server, at once', async () => {
    const r = await outcome({ kind: 'refuse-connections' });
    expect(r.error).toBeInstanceOf(BackendUnreachableError);
    expect((r.error as BackendUnreachableError).retryable).toBe(true);
    expect((r.error as Error).message).toContain(double.url);
    expect(r.ms).toBeLessThan(3000);
  });

  it('HTTP 500 once on /prompt: a retryable failure, and the next request succeeds', async () => {
    const r = await outcome({ kind: 'http-500', route: '/prompt', times: 1 });
    expect(r.error).toBeInstanceOf(BackendFailedError);
    expect((r.error as BackendFailedError).status).toBe(500);
    expect((r.error as BackendFailedError).retryable).toBe(true);
    const ok = await backend.generate(request());
    expect(ok.raster.width).toBe(96);
  });

  it('the socket dropped mid-job: the frame still comes (reconnect + polling)', async () => {
    const r = await outcome({ kind: 'drop-socket-mid-job' });
    expect(r.error).toBeUndefined();
    expect((r.value as { raster: { height: number } }).raster.height).toBe(64);
  });

  it('every job lost (a restart): resubmitted once, the frame comes', async () => {
    const before = double.submitted.length;
    const r = await outcome({ kind: 'lose-jobs' });
    expect(r.error).toBeUndefined();
    expect((r.value as { metadata: { resubmissions?: number } }).metadata.resubmissions).toBe(1);
    expect(double.submitted.length - before).toBe(2);
  });

  it('a route that hangs: a timeout naming the route, within the request timeout', async () => {
    const r = await outcome({ kind: 'hang', route: '/prompt' });
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect((r.error as Error).message).toMatch(/did not answer \/prompt within 800 ms/);
    expect(r.ms).toBeLessThan(3000);
  });

  it('/view hanging: a timeout, not a hang', async () => {
    const r = await outcome({ kind: 'hang', route: '/view' });
    expect(r.error).toBeInstanceOf(TimeoutError);
  });

  it('a job that never progresses: the job timeout ends it and takes it off the server', async () => {
    const r = await outcome({ kind: 'stall-jobs' });
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect((r.error as Error).message).toMatch(/ran longer than 1500 ms/);
    expect(r.ms).toBeLessThan(5000);
    double.clearFaults();
    for (
      let i = 0;
      i < 50 && double.queueSnapshot().running.length + double.queueSnapshot().pending.length > 0;
      i++
    )
      await new Promise((res) => setTimeout(res, 50));
    expect(double.queueSnapshot()).toEqual({ running: [], pending: [] });
  });

  it('corrupt output bytes: a retryable failure saying the file is not an image', async () => {
    const r = await outcome({ kind: 'corrupt-output' });
    expect(r.error).toBeInstanceOf(BackendFailedError);
    expect((r.error as Error).message).toMatch(/not a readable image/);
    expect((r.error as BackendFailedError).retryable).toBe(true);
  });

  it('a slow /view: the frame comes, just later', async () => {
    const r = await outcome({ kind: 'slow-view', delayMs: 300 });
    expect(r.error).toBeUndefined();
    expect(r.ms).toBeGreaterThanOrEqual(300);
  });
});

describe('a run on ComfyUI that meets faults', () => {
  let ws: TempWorkspace;
  beforeAll(async () => {
    ws = await createTempWorkspace('storycore-comfy-faults-');
  });
  afterAll(async () => {
    await ws?.dispose();
  });

  it('rides out a lost job and a dropped socket, then fails cleanly on broken output without losing finished shots', async () => {
    const project = makeProject({ id: 'comfy-faults', shots: 3, width: 96, height: 64 });
    double.inject({ kind: 'lose-jobs' });
    double.inject({ kind: 'drop-socket-mid-job' });
    const first = await runOn(ws, project, { backend, retryPolicy: quickRetryPolicy({ maxAttempts: 3 }) });
    expect(first.error, String(first.error)).toBeUndefined();
    expect(first.result?.status, JSON.stringify(first.result?.failures)).toBe('succeeded');
    double.clearFaults();

    // Edit one shot and break the server's output: that shot fails with its cause, nothing finished is lost.
    const edited = {
      ...project,
      shots: project.shots.map((s, i) => (i === 1 ? { ...s, prompt: `${s.prompt} at night` } : s)),
    };
    double.inject({ kind: 'corrupt-output' });
    const broken = await runOn(ws, edited, { backend });
    expect(broken.result?.status).toBe('failed');
    const failures = broken.result?.failures ?? [];
    expect(failures.map((f) => f.shotId)).toEqual([project.shots[1]!.id]);
    expect(JSON.stringify(failures[0]!.error)).toMatch(/not a readable image/);
    double.clearFaults();

    const mark = lastExecutionId(ws);
    const fixed = await runOn(ws, edited, { backend });
    expect(fixed.result?.status).toBe('succeeded');
    const executed = executedSince(ws, fixed.runId!, mark);
    expect(executed.filter((id) => id.startsWith('generate:'))).toEqual([`generate:${project.shots[1]!.id}`]);
    expect(executed.some((id) => id.startsWith('sheet:'))).toBe(false);
  }, 60_000);
});

describe('a request timeout is a retryable failure, never mistaken for a cancel', () => {
  it('classifies as a temporary timeout and keeps its own message', async () => {
    double.inject({ kind: 'hang', route: '/prompt' });
    const error = await backend.generate(request()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(classifyError(error)).toMatchObject({ kind: 'temporary', code: 'timeout', retryable: true });
  });
});
