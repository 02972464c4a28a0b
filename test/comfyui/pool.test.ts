import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createComfyUiBackend, type ComfyUiBackend } from '../../src/backends/comfyui/index.js';
import { parseWorkflow, type Workflow } from '../../src/backends/comfyui/workflow.js';
import type { BackendStatus, GenerationRequest } from '../../src/backends/types.js';
import { BackendUnreachableError, ValidationError, isCancellation } from '../../src/core/errors.js';
import {
  startComfyDouble,
  type ComfyDouble,
  type ComfyDoubleOptions,
} from '../support/comfyui-double/index.js';

/**
 * Issue 8's fault matrix on test doubles: a pool of servers routes by load (ours and other users' jobs), survives a
 * server killed mid-run with every shot done exactly once, takes a server back within one health interval, waits a
 * bounded time when every server is down, routes around 500s and hangs, excludes a server that cannot run the
 * workflow, and a cancel leaves every queue clean.
 */

const CKPT = 'sd_xl_base_1.0.safetensors';
const FAST = {
  requestTimeoutMs: 800,
  transferTimeoutMs: 800,
  serverGoneTimeoutMs: 1000,
  pollIntervalMs: 100,
  healthIntervalMs: 150,
  probeTimeoutMs: 300,
  outageTimeoutMs: 1500,
};

let textToImage: Workflow;
let demo: Workflow;
const doubles: ComfyDouble[] = [];
const backends: ComfyUiBackend[] = [];

async function load(name: string): Promise<Workflow> {
  const file = new URL(`../../examples/workflows/${name}`, import.meta.url);
  return parseWorkflow(JSON.parse(await readFile(file, 'utf8')), name);
}

async function servers(n: number, options: ComfyDoubleOptions = {}): Promise<ComfyDouble[]> {
  textToImage ??= await load('sdxl-text-to-image.json');
  demo ??= await load('demo-model-free.json');
  const started = await Promise.all(
    Array.from({ length: n }, () =>
      startComfyDouble({ models: { checkpoints: [CKPT] }, samplerStepMs: 20, previews: false, ...options }),
    ),
  );
  doubles.push(...started);
  return started;
}

/** The text-to-image workflow with `steps` sampler steps: steps × samplerStepMs of simulated generation. */
function sampler(steps: number): Workflow {
  const wf = structuredClone(textToImage);
  wf['3']!.inputs['steps'] = steps;
  return wf;
}

async function pool(
  urls: string[],
  workflow: Workflow,
  extra: Record<string, unknown> = {},
): Promise<{ backend: ComfyUiBackend; messages: string[] }> {
  const backend = await createComfyUiBackend({
    servers: urls,
    workflow: { workflow, source: 'shot.json' },
    ...FAST,
    ...extra,
  });
  backends.push(backend);
  const messages: string[] = [];
  backend.onStatus((s: BackendStatus) => {
    if (s.message) messages.push(s.message);
  });
  return { backend, messages };
}

let seed = 5000;
const request = (label: string): GenerationRequest => ({
  prompt: 'a pooled frame',
  width: 64,
  height: 48,
  seed: seed++,
  purpose: 'shot',
  label,
});

const serverOf = (image: { metadata: Record<string, unknown> }): string => String(image.metadata['server']);
const until = async (check: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};
/** Prompts each double accepted from our backends (its own client ids), by label. */
const labelsOn = (d: ComfyDouble): string[] =>
  d.submitted.map((s) => {
    const save = Object.values(s.prompt).find(
      (n) => (n as { class_type?: string }).class_type === 'SaveImage',
    ) as { inputs: { filename_prefix: string } } | undefined;
    return String(save?.inputs.filename_prefix.split('/').at(-1)?.replace(/_\d+$/, ''));
  });

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await Promise.all(doubles.splice(0).map((d) => d.close()));
});

describe('routing', () => {
  it('gives the pipeline 1 running + queueDepth slots per server, and spreads jobs over every server', async () => {
    const ds = await servers(3);
    const { backend } = await pool(
      ds.map((d) => d.url),
      sampler(5),
    );
    expect(backend.capacity).toBe(6);
    const images = await Promise.all(Array.from({ length: 6 }, (_, i) => backend.generate(request(`s${i}`))));
    const perServer = ds.map((d) => images.filter((img) => serverOf(img) === d.url).length);
    expect(perServer).toEqual([2, 2, 2]);
    const deeper = await pool([ds[0]!.url], sampler(1), { queueDepth: 3 });
    expect(deeper.backend.capacity).toBe(4);
  });

  it("counts other users' jobs: a server busy with someone else's queue gets ours last", async () => {
    const ds = await servers(3);
    // Another user's three long jobs on the first server.
    const other = sampler(25);
    for (let i = 0; i < 3; i++) {
      const filled = JSON.parse(
        JSON.stringify(other)
          .replaceAll('"{{seed}}"', String(i))
          .replaceAll('{{width}}', '64')
          .replaceAll('{{height}}', '48')
          .replaceAll('{{prompt}}', 'x')
          .replaceAll('{{negative_prompt}}', '')
          .replaceAll('{{filename_prefix}}', `other/${i}`),
      ) as Workflow;
      for (const node of Object.values(filled))
        for (const [k, v] of Object.entries(node.inputs))
          if (v === '64' || v === '48') node.inputs[k] = Number(v);
      const r = await fetch(`${ds[0]!.url}/prompt`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: filled, client_id: 'someone-else' }),
      });
      expect(r.status).toBe(200);
    }
    const { backend } = await pool(
      ds.map((d) => d.url),
      sampler(2),
    );
    await backend['pool'].probeAll(); // the first health round reads every queue
    const images = await Promise.all(Array.from({ length: 4 }, (_, i) => backend.generate(request(`b${i}`))));
    expect(images.filter((img) => serverOf(img) === ds[0]!.url)).toHaveLength(0);
    // Other users' jobs are untouched.
    expect(ds[0]!.queueSnapshot().running.length + ds[0]!.queueSnapshot().pending.length).toBeGreaterThan(0);
  });
});

describe('failover', () => {
  it('one of three servers killed mid-run: every shot done exactly once, the move reported once', async () => {
    const ds = await servers(3);
    const { backend, messages } = await pool(
      ds.map((d) => d.url),
      sampler(10),
    );
    const labels = Array.from({ length: 12 }, (_, i) => `shot-${i}`);
    const runs = labels.map((l) => backend.generate(request(l)));
    await until(() => ds[1]!.queueSnapshot().running.length > 0);
    await ds[1]!.stop();
    const images = await Promise.all(runs);
    expect(images.map((img) => img.metadata['seed'])).toHaveLength(12);
    // Every frame came from a server that finished it; none from the dead one after it died.
    const finishedOn = images.map(serverOf);
    expect(new Set(images.map((img) => img.metadata['promptId'])).size).toBe(12);
    const dead = messages.filter((m) => m.startsWith(`127.0.0.1:${new URL(ds[1]!.url).port} unreachable`));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatch(/its [12] shots? moved to 127\.0\.0\.1:\d+/);
    expect(finishedOn.filter((s) => s === ds[1]!.url).length).toBeLessThanOrEqual(12);
    expect(backend.servers()[1]!.state).toBe('down');
    // A moved job is the same prompt wherever it runs: seed, size and workflow do not depend on the server.
    const promptOf = (d: ComfyDouble, label: string) =>
      d.submitted.filter((_, i) => labelsOn(d)[i] === label).map((s) => s.prompt);
    const moved = labelsOn(ds[1]!).filter(
      (l) => labelsOn(ds[0]!).includes(l) || labelsOn(ds[2]!).includes(l),
    );
    expect(moved.length).toBeGreaterThan(0);
    for (const label of moved) {
      const elsewhere = [...promptOf(ds[0]!, label), ...promptOf(ds[2]!, label)];
      expect(elsewhere[0]).toEqual(promptOf(ds[1]!, label)[0]);
    }
  });

  it('a killed server restarted is used again within one health interval, and its stale job is deleted', async () => {
    const ds = await servers(2);
    const { backend, messages } = await pool(
      ds.map((d) => d.url),
      sampler(30),
    );
    // The first server stops answering while it holds our jobs (its process keeps running them: a network cut).
    const runs = ['a', 'b', 'c', 'd'].map((l) => backend.generate(request(l)));
    await until(() => ds[0]!.queueSnapshot().running.length > 0 && ds[0]!.submitted.length >= 2);
    ds[0]!.inject({ kind: 'refuse-connections' });
    await until(() => backend.servers()[0]!.state === 'down', 3000);
    ds[0]!.clearFaults();
    const backAt = Date.now();
    await until(() => backend.servers()[0]!.state === 'up', 3000);
    expect(Date.now() - backAt).toBeLessThan(FAST.healthIntervalMs + FAST.probeTimeoutMs + 400);
    // The jobs that moved away were deleted from its queue when it came back.
    await until(
      () => ds[0]!.queueSnapshot().pending.length === 0 && ds[0]!.queueSnapshot().running.length === 0,
    );
    const images = await Promise.all(runs);
    expect(images).toHaveLength(4);
    expect(messages.some((m) => m.includes('is back in the pool'))).toBe(true);
    const later = await Promise.all(['e', 'f'].map((l) => backend.generate(request(l))));
    expect(later.map(serverOf)).toContain(ds[0]!.url);
  });

  it('every server down: waits the bounded time, fails with a clear error, and works again once one is back', async () => {
    const ds = await servers(2);
    const { backend, messages } = await pool(
      ds.map((d) => d.url),
      demo,
    );
    await Promise.all(ds.map((d) => d.stop()));
    // The probes notice (two failed rounds); from then on a job waits for a server instead of failing at once.
    await until(() => backend.servers().every((s) => s.state === 'down'), 3000);
    const t = performance.now();
    const error = await backend.generate(request('outage')).catch((e: unknown) => e);
    const waited = performance.now() - t;
    expect(error).toBeInstanceOf(BackendUnreachableError);
    expect((error as Error).message).toMatch(
      /no ComfyUI server of the pool answered for 2 s: 127\.0\.0\.1:\d+ down/,
    );
    expect((error as Error).message).toMatch(/resume the run/);
    expect(waited).toBeGreaterThan(FAST.outageTimeoutMs - 200);
    expect(waited).toBeLessThan(FAST.outageTimeoutMs + 3000);
    expect(messages.some((m) => m.startsWith('every ComfyUI server is down'))).toBe(true);
    await ds[1]!.start();
    await until(() => backend.servers()[1]!.state === 'up', 3000);
    expect(serverOf(await backend.generate(request('after')))).toBe(ds[1]!.url);
  });

  it('a server answering 500s, or hanging, is routed around', async () => {
    const ds = await servers(3);
    const { backend, messages } = await pool(
      ds.map((d) => d.url),
      demo,
    );
    ds[0]!.inject({ kind: 'http-500', route: '/prompt' });
    ds[1]!.inject({ kind: 'hang', route: '/prompt' });
    const images = await Promise.all(Array.from({ length: 6 }, (_, i) => backend.generate(request(`f${i}`))));
    expect(images.every((img) => serverOf(img) === ds[2]!.url)).toBe(true);
    // Taken out after two failed jobs. Their probes (/queue, /system_stats) still answer, so they come back
    // half-open within a health interval: being down is a moment, the announcement is what lasts.
    const failing = new RegExp(
      `^127\\.0\\.0\\.1:(${ds
        .slice(0, 2)
        .map((d) => new URL(d.url).port)
        .join('|')}) unreachable`,
    );
    await until(() => messages.some((m) => failing.test(m)), 3000);
  });
});

describe('a server that hangs on a job', () => {
  it('is quarantined by the job timeout even as the only server, and let back only once the hung job is gone', async () => {
    const [d] = await servers(1);
    const { backend, messages } = await pool([d!.url], sampler(4), { jobTimeoutMs: 600 });
    d!.inject({ kind: 'stall-jobs' });
    const t = performance.now();
    const error = await backend.generate(request('hung')).catch((e: unknown) => e);
    // The job's own timeout, not the outage wait: the step's retry then waits for a server.
    expect((error as Error).message).toMatch(/ran longer than 600 ms/);
    expect(performance.now() - t).toBeLessThan(3000);
    const hung = d!.queueSnapshot().running[0]!;
    expect(backend.servers()[0]).toMatchObject({ state: 'down', reason: expect.stringMatching(/^hung: /) });
    expect(messages.some((m) => m.startsWith('every ComfyUI server is down'))).toBe(true);
    // Its probes answer, but it still runs the hung job: it stays out for several health rounds.
    await new Promise((r) => setTimeout(r, 5 * FAST.healthIntervalMs));
    expect(backend.servers()[0]!.state).toBe('down');
    // It recovers: the interrupt it was sent lands, the job ends interrupted, and the server is back.
    d!.clearFaults();
    await until(() => backend.servers()[0]!.state === 'up');
    const entry = (await (await fetch(`${d!.url}/history/${hung}`)).json()) as Record<
      string,
      { status: { messages: Array<[string]> } }
    >;
    expect(entry[hung]!.status.messages.map((m) => m[0])).toContain('execution_interrupted');
    expect(serverOf(await backend.generate(request('after')))).toBe(d!.url);
  });

  it('moves the hung job to another server at the timeout and quarantines the hung one, saying so once', async () => {
    const ds = await servers(2);
    const { backend, messages } = await pool(
      ds.map((d) => d.url),
      sampler(4),
      { jobTimeoutMs: 600 },
    );
    ds[0]!.inject({ kind: 'stall-jobs' });
    // Two at once: least-loaded routing puts one on each server; the one on the hung server moves.
    const images = await Promise.all([backend.generate(request('a')), backend.generate(request('b'))]);
    expect(images.map(serverOf)).toEqual([ds[1]!.url, ds[1]!.url]);
    expect(backend.servers().map((s) => s.state)).toEqual(['down', 'up']);
    await until(() => messages.some((m) => /quarantined \(hung: .*: its 1 shot moved to/.test(m)));
    expect(serverOf(await backend.generate(request('c')))).toBe(ds[1]!.url);
  });
});

describe('start', () => {
  it('excludes a server that cannot run the workflow, naming it and why, and starts on the others', async () => {
    const [good] = await servers(1);
    const [bare] = await servers(1, { models: {} });
    const { backend, messages } = await pool([good!.url, bare!.url], sampler(2));
    expect(backend.servers().map((s) => s.state)).toEqual(['up', 'excluded']);
    expect(messages.join('\n')).toMatch(
      new RegExp(`127\\.0\\.0\\.1:${new URL(bare!.url).port} excluded: .*${CKPT.replaceAll('.', '\\.')}`),
    );
    expect(backend.capacity).toBe(2);
    expect(serverOf(await backend.generate(request('x')))).toBe(good!.url);
    // None qualifying: the validation error lists every problem.
    await expect(pool([bare!.url], sampler(2))).rejects.toBeInstanceOf(ValidationError);
  });

  it('a server down at start joins once it answers', async () => {
    const ds = await servers(2);
    await ds[1]!.stop();
    const { backend } = await pool(
      ds.map((d) => d.url),
      demo,
    );
    expect(backend.servers().map((s) => s.state)).toEqual(['up', 'down']);
    await ds[1]!.start();
    await until(() => backend.servers()[1]!.state === 'up', 3000);
  });
});

describe('cancel', () => {
  it('reaches every server holding a job of the run and leaves every queue clean; other users keep theirs', async () => {
    const ds = await servers(3);
    const { backend } = await pool(
      ds.map((d) => d.url),
      sampler(50),
    );
    const controller = new AbortController();
    const runs = Array.from({ length: 6 }, (_, i) =>
      backend.generate(request(`c${i}`), { signal: controller.signal }).catch((e: unknown) => e),
    );
    await until(() =>
      ds.every((d) => d.queueSnapshot().running.length > 0 && d.queueSnapshot().pending.length > 0),
    );
    controller.abort();
    const outcomes = await Promise.all(runs);
    expect(outcomes.every((o) => isCancellation(o))).toBe(true);
    await until(
      () => ds.every((d) => d.queueSnapshot().running.length + d.queueSnapshot().pending.length === 0),
      3000,
    );
    expect(ds.map((d) => labelsOn(d).length)).toEqual([2, 2, 2]);
  });
});
