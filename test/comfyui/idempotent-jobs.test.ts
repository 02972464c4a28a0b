import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createComfyUiBackend, type ComfyUiBackend } from '../../src/backends/comfyui/index.js';
import { promptIdFor } from '../../src/backends/comfyui/backend.js';
import { parseWorkflow } from '../../src/backends/comfyui/workflow.js';
import type { GenerationRequest } from '../../src/backends/types.js';
import { startComfyDouble, type ComfyDouble } from '../support/comfyui-double/index.js';

/**
 * Two workers running the same step (a stalled job taken over while the first still ran, or after it died) ask
 * for the same prompt id and share one execution on the server: the second attaches instead of queueing the work
 * again. Counted on the double, which records every job it accepted.
 */

const started: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.close();
});

async function sdxl(): Promise<{ workflow: ReturnType<typeof parseWorkflow>; source: string }> {
  const file = new URL('../../examples/workflows/sdxl-text-to-image.json', import.meta.url);
  return {
    workflow: parseWorkflow(JSON.parse(await readFile(file, 'utf8')), 'sdxl-text-to-image.json'),
    source: 'sdxl-text-to-image.json',
  };
}

async function double(): Promise<ComfyDouble> {
  const d = await startComfyDouble({
    samplerStepMs: 20,
    models: { checkpoints: ['sd_xl_base_1.0.safetensors'] },
  });
  started.push(d);
  return d;
}

async function worker(servers: string[]): Promise<ComfyUiBackend> {
  const backend = await createComfyUiBackend({ servers, workflow: await sdxl() });
  started.push(backend);
  return backend;
}

const request: GenerationRequest = {
  prompt: 'a lighthouse at dusk, wide shot',
  width: 64,
  height: 64,
  seed: 42,
  purpose: 'shot',
  label: 'shot-01',
};

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('one execution per step across workers (idempotent prompt ids)', () => {
  it('derives the same lowercase UUID from the same work, and another from other work', () => {
    const id = promptIdFor('a'.repeat(64), request);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(promptIdFor('a'.repeat(64), { ...request })).toBe(id);
    expect(promptIdFor('a'.repeat(64), { ...request, seed: 43 })).not.toBe(id);
    expect(promptIdFor('b'.repeat(64), request)).not.toBe(id);
  });

  it('a second worker asking for the same frame attaches to the first one’s job: one execution, same pixels', async () => {
    const d = await double();
    const first = await worker([d.url]);
    const second = await worker([d.url]);
    const a = first.generate(request);
    await until(() => d.submitted.length === 1, 10_000, 'the first job queued');
    const b = await second.generate(request);
    const frameA = await a;
    expect(d.submitted).toHaveLength(1);
    expect(b.metadata['attached']).toMatch(/^(queued|finished)$/);
    expect(b.metadata['promptId']).toBe(frameA.metadata['promptId']);
    expect(Buffer.from(b.raster.data).equals(Buffer.from(frameA.raster.data))).toBe(true);
    // Done, and asked again (a takeover after the first worker finished but died before journaling): no new job.
    const c = await second.generate(request);
    expect(c.metadata['attached']).toBe('finished');
    expect(d.submitted).toHaveLength(1);
  });

  it('in a pool, the server that holds the job is chosen over a less loaded one', async () => {
    const busy = await double();
    const idle = await double();
    const first = await worker([busy.url]);
    const a = first.generate(request);
    await until(() => busy.submitted.length === 1, 10_000, 'the first job queued');
    // The second worker's pool lists the idle server first: least-loaded routing alone would send the job there.
    const second = await worker([idle.url, busy.url]);
    const b = await second.generate(request);
    await a;
    expect(idle.submitted).toHaveLength(0);
    expect(busy.submitted).toHaveLength(1);
    expect(b.metadata['server']).toBe(busy.url);
  });
});
