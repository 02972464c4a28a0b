import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComfyUiClient, createComfyUiBackend } from '../../src/backends/comfyui/index.js';
import type { Workflow } from '../../src/backends/comfyui/workflow.js';
import {
  BackendFailedError,
  BackendUnreachableError,
  CancelledError,
  ValidationError,
} from '../../src/core/errors.js';

/**
 * What the ComfyUI client promises, held against any server that speaks the protocol: the test double in
 * `npm test`, a real ComfyUI in `npm run test:comfyui`. Model-free workflows only (the real test server has no weights).
 */

export interface ComfyTarget {
  url: string;
  /** The server assigns its own prompt ids (ComfyUI before 0.3.4x): no job can be found by an id we chose. */
  ignoresClientPromptIds?: boolean;
  /** A job that takes a few seconds on this server. */
  slowWorkflow(tag: string): Workflow;
  cleanup(): Promise<void>;
}

export interface RestartableTarget extends ComfyTarget {
  /** Kills the server (its port stops answering). */
  stop(): Promise<void>;
  /** Brings it back on the same port, with an empty queue and history, as a restarted ComfyUI. */
  start(): Promise<void>;
}

export function trivialWorkflow(tag: string, color = 0x336699): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: `sc-test/${tag}` } },
  };
}

function twoOutputs(tag: string): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 8, batch_size: 1, color: 0xff0000 } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: `sc-test/${tag}-a` } },
    '4': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `sc-test/${tag}-b` } },
  };
}

async function settleWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function runClientSuite(name: string, make: () => Promise<ComfyTarget>): void {
  describe(`ComfyUI client against ${name}`, () => {
    let target: ComfyTarget;
    let client: ComfyUiClient;
    beforeAll(async () => {
      target = await make();
      client = new ComfyUiClient(target.url);
    });
    afterAll(async () => {
      await client?.close();
      await target?.cleanup();
    });

    it('settles 100 trivial jobs and 10 fully cached re-runs, each with its output', async () => {
      const run = randomUUID().slice(0, 8);
      const results = [];
      // Four in flight: the server queues them; every one must come back.
      for (let batch = 0; batch < 25; batch++) {
        results.push(
          ...(await settleWithin(
            Promise.all(
              Array.from({ length: 4 }, (_, i) =>
                client.run(trivialWorkflow(`${run}-${batch * 4 + i}`, batch * 4 + i)),
              ),
            ),
            60_000,
            `batch ${batch}`,
          )),
        );
      }
      expect(results).toHaveLength(100);
      for (const r of results) expect(r.outputs['2']?.images?.[0]?.filename).toMatch(/\.png$/);
      expect(new Set(results.map((r) => r.promptId)).size).toBe(100);
      for (let i = 0; i < 10; i++) {
        const wf = trivialWorkflow(`${run}-cached-${i}`, 0x010101 * i);
        const first = await settleWithin(client.run(wf), 30_000, 'first run');
        const again = await settleWithin(client.run(wf), 30_000, 'cached re-run');
        expect(again.cachedNodes.sort()).toEqual(['1', '2']);
        expect(again.outputs['2']?.images).toEqual(first.outputs['2']?.images);
      }
    }, 240_000);

    it('collects the outputs of every output node, not only the first to finish', async () => {
      const r = await client.run(twoOutputs(randomUUID().slice(0, 8)));
      expect(Object.keys(r.outputs).sort()).toEqual(['3', '4']);
      const a = await client.download(r.outputs['3']!.images![0]!);
      const b = await client.download(r.outputs['4']!.images![0]!);
      expect(a.subarray(1, 4).toString()).toBe('PNG');
      expect(b.subarray(1, 4).toString()).toBe('PNG');
      expect(a.equals(b)).toBe(false);
    });

    it('rejects a bad workflow before anything is queued, naming every problem', async () => {
      const bad: Workflow = {
        '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sdxl.safetensors' } },
        '2': { class_type: 'NoSuchNodeAnywhere', inputs: {} },
        '3': { class_type: 'ImageBlur', inputs: { blur_radius: 1, sigma: 1 } },
        '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'bad' } },
      };
      const before = await client.queue();
      const error = await createComfyUiBackend({
        servers: [target.url],
        workflow: { workflow: bad, source: 'bad.json' },
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ValidationError);
      const messages = (error as ValidationError).issues.map((i) => i.message).join('\n');
      expect(messages).toMatch(
        /node 1 CheckpointLoaderSimple: ckpt_name 'sdxl\.safetensors' is not one of the server's models/,
      );
      expect(messages).toMatch(/node 2 NoSuchNodeAnywhere: the server has no node type "NoSuchNodeAnywhere"/);
      expect(messages).toMatch(/node 3 ImageBlur: required input "image" is missing/);
      expect(await client.queue()).toEqual(before);
    });

    it('turns a server-side 400 into a permanent error naming node, class and input', async () => {
      const wf: Workflow = {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': {
          class_type: 'ImageScale',
          inputs: { image: ['1', 0], upscale_method: 'sideways', width: 8, height: 8, crop: 'disabled' },
        },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
      };
      const error = await client.run(wf).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as { retryable?: boolean }).retryable).toBe(false);
      expect(String((error as Error).message)).toMatch(/node 2 \(ImageScale\) input "upscale_method"/);
    });

    it('cancels one of two jobs: it settles at once, the other finishes, the queue is left clean', async () => {
      const tag = randomUUID().slice(0, 8);
      const first = client.run(target.slowWorkflow(`${tag}-a`));
      const controller = new AbortController();
      const second = client.run(target.slowWorkflow(`${tag}-b`), { signal: controller.signal });
      await waitFor(
        async () => (await client.queue()).pending.length + (await client.queue()).running.length >= 2,
        10_000,
        'both queued',
      );
      controller.abort(new CancelledError('user'));
      const t = performance.now();
      await expect(second).rejects.toBeInstanceOf(CancelledError);
      expect(performance.now() - t).toBeLessThan(500);
      const done = await settleWithin(first, 60_000, 'the other job');
      expect(Object.keys(done.outputs)).toContain('3');
      await waitFor(
        async () => {
          const q = await client.queue();
          return q.running.length === 0 && q.pending.length === 0;
        },
        10_000,
        'an empty queue',
      );
    }, 90_000);

    it('interrupts only its own running job (the one queued after it still runs)', async () => {
      const tag = randomUUID().slice(0, 8);
      const controller = new AbortController();
      const mine = client.run(target.slowWorkflow(`${tag}-mine`), { signal: controller.signal });
      const other = new ComfyUiClient(target.url);
      try {
        await waitFor(async () => (await client.queue()).running.length === 1, 10_000, 'mine running');
        const theirs = other.run(target.slowWorkflow(`${tag}-theirs`));
        await waitFor(async () => (await client.queue()).pending.length === 1, 10_000, 'theirs pending');
        controller.abort(new CancelledError('user'));
        await expect(mine).rejects.toBeInstanceOf(CancelledError);
        const result = await settleWithin(theirs, 60_000, "the other client's job");
        expect(result.outputs['3']?.images).toHaveLength(1);
        const history = await other.history(result.promptId);
        expect(history?.status?.status_str).toBe('success');
      } finally {
        await other.close();
      }
    }, 90_000);

    it("never lets another client's failing prompt touch ours", async () => {
      const other = new ComfyUiClient(target.url);
      try {
        const failing: Workflow = {
          '1': { class_type: 'LoadImage', inputs: { image: 'definitely-missing.png' } },
          '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
        };
        const [theirs, mine] = await Promise.allSettled([
          other.run(failing),
          client.run(trivialWorkflow(randomUUID())),
        ]);
        expect(theirs.status).toBe('rejected');
        expect(mine.status).toBe('fulfilled');
      } finally {
        await other.close();
      }
    });

    it('reports progress that never goes back', async () => {
      const seen: number[] = [];
      await client.run(trivialWorkflow(randomUUID()), { onProgress: (p) => seen.push(p.fraction) });
      expect(seen.length).toBeGreaterThan(0);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    });

    it('uploads a reference once under a name derived from its bytes and reads outputs back with /view', async () => {
      const png = await sharp({ create: { width: 4, height: 2, channels: 3, background: '#3366cc' } })
        .png()
        .toBuffer();
      const name = `sc-test-${randomUUID().slice(0, 8)}.png`;
      expect(await client.uploadImage(png, name)).toBe(name);
      expect(await client.uploadImage(png, name)).toBe(name);
      const wf: Workflow = {
        '1': { class_type: 'LoadImage', inputs: { image: name } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: `sc-test/${name}` } },
      };
      const r = await client.run(wf);
      const bytes = await client.download(r.outputs['2']!.images![0]!);
      expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    });

    it('attaches to a job queued under the same idempotent id by a client that went away', async () => {
      const tag = randomUUID().slice(0, 8);
      const id = randomUUID();
      // What a worker that died leaves behind: its job, queued under the id every worker derives for that work.
      const posted = await fetch(`${target.url}/prompt`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: target.slowWorkflow(tag), client_id: randomUUID(), prompt_id: id }),
      });
      expect(posted.status).toBe(200);
      const result = await settleWithin(
        client.run(target.slowWorkflow(tag), { promptId: id }),
        60_000,
        'the attached job',
      );
      expect(result.outputs['3']?.images).toHaveLength(1);
      if (target.ignoresClientPromptIds) {
        // Nothing to find by our id: the work is queued again, and still comes back.
        expect(result.attached).toBeUndefined();
      } else {
        expect(result.promptId).toBe(id);
        expect(result.attached).toMatch(/^(queued|finished)$/);
      }
      await waitFor(async () => (await client.queue()).running.length === 0, 30_000, 'an idle queue');
    }, 90_000);

    it("adopts a finished job's outputs under the same id, never a failed one's", async () => {
      const tag = randomUUID().slice(0, 8);
      const id = randomUUID();
      const first = await client.run(trivialWorkflow(tag), { promptId: id });
      const again = await client.run(trivialWorkflow(tag), { promptId: id });
      expect(again.outputs['2']?.images).toEqual(first.outputs['2']?.images);
      if (!target.ignoresClientPromptIds) {
        expect(first.attached).toBeUndefined();
        expect(again).toMatchObject({ promptId: id, attached: 'finished' });
      }
      // A job that failed under an id is not the answer for that id: the same work runs again under a new one.
      const name = `sc-test-${tag}.png`;
      const failedId = randomUUID();
      await client.uploadImage(Buffer.from('not an image at all'), name);
      const wf: Workflow = {
        '1': { class_type: 'LoadImage', inputs: { image: name } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: `sc-test/${tag}` } },
      };
      await expect(client.run(wf, { promptId: failedId })).rejects.toBeInstanceOf(BackendFailedError);
      const png = await sharp({ create: { width: 4, height: 2, channels: 3, background: '#3366cc' } })
        .png()
        .toBuffer();
      await client.uploadImage(png, name);
      const retried = await client.run(wf, { promptId: failedId });
      expect(retried.promptId).not.toBe(failedId);
      expect(retried.attached).toBeUndefined();
      expect(retried.outputs['2']?.images).toHaveLength(1);
    });

    it('names the node and the exception of a runtime failure', async () => {
      // Validation passes (the file exists), execution fails: an image cropped to a region outside it is fine on
      // ComfyUI, so use a file that is not an image.
      const name = `sc-test-${randomUUID().slice(0, 8)}.png`;
      await client.uploadImage(Buffer.from('not an image at all'), name);
      const wf: Workflow = {
        '1': { class_type: 'LoadImage', inputs: { image: name } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
      };
      const error = await client.run(wf).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BackendFailedError);
      expect((error as Error).message).toMatch(/node 1 LoadImage failed: /);
      expect((error as BackendFailedError).retryable).toBe(false);
    });
  });
}

export function runRestartSuite(
  name: string,
  make: () => Promise<RestartableTarget>,
  restartGraceMs: number,
): void {
  describe(`ComfyUI client when ${name} dies or restarts mid-job`, () => {
    let target: RestartableTarget;
    beforeAll(async () => {
      target = await make();
    }, 180_000);
    afterAll(async () => {
      await target?.cleanup();
    }, 60_000);

    it('a server killed mid-job gives a clear error naming it within 5 s', async () => {
      const client = new ComfyUiClient(target.url, { serverGoneTimeoutMs: 3000 });
      try {
        const job = client.run(target.slowWorkflow(randomUUID()));
        await waitFor(async () => (await client.queue()).running.length === 1, 10_000, 'the job running');
        const killedAt = performance.now();
        await target.stop();
        const error = await settleWithin(
          job.then(
            () => undefined,
            (e: unknown) => e,
          ),
          10_000,
          'the job',
        );
        expect(error).toBeInstanceOf(BackendUnreachableError);
        expect((error as Error).message).toContain(target.url);
        expect(performance.now() - killedAt).toBeLessThan(5000);
      } finally {
        await client.close();
        await target.start();
      }
    }, 120_000);

    it('a server restarted mid-job: the lost job is resubmitted once and finishes', async () => {
      const client = new ComfyUiClient(target.url, {
        serverGoneTimeoutMs: restartGraceMs,
        pollIntervalMs: 250,
      });
      try {
        const job = client.run(target.slowWorkflow(randomUUID()));
        await waitFor(async () => (await client.queue()).running.length === 1, 10_000, 'the job running');
        await target.stop();
        await target.start();
        const result = await settleWithin(job, restartGraceMs + 60_000, 'the resubmitted job');
        expect(result.resubmissions).toBe(1);
        expect(result.outputs['3']?.images).toHaveLength(1);
      } finally {
        await client.close();
      }
    }, 180_000);
  });
}
