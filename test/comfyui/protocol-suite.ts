/**
 * The ComfyUI protocol as our client relies on it, in raw fetch + WebSocket tests. One suite, two servers: the test
 * double (`protocol.double.test.ts`, part of `npm test`) and a real ComfyUI (`test/comfyui-real/`, `npm run
 * test:comfyui` with COMFYUI_URL). Passing against both is what makes the double trustworthy. Only model-free
 * workflows are run, since the real test server has no weights.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  http,
  isDone,
  openSocket,
  randomColor,
  slowWorkflow,
  submit,
  trivialWorkflow,
  uniquePrefix,
  type Msg,
  type PromptRejection,
  type RawSocket,
  type Workflow,
} from './raw-protocol.js';

export function runProtocolSuite(
  name: string,
  target: () => Promise<{ url: string; cleanup(): Promise<void> }>,
): void {
  describe(`ComfyUI protocol: ${name}`, () => {
    let url = '';
    let cleanup: () => Promise<void> = async () => undefined;
    let ws: RawSocket;
    /** Blur nodes needed for a job of about two seconds on this server (measured, so both servers get a real wait). */
    let slowBlurs = 3;
    const SLOW_SIZE = 1024;
    const slow = (label: string) => slowWorkflow(uniquePrefix(label), slowBlurs, SLOW_SIZE, randomColor());

    const run = async (prompt: Workflow, socket: RawSocket = ws) => {
      const { status, promptId, body } = await submit(url, prompt, socket.clientId);
      expect(status, JSON.stringify(body)).toBe(200);
      await socket.waitFor(isDone(promptId));
      return { promptId, messages: socket.of(promptId) };
    };
    const historyOf = async (promptId: string) => (await http(url, `/history/${promptId}`)).json();

    beforeAll(async () => {
      ({ url, cleanup } = await target());
      ws = await openSocket(url);
      // Warm up, then time a one-blur job: the slow jobs below chain enough blurs for about two seconds.
      await run(slowWorkflow(uniquePrefix('warm-up'), 1, SLOW_SIZE, randomColor()));
      const t0 = performance.now();
      await run(slowWorkflow(uniquePrefix('calibrate'), 1, SLOW_SIZE, randomColor()));
      slowBlurs = Math.min(60, Math.max(3, Math.ceil(2000 / Math.max(performance.now() - t0, 1))));
    }, 120_000);

    afterAll(async () => {
      ws?.close();
      await cleanup();
    });

    it('serves every route bare and under /api, and reports its version', async () => {
      const bare = (await http(url, '/system_stats')).json<{
        system: { comfyui_version: string };
        devices: unknown[];
      }>();
      const api = (await http(url, '/api/system_stats')).json<{ system: { comfyui_version: string } }>();
      expect(bare.system.comfyui_version).toMatch(/^\d+\.\d+\.\d+/);
      expect(api.system.comfyui_version).toBe(bare.system.comfyui_version);
      expect(bare.devices.length).toBeGreaterThan(0);
      expect((await http(url, '/api/queue')).json()).toHaveProperty('queue_pending');
      const info = (await http(url, '/object_info/SaveImage')).json<
        Record<string, { output_node: boolean }>
      >();
      expect(info['SaveImage']?.output_node).toBe(true);
    });

    it('runs a workflow with messages in the real order and writes history before executing null', async () => {
      const prefix = uniquePrefix('order');
      const promptId = randomUUID();
      const answer = await submit(url, trivialWorkflow(prefix, randomColor()), ws.clientId, {
        prompt_id: promptId,
      });
      expect(answer.body).toMatchObject({ prompt_id: promptId, node_errors: {} });
      expect(typeof answer.body['number']).toBe('number');
      await ws.waitFor(isDone(promptId));
      // Reading history the moment executing-null arrives must already find the entry.
      const history = await historyOf(promptId);
      const all = ws.messages;
      const mine = all.filter((m) => m.data?.['prompt_id'] === promptId || m.type === 'status');
      const first = mine.findIndex((m) => m.type === 'execution_start');
      const sequence = mine
        .slice(first)
        .filter((m) => m.type !== 'progress_state')
        .map((m) =>
          m.type === 'executing' || m.type === 'executed' ? `${m.type}:${String(m.data['node'])}` : m.type,
        );
      expect(sequence).toEqual([
        'execution_start',
        'execution_cached',
        'executing:1',
        'executing:2',
        'executing:3',
        'executed:3',
        'execution_success',
        'status',
        'executing:null',
      ]);
      const cached = mine.find((m) => m.type === 'execution_cached')!;
      expect(cached.data['nodes']).toEqual([]);
      const executed = mine.find((m) => m.type === 'executed')!;
      const image = { filename: `${prefix}_00001_.png`, subfolder: '', type: 'output' };
      expect(executed.data['output']).toEqual({ images: [image] });
      expect(history[promptId]).toMatchObject({
        outputs: { '3': { images: [image] } },
        status: { status_str: 'success', completed: true },
      });
      const view = await http(url, `/view?filename=${image.filename}&type=output&subfolder=`);
      expect(view.status).toBe(200);
      expect(view.contentType).toContain('image/png');
      expect(await sharp(view.body).metadata()).toMatchObject({ width: 64, height: 64 });
    });

    it('sends progress_state around each node on 0.3.64 (running, then finished)', async () => {
      const { messages } = await run(trivialWorkflow(uniquePrefix('state'), randomColor()));
      const stateIdx = messages.findIndex((m) => m.type === 'progress_state');
      const execIdx = messages.findIndex((m) => m.type === 'executing' && m.data['node'] === '1');
      expect(stateIdx).toBeGreaterThan(-1);
      expect(stateIdx).toBeLessThan(execIdx);
      const last = messages.filter((m) => m.type === 'progress_state').at(-1)!;
      const nodes = last.data['nodes'] as Record<string, { state: string; value: number; max: number }>;
      expect(Object.keys(nodes).sort()).toEqual(['1', '2', '3']);
      expect(Object.values(nodes).every((n) => n.state === 'finished' && n.value === n.max)).toBe(true);
    });

    it('answers an identical re-run from cache: execution_cached lists every node, executed repeats the file', async () => {
      const wf = trivialWorkflow(uniquePrefix('cache'), randomColor());
      const first = await run(wf);
      const again = await run(wf);
      const cached = again.messages.find((m) => m.type === 'execution_cached')!;
      expect([...(cached.data['nodes'] as string[])].sort()).toEqual(['1', '2', '3']);
      expect(again.messages.filter((m) => m.type === 'executing' && m.data['node'] !== null)).toEqual([]);
      const output = (ms: Msg[]) => ms.find((m) => m.type === 'executed')?.data['output'];
      expect(output(again.messages)).toEqual(output(first.messages));
      expect(again.messages.map((m) => m.type)).toContain('execution_success');
      expect((await historyOf(again.promptId))[again.promptId]).toMatchObject({
        status: { status_str: 'success' },
      });
    });

    it('reports two output nodes as two executed messages and both in history', async () => {
      const prefix = uniquePrefix('two');
      const wf: Workflow = {
        ...trivialWorkflow(prefix, randomColor()),
        '4': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '5': { class_type: 'PreviewImage', inputs: { images: ['4', 0] } },
      };
      const { promptId, messages } = await run(wf);
      const executed = messages.filter((m) => m.type === 'executed').map((m) => m.data['node']);
      expect([...executed].sort()).toEqual(['3', '5']);
      const entry = (await historyOf(promptId))[promptId] as {
        outputs: Record<string, { images: { type: string }[] }>;
      };
      expect(entry.outputs['3']!.images[0]!.type).toBe('output');
      expect(entry.outputs['5']!.images[0]!.type).toBe('temp');
    });

    describe('rejects invalid workflows with 400 and node_errors, sending nothing on the socket', () => {
      const rejected = async (wf: Workflow) => {
        const answer = await http(url, '/prompt', { body: { prompt: wf, client_id: ws.clientId } });
        expect(answer.status).toBe(400);
        return answer.json<PromptRejection>();
      };

      it('an unknown class_type is invalid_prompt naming it', async () => {
        const body = await rejected({
          ...trivialWorkflow('x'),
          '4': { class_type: 'NoSuchNode', inputs: {} },
        });
        expect(body.error).toMatchObject({ type: 'invalid_prompt', details: "Node ID '#4'" });
        expect(body.error.message).toContain('NoSuchNode');
        expect(body.node_errors).toEqual({});
      });

      it('a missing input is required_input_missing on that node', async () => {
        const wf = trivialWorkflow('x');
        delete wf['1']!.inputs['color'];
        const body = await rejected(wf);
        expect(body.error.type).toBe('prompt_outputs_failed_validation');
        expect(body.node_errors['1']).toEqual({
          errors: [
            {
              type: 'required_input_missing',
              message: 'Required input is missing',
              details: 'color',
              extra_info: { input_name: 'color' },
            },
          ],
          dependent_outputs: ['3'],
          class_type: 'EmptyImage',
        });
      });

      it('a model file the server lacks is value_not_in_list on the loader', async () => {
        const body = await rejected({
          '4': {
            class_type: 'CheckpointLoaderSimple',
            inputs: { ckpt_name: 'storycore-missing.safetensors' },
          },
          '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
          '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse', clip: ['4', 1] } },
          '7': {
            class_type: 'KSampler',
            inputs: {
              model: ['4', 0],
              positive: ['6', 0],
              negative: ['6', 0],
              latent_image: ['5', 0],
              seed: 1,
              steps: 2,
              cfg: 7,
              sampler_name: 'euler',
              scheduler: 'normal',
              denoise: 1,
            },
          },
          '8': { class_type: 'VAEDecode', inputs: { samples: ['7', 0], vae: ['4', 2] } },
          '9': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: 'x' } },
        });
        const loader = body.node_errors['4']!;
        expect(loader.class_type).toBe('CheckpointLoaderSimple');
        expect(loader.errors[0]!).toMatchObject({
          type: 'value_not_in_list',
          extra_info: { input_name: 'ckpt_name', received_value: 'storycore-missing.safetensors' },
        });
        expect(loader.errors[0]!.details).toMatch(/^ckpt_name: 'storycore-missing.safetensors' not in \[/);
      });

      it('a LoadImage of a file that is not there is custom_validation_failed "Invalid image file"', async () => {
        const body = await rejected({
          '1': { class_type: 'LoadImage', inputs: { image: 'storycore-nope.png' } },
          '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
        });
        expect(body.node_errors['1']!.errors).toEqual([
          {
            type: 'custom_validation_failed',
            message: 'Custom validation failed for node',
            details: 'image - Invalid image file: storycore-nope.png',
            extra_info: { input_name: 'image' },
          },
        ]);
      });

      it('out-of-range numbers are value_smaller_than_min / value_bigger_than_max', async () => {
        const wf = trivialWorkflow('x');
        wf['1']!.inputs['width'] = 0;
        wf['1']!.inputs['height'] = 99999;
        const types = (await rejected(wf)).node_errors['1']!.errors.map((e) => e.type);
        expect(types.sort()).toEqual(['value_bigger_than_max', 'value_smaller_than_min']);
        const seen = ws.messages.length;
        await new Promise((r) => setTimeout(r, 200));
        expect(ws.messages.slice(seen).filter((m) => m.type !== 'status')).toEqual([]);
      });
    });

    it('reports a runtime failure as execution_error and no execution_success', async () => {
      const wf: Workflow = {
        ...trivialWorkflow(uniquePrefix('fail'), randomColor()),
        '2': {
          class_type: 'ImageBlend',
          inputs: {
            image1: ['1', 0],
            image2: ['1', 0],
            blend_factor: 0.5,
            blend_mode: 'storycore-no-such-mode',
          },
        },
      };
      const { promptId, messages } = await run(wf);
      const error = messages.find((m) => m.type === 'execution_error')!;
      expect(error.data).toMatchObject({
        node_id: '2',
        node_type: 'ImageBlend',
        exception_type: 'ValueError',
      });
      expect(String(error.data['exception_message'])).toContain(
        'Unsupported blend mode: storycore-no-such-mode',
      );
      expect(messages.map((m) => m.type)).not.toContain('execution_success');
      expect((await historyOf(promptId))[promptId]).toMatchObject({
        status: { status_str: 'error', completed: false },
      });
    });

    it('answers {} for an unknown prompt and for a pending one; deletes a pending job from the queue', async () => {
      expect(await historyOf(randomUUID())).toEqual({});
      const running = await submit(url, slow('busy'), ws.clientId);
      await ws.waitFor((m) => m.type === 'execution_start' && m.data['prompt_id'] === running.promptId);
      const pending = await submit(url, trivialWorkflow(uniquePrefix('pending'), randomColor()), ws.clientId);
      expect(await historyOf(pending.promptId)).toEqual({});
      const queue = (await http(url, '/queue')).json<{
        queue_pending: unknown[][];
        queue_running: unknown[][];
      }>();
      expect(queue.queue_running.map((item) => item[1])).toEqual([running.promptId]);
      expect(queue.queue_pending.map((item) => item[1])).toContain(pending.promptId);
      const del = await http(url, '/queue', { body: { delete: [pending.promptId] } });
      expect(del.status).toBe(200);
      const after = (await http(url, '/queue')).json<{ queue_pending: unknown[][] }>();
      expect(after.queue_pending.map((item) => item[1])).not.toContain(pending.promptId);
      await ws.waitFor(isDone(running.promptId), 120_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(ws.of(pending.promptId)).toEqual([]);
      expect(await historyOf(pending.promptId)).toEqual({});
    });

    it('interrupts only the running job named by prompt_id; the next job runs to success and the queue empties', async () => {
      const a = await submit(url, slow('interrupt-a'), ws.clientId);
      const b = await submit(url, trivialWorkflow(uniquePrefix('interrupt-b'), randomColor()), ws.clientId);
      await ws.waitFor(
        (m) => m.type === 'executing' && m.data['prompt_id'] === a.promptId && m.data['node'] === '10',
      );
      // Neither of these touches anything: B is not running, and a queue delete never stops the running job.
      await http(url, '/interrupt', { body: { prompt_id: b.promptId } });
      await http(url, '/queue', { body: { delete: [a.promptId] } });
      expect((await http(url, '/interrupt', { body: { prompt_id: a.promptId } })).status).toBe(200);
      const interrupted = await ws.waitFor((m) => m.type === 'execution_interrupted', 120_000);
      expect(interrupted.data['prompt_id']).toBe(a.promptId);
      expect(String(interrupted.data['node_id'])).toMatch(/^(1\d|[2-6]\d|8|9)$/);
      await ws.waitFor(isDone(a.promptId));
      await ws.waitFor(isDone(b.promptId), 60_000);
      expect(ws.of(b.promptId).map((m) => m.type)).toContain('execution_success');
      expect(ws.of(a.promptId).map((m) => m.type)).not.toContain('execution_success');
      expect((await historyOf(a.promptId))[a.promptId]).toMatchObject({
        status: { status_str: 'error', completed: false },
      });
      expect((await http(url, '/queue')).json()).toEqual({ queue_running: [], queue_pending: [] });
    });

    it("routes a job's events to its client_id only; other sockets hear status only", async () => {
      const other = await openSocket(url);
      try {
        const { promptId } = await run(trivialWorkflow(uniquePrefix('route'), randomColor()));
        await new Promise((r) => setTimeout(r, 100));
        expect(other.of(promptId)).toEqual([]);
        expect(new Set(other.messages.map((m) => m.type))).toEqual(new Set(['status']));
      } finally {
        other.close();
      }
    });

    it('gives the events to the newest socket when a clientId connects twice', async () => {
      const id = randomUUID();
      const older = await openSocket(url, id);
      const newer = await openSocket(url, id);
      try {
        const { promptId } = await run(trivialWorkflow(uniquePrefix('twice'), randomColor()), newer);
        expect(newer.of(promptId).map((m) => m.type)).toContain('execution_success');
        expect(older.of(promptId)).toEqual([]);
      } finally {
        newer.close();
        older.close();
      }
    });

    it('reuses an identical upload, renames a different one, overwrites on request, and LoadImage reads it', async () => {
      const name = `${uniquePrefix('upload')}.png`;
      const png = (hex: string) =>
        sharp({ create: { width: 8, height: 8, channels: 3, background: hex } })
          .png()
          .toBuffer();
      const [red, green] = [await png('#ff0000'), await png('#00ff00')];
      const upload = async (bytes: Buffer, fields: Record<string, string> = {}) => {
        const form = new FormData();
        form.append('image', new Blob([new Uint8Array(bytes)]), name);
        for (const [k, v] of Object.entries(fields)) form.append(k, v);
        return http(url, '/upload/image', { raw: form });
      };
      expect((await upload(red)).json()).toEqual({ name, subfolder: '', type: 'input' });
      expect((await upload(red)).json()).toMatchObject({ name });
      const renamed = name.replace(/\.png$/, ' (1).png');
      expect((await upload(green)).json()).toMatchObject({ name: renamed });
      expect((await upload(green, { overwrite: 'true' })).json()).toMatchObject({ name });
      const noImage = new FormData();
      noImage.append('subfolder', '');
      const bad = await http(url, '/upload/image', { raw: noImage });
      expect([bad.status, bad.body.length]).toEqual([400, 0]);
      const { messages } = await run({
        '1': { class_type: 'LoadImage', inputs: { image: renamed } },
        '2': {
          class_type: 'SaveImage',
          inputs: { images: ['1', 0], filename_prefix: uniquePrefix('loaded') },
        },
      });
      expect(messages.map((m) => m.type)).toContain('execution_success');
    });

    it('answers /view with 404 for a missing file, 400 for "..", 403 for a subfolder escape', async () => {
      const missing = await http(url, `/view?filename=${uniquePrefix('none')}.png&type=output`);
      expect([missing.status, missing.body.length]).toEqual([404, 0]);
      expect((await http(url, '/view?filename=../secret.png&type=output')).status).toBe(400);
      expect((await http(url, '/view?filename=x.png&type=output&subfolder=../..')).status).toBe(403);
    });

    it('answers a body that is not JSON with a plain-text 500', async () => {
      for (const path of ['/prompt', '/queue']) {
        const answer = await http(url, path, { raw: 'this is not json{' });
        expect(answer.status).toBe(500);
        expect(answer.contentType).toContain('text/plain');
        expect(answer.text).toContain('500 Internal Server Error');
      }
    });

    it('puts a front:true job ahead with a negative number', async () => {
      const answer = await submit(url, trivialWorkflow(uniquePrefix('front'), randomColor()), ws.clientId, {
        front: true,
      });
      expect(answer.body['number']).toBeLessThan(0);
      await ws.waitFor(isDone(answer.promptId));
    });
  });
}
