/**
 * The double's own behaviour beyond the shared protocol suite: simulated text-to-image (progress, preview frames,
 * deterministic pixels), the 0.3.40 mode, lifecycle, and every injectable fault — in raw protocol terms.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startComfyDouble,
  type ComfyDouble,
  type ComfyDoubleOptions,
} from '../support/comfyui-double/index.js';
import {
  http,
  isDone,
  openSocket,
  submit,
  trivialWorkflow,
  uniquePrefix,
  type History,
  type PromptRejection,
  type SystemStats,
  type Workflow,
} from './raw-protocol.js';

const CKPT = 'sd_xl_base_1.0.safetensors';
let double: ComfyDouble | undefined;
const start = async (options: ComfyDoubleOptions = {}) => (double = await startComfyDouble(options));
afterEach(async () => {
  await double?.close();
  double = undefined;
});

function textToImage(seed: number, steps: number, prefix = uniquePrefix('t2i')): Workflow {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: CKPT } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 48, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse at dusk', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
        seed,
        steps,
        cfg: 7,
        sampler_name: 'euler',
        scheduler: 'normal',
        denoise: 1,
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: prefix } },
  };
}

const refused = (url: string) =>
  fetch(`${url}/system_stats`).then(
    () => 'answered',
    (e: unknown) => String((e as { cause?: { code?: string } }).cause?.code),
  );

describe('simulated text-to-image', () => {
  it('runs each sampler step with progress and a PNG preview frame, then decodes a deterministic image', async () => {
    const d = await start({ models: { checkpoints: [CKPT] }, samplerStepMs: 5 });
    const ws = await openSocket(d.url);
    const image = async (seed: number) => {
      const { promptId } = await submit(d.url, textToImage(seed, 4), ws.clientId);
      await ws.waitFor(isDone(promptId));
      const out = ws.of(promptId).find((m) => m.type === 'executed')!.data['output'] as {
        images: { filename: string }[];
      };
      return {
        promptId,
        png: (await http(d.url, `/view?filename=${out.images[0]!.filename}&type=output`)).body,
      };
    };
    const first = await image(1);
    const progress = ws.of(first.promptId).filter((m) => m.type === 'progress');
    expect(progress.map((m) => m.data)).toEqual(
      [1, 2, 3, 4].map((value) => ({ value, max: 4, prompt_id: first.promptId, node: '3' })),
    );
    expect(ws.binary).toHaveLength(4);
    for (const frame of ws.binary) {
      expect([frame.readUInt32BE(0), frame.readUInt32BE(4)]).toEqual([1, 2]); // preview image, PNG
      expect((await sharp(frame.subarray(8)).metadata()).format).toBe('png');
    }
    const raw = async (png: Buffer) => sharp(png).raw().toBuffer();
    expect(await sharp(first.png).metadata()).toMatchObject({ width: 64, height: 48 });
    const same = await image(1); // a new prefix, so not a cache hit: the pixels are recomputed
    const other = await image(2);
    expect((await raw(same.png)).equals(await raw(first.png))).toBe(true);
    expect((await raw(other.png)).equals(await raw(first.png))).toBe(false);
    ws.close();
  });

  it('sends no preview frames when previews are off, and validates loaders against `models`', async () => {
    const d = await start({ previews: false, samplerStepMs: 1, models: { checkpoints: [CKPT] } });
    const ws = await openSocket(d.url);
    const { promptId } = await submit(d.url, textToImage(3, 3), ws.clientId);
    await ws.waitFor(isDone(promptId));
    expect(ws.binary).toEqual([]);
    type Info = Record<string, { input: { required: Record<string, unknown[]> } }>;
    const info = (await http(d.url, '/object_info/CheckpointLoaderSimple')).json<Info>();
    expect(info['CheckpointLoaderSimple']!.input.required['ckpt_name']![0]).toEqual([CKPT]);
    const wrong = textToImage(3, 3);
    wrong['4']!.inputs['ckpt_name'] = 'flux1-dev.safetensors';
    const answer = await http(d.url, '/prompt', { body: { prompt: wrong } });
    expect(answer.status).toBe(400);
    expect(answer.json<PromptRejection>().node_errors['4']!.errors[0]!.type).toBe('value_not_in_list');
    ws.close();
  });
});

describe('0.3.40 mode', () => {
  it('ignores a chosen prompt_id, speaks before answering, sends no progress_state, interrupts whatever runs', async () => {
    const d = await start({ version: '0.3.40', models: { checkpoints: [CKPT] }, samplerStepMs: 20 });
    expect((await http(d.url, '/system_stats')).json<SystemStats>().system.comfyui_version).toBe('0.3.40');
    const ws = await openSocket(d.url);
    const chosen = randomUUID();
    const { promptId } = await submit(d.url, trivialWorkflow(uniquePrefix('old')), ws.clientId, {
      prompt_id: chosen,
    });
    expect(promptId).not.toBe(chosen);
    // The job's first message was on the socket before the HTTP answer came back.
    expect(ws.of(promptId).map((m) => m.type)).toContain('execution_start');
    await ws.waitFor(isDone(promptId));
    expect(ws.messages.filter((m) => m.type === 'progress_state')).toEqual([]);
    const long = await submit(d.url, textToImage(5, 200), ws.clientId);
    await ws.waitFor((m) => m.type === 'progress' && m.data['prompt_id'] === long.promptId);
    await http(d.url, '/interrupt', { body: { prompt_id: randomUUID() } }); // someone else's id: still interrupts
    const stopped = await ws.waitFor((m) => m.type === 'execution_interrupted');
    expect(stopped.data).toMatchObject({ prompt_id: long.promptId, node_id: '3', node_type: 'KSampler' });
    ws.close();
  });
});

describe('lifecycle', () => {
  it('restart() keeps the port and loses queue and history; stop() refuses until start()', async () => {
    const d = await start();
    const ws = await openSocket(d.url);
    const { promptId } = await submit(d.url, trivialWorkflow(uniquePrefix('life')), ws.clientId);
    await ws.waitFor(isDone(promptId));
    const url = d.url;
    await d.restart();
    expect(d.url).toBe(url);
    await ws.closed;
    expect(await http(url, `/history/${promptId}`).then((a) => a.json())).toEqual({});
    await d.stop();
    expect(await refused(url)).toBe('ECONNREFUSED');
    await d.start();
    expect(await refused(url)).toBe('answered');
    expect(d.submitted.map((s) => s.promptId)).toEqual([promptId]);
    expect(d.submitted[0]!.clientId).toBe(ws.clientId);
  });
});

describe('faults', () => {
  it('refuse-connections: ECONNREFUSED until cleared, queue kept', async () => {
    const d = await start();
    d.inject({ kind: 'refuse-connections' });
    expect(await refused(d.url)).toBe('ECONNREFUSED');
    d.clearFaults();
    await expect.poll(() => refused(d.url)).toBe('answered');
  });

  it('http-500: the named route answers 500 text/plain `times` times, other routes are untouched', async () => {
    const d = await start();
    d.inject({ kind: 'http-500', route: '/prompt', times: 1 });
    const failed = await http(d.url, '/api/prompt', { body: { prompt: trivialWorkflow('x') } });
    expect([failed.status, failed.contentType]).toEqual([500, 'text/plain; charset=utf-8']);
    expect((await http(d.url, '/queue')).status).toBe(200);
    expect((await http(d.url, '/prompt', { body: { prompt: trivialWorkflow('x') } })).status).toBe(200);
  });

  it('drop-socket-mid-job: sockets are cut when the job starts; the job still finishes into history', async () => {
    const d = await start({ models: { checkpoints: [CKPT] }, samplerStepMs: 5 });
    d.inject({ kind: 'drop-socket-mid-job' });
    const ws = await openSocket(d.url);
    const { promptId } = await submit(d.url, textToImage(1, 5), ws.clientId);
    await ws.closed;
    expect(ws.of(promptId).map((m) => m.type)).toContain('execution_start');
    await expect
      .poll(
        async () => (await http(d.url, `/history/${promptId}`)).json<History>()[promptId]?.status?.status_str,
      )
      .toBe('success');
  });

  it('lose-jobs: a running job vanishes from queue and history like a restart; when idle it hits the next job', async () => {
    const d = await start({ models: { checkpoints: [CKPT] }, samplerStepMs: 20 });
    const ws = await openSocket(d.url);
    const running = await submit(d.url, textToImage(1, 100), ws.clientId);
    await ws.waitFor((m) => m.type === 'progress');
    d.inject({ kind: 'lose-jobs' });
    await ws.closed;
    expect((await http(d.url, '/queue')).json()).toEqual({ queue_running: [], queue_pending: [] });
    expect((await http(d.url, `/history/${running.promptId}`)).json()).toEqual({});
    d.inject({ kind: 'lose-jobs' }); // idle now: armed for the next job
    const next = await submit(d.url, trivialWorkflow(uniquePrefix('lost')), undefined);
    await expect.poll(() => d.queueSnapshot()).toEqual({ running: [], pending: [] });
    expect((await http(d.url, `/history/${next.promptId}`)).json()).toEqual({});
    const ws2 = await openSocket(d.url);
    const after = await submit(d.url, trivialWorkflow(uniquePrefix('after')), ws2.clientId);
    await ws2.waitFor(isDone(after.promptId)); // consumed: later jobs run
    ws2.close();
  });

  it('hang: requests on the route are accepted and never answered; other routes answer', async () => {
    const d = await start();
    d.inject({ kind: 'hang', route: '/history' });
    const hung = fetch(`${d.url}/history/x`, { signal: AbortSignal.timeout(300) });
    await expect(hung).rejects.toMatchObject({ name: 'TimeoutError' });
    expect((await http(d.url, '/queue')).status).toBe(200);
  });

  it('stall-jobs: the job starts and then neither progresses nor finishes until cleared', async () => {
    const d = await start();
    d.inject({ kind: 'stall-jobs' });
    const ws = await openSocket(d.url);
    const { promptId } = await submit(d.url, trivialWorkflow(uniquePrefix('stall')), ws.clientId);
    await ws.waitFor((m) => m.type === 'execution_start');
    await new Promise((r) => setTimeout(r, 300));
    expect(ws.of(promptId).filter((m) => m.type === 'executing')).toEqual([]);
    expect(d.queueSnapshot()).toEqual({ running: [promptId], pending: [] });
    d.clearFaults();
    await ws.waitFor(isDone(promptId));
    ws.close();
  });

  it('corrupt-output and slow-view: /view answers damaged bytes, or late', async () => {
    const d = await start();
    const ws = await openSocket(d.url);
    const prefix = uniquePrefix('view');
    const { promptId } = await submit(d.url, trivialWorkflow(prefix), ws.clientId);
    await ws.waitFor(isDone(promptId));
    const path = `/view?filename=${prefix}_00001_.png&type=output`;
    const good = (await http(d.url, path)).body;
    d.inject({ kind: 'corrupt-output' });
    const bad = (await http(d.url, path)).body;
    expect(bad.length).toBeLessThan(good.length);
    await expect(sharp(bad).raw().toBuffer()).rejects.toThrow();
    d.clearFaults();
    d.inject({ kind: 'slow-view', delayMs: 250 });
    const t0 = performance.now();
    expect((await http(d.url, path)).body.equals(good)).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(240);
    ws.close();
  });

  it('records uploads by name', async () => {
    const d = await start();
    const form = new FormData();
    const bytes = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#123456' } })
      .png()
      .toBuffer();
    form.append('image', new Blob([new Uint8Array(bytes)]), 'ref.png');
    await http(d.url, '/upload/image', { raw: form });
    expect(d.uploads.get('ref.png')?.equals(bytes)).toBe(true);
  });
});
