import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStudioServer, type StudioServer } from '../src/server/index.js';
import { REPO_ROOT } from './helpers/cli.js';
import { makeProjectInput } from './helpers/project-factory.js';
import { readSse } from './helpers/sse.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';
import { startComfyDouble, type ComfyDouble } from './support/comfyui-double/index.js';

/*
 * The studio API with ComfyUI behind it: the ComfyUI test double (real HTTP + WebSocket on loopback, simulated
 * samplers sending binary previews) and a server that is not there at all.
 */
const CKPT = 'sd_xl_base_1.0.safetensors';
/** A port that was just free: connections to it are refused (fetch blocks port 9, the usual "nobody" port). */
let NOBODY: string;
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

let tmp: TempWorkspace;
let server: StudioServer;
let withModel: ComfyDouble;
let bare: ComfyDouble;
let workflow: Record<string, { inputs: Record<string, unknown> }>;
const api = (path: string): string => `${server.origin}${path}`;
const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

beforeAll(async () => {
  tmp = await createTempWorkspace('storycore-server-comfyui-');
  // 12 sampler steps of 60 ms: a shot renders for ~0.7 s, long enough for a throttled preview or two.
  [withModel, bare] = await Promise.all([
    startComfyDouble({ models: { checkpoints: [CKPT] }, samplerStepMs: 60 }),
    startComfyDouble(),
  ]);
  workflow = JSON.parse(
    await readFile(join(REPO_ROOT, 'examples/workflows/sdxl-text-to-image.json'), 'utf8'),
  ) as typeof workflow;
  workflow['3']!.inputs['steps'] = 12;
  server = await startStudioServer({ port: 0, workspace: tmp.workspace, panelSize: 64 });
  NOBODY = `http://127.0.0.1:${await freePort()}`;
});
afterAll(async () => {
  await server?.close();
  await Promise.all([withModel?.close(), bare?.close()]);
  await tmp?.dispose();
});

interface Check {
  url: string;
  reachable: boolean;
  usable: boolean;
  version?: string;
  error?: string;
  queue?: { running: number; pending: number };
  workflows: Array<{ source: string; valid: boolean; issues: Array<{ path: string; message: string }> }>;
}

describe('the studio with ComfyUI', () => {
  it('streams each shot’s live previews while it renders: small JPEGs without ids, at most 2 a second, before its frame, never in the log', async () => {
    const project = { ...makeProjectInput({ id: 'live', shots: 3 }), qa: { regenerateBudget: 0 } };
    expect((await fetch(api('/api/projects'), post(project))).status).toBe(201);
    const started = await fetch(
      api('/api/projects/live/runs'),
      post({ backend: 'comfyui', servers: [withModel.url], workflow }),
    );
    expect(started.status).toBe(202);
    const { runId } = (await started.json()) as { runId: string };
    const live = await readSse(api(`/api/runs/${runId}/events`), { until: (m) => m.event === 'end' });
    const finished = live.messages.find((m) => m.event === 'run-finished');
    expect(JSON.parse(finished!.data)).toMatchObject({ status: 'succeeded' });

    const previews = live.messages.filter((m) => m.event === 'preview');
    for (const shot of ['shot-01', 'shot-02', 'shot-03']) {
      const mine = previews.filter((m) => m.data.includes(`"shotId":"${shot}"`));
      expect(mine.length, shot).toBeGreaterThan(0);
      const done = live.messages.findIndex(
        (m) => m.event === 'step-completed' && m.data.includes(`"stepId":"generate:${shot}"`),
      );
      const step = JSON.parse(live.messages[done]!.data) as { durationMs: number; attempts: number };
      expect(step.attempts).toBe(1);
      // Never after the frame: the last preview comes before the shot's generate step completes.
      expect(live.messages.lastIndexOf(mine.at(-1)!)).toBeLessThan(done);
      // At most one per 500 ms of the request (the sampler sends one every 60 ms).
      expect(mine.length).toBeLessThanOrEqual(Math.floor(step.durationMs / 500) + 1);
    }
    for (const message of previews) {
      // Transient: no id, so a reconnecting EventSource's Last-Event-ID is the log's.
      expect(message.id).toBeUndefined();
      const p = JSON.parse(message.data) as Record<string, unknown>;
      expect(p).toMatchObject({ mime: 'image/jpeg', stepId: `generate:${String(p['shotId'])}` });
      const jpeg = Buffer.from(String(p['data']), 'base64');
      const meta = await sharp(jpeg).metadata();
      expect(meta.format).toBe('jpeg');
      expect([meta.width, meta.height]).toEqual([p['width'], p['height']]);
      expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(256);
    }
    // The log holds the run's events, not its previews: a replay has everything else, in the same order.
    const replay = await readSse(api(`/api/runs/${runId}/events`), { until: (m) => m.event === 'end' });
    expect(replay.messages.some((m) => m.event === 'preview')).toBe(false);
    expect(replay.messages).toEqual(live.messages.filter((m) => m.event !== 'preview'));
  }, 120_000);

  it('checks ComfyUI servers: reachable with version and queue, workflow problems named by node, unreachable said why', async () => {
    const res = await fetch(
      api('/api/comfyui/check'),
      post({ servers: [withModel.url, bare.url, NOBODY], workflow }),
    );
    expect(res.status).toBe(200);
    const { servers } = (await res.json()) as { servers: Check[] };
    const [good, noModel, nobody] = servers;
    expect(good).toMatchObject({
      url: withModel.url,
      reachable: true,
      usable: true,
      version: '0.3.64',
      queue: { running: 0, pending: 0 },
      workflows: [{ valid: true, issues: [] }],
    });
    expect(noModel).toMatchObject({ url: bare.url, reachable: true, usable: false, version: '0.3.64' });
    expect(noModel!.workflows[0]!.issues.map((i) => i.message).join('\n')).toMatch(
      new RegExp(`node 4 CheckpointLoaderSimple: ckpt_name '${CKPT.replaceAll('.', '\\.')}' is not one of`),
    );
    expect(nobody).toMatchObject({ url: NOBODY, reachable: false, usable: false, workflows: [] });
    expect(nobody!.error).toContain(`cannot reach ComfyUI at ${NOBODY}`);
    expect(nobody!.error).toMatch(/refused/i);
  }, 60_000);

  it('checks a workflow file named relative to the workspace, as a run would load it', async () => {
    await writeFile(join(tmp.workspace, 'shot.json'), JSON.stringify(workflow));
    const res = await fetch(
      api('/api/comfyui/check'),
      post({ servers: [withModel.url], workflow: 'shot.json' }),
    );
    const { servers } = (await res.json()) as { servers: Check[] };
    expect(servers[0]).toMatchObject({
      usable: true,
      workflows: [{ source: join(tmp.workspace, 'shot.json') }],
    });

    const missing = await fetch(
      api('/api/comfyui/check'),
      post({ servers: [withModel.url], workflow: 'nope.json' }),
    );
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ issues: [{ path: '$.workflow', message: 'not readable' }] });
  });

  it('refuses a check without servers or with a bad URL, naming the field', async () => {
    const none = await fetch(api('/api/comfyui/check'), post({ workflow }));
    expect(none.status).toBe(400);
    expect(await none.json()).toMatchObject({ issues: [{ path: '$.servers', message: 'missing' }] });
    const bad = await fetch(api('/api/comfyui/check'), post({ servers: ['gpu-box:8188'] }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ issues: [{ path: '$.servers[0]' }] });
  });
});
