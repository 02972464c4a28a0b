import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStudioServer, type StudioServer } from '../src/server/index.js';
import { launchBrowser, newPage, overflowOf, percentOf, SHOTS_DIR } from './helpers/browser.js';
import { REPO_ROOT } from './helpers/cli.js';
import { makeProjectInput } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';
import { startComfyDouble, type ComfyDouble } from './support/comfyui-double/index.js';

/*
 * The studio in a real browser with ComfyUI behind it: the ComfyUI test double (simulated samplers that send binary
 * previews, faults on demand) and a server that is not there. The backend settings, live previews, retry notices
 * and errors, as a user sees them.
 */
const CKPT = 'sd_xl_base_1.0.safetensors';

let tmp: TempWorkspace;
let server: StudioServer;
let browser: Browser;
let comfy: ComfyDouble;
let bare: ComfyDouble;
let nobody: string;
let workflowText: string;

beforeAll(async () => {
  tmp = await createTempWorkspace('storycore-studio-comfyui-');
  // 12 sampler steps of 60 ms: each request renders for ~0.7 s, sending a preview every step.
  [comfy, bare] = await Promise.all([
    startComfyDouble({ models: { checkpoints: [CKPT] }, samplerStepMs: 60 }),
    startComfyDouble(),
  ]);
  const workflow = JSON.parse(
    await readFile(join(REPO_ROOT, 'examples/workflows/sdxl-text-to-image.json'), 'utf8'),
  ) as Record<string, { inputs: Record<string, unknown> }>;
  workflow['3']!.inputs['steps'] = 12;
  workflowText = JSON.stringify(workflow, null, 1);
  // A port that was just free: connecting to it is refused.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  nobody = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((r) => probe.close(r));
  server = await startStudioServer({ port: 0, workspace: tmp.workspace, panelSize: 64 });
  browser = await launchBrowser();
});
afterEach(() => comfy?.clearFaults());
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await Promise.all([comfy?.close(), bare?.close()]);
  await tmp?.dispose();
});

/** A project of `shots` shots (no QA regenerations: every request is a shot's), opened with ComfyUI chosen. */
async function openWithComfy(id: string, shots: number, servers: string[], width = 1280, height = 720) {
  const res = await fetch(`${server.origin}/api/projects`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...makeProjectInput({ id, shots }), qa: { regenerateBudget: 0 } }),
  });
  expect(res.status).toBe(201);
  const page = await newPage(browser, width, height);
  await page.goto(`${server.url}#/projects/${id}`);
  await page.getByLabel('Shot 1 prompt').waitFor();
  await page.getByLabel('ComfyUI', { exact: true }).check();
  await page.getByLabel('Server URLs (one per line)').fill(servers.join('\n'));
  await page.getByLabel('Workflow (API format JSON, or a path on the server)').fill(workflowText);
  return page;
}

/** Generates, and once the sheet is done (the shots are next) runs `then` — how a fault hits the shots only. */
async function generateThen(page: Page, then: () => void): Promise<void> {
  await page.getByRole('button', { name: 'Generate' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('[data-stage="grid"][data-state="done"]').waitFor({ timeout: 60_000 });
  then();
}

describe('the studio with ComfyUI, in a browser', () => {
  it('checks the backend settings: usable with its version, workflow problems named by node, a refused server said so', async () => {
    for (const [width, height] of [
      [1280, 720],
      [390, 844],
    ] as const) {
      const page = await openWithComfy(`check-${width}`, 1, [comfy.url, bare.url, nobody], width, height);
      await page.getByRole('button', { name: 'Check connection' }).click();
      const status = page.getByRole('status', { name: 'Connection check' });
      const lines = status.getByRole('listitem');
      await expect.poll(() => status.locator('li[data-usable]').count()).toBe(3);
      expect(await status.locator(`li[data-usable="true"]`).textContent()).toContain(
        `${comfy.url}: usable · ComfyUI 0.3.64 · queue 0 running, 0 waiting`,
      );
      const problems = status.getByRole('list', { name: `Workflow problems on ${bare.url}` });
      expect(await problems.textContent()).toMatch(
        /node 4 CheckpointLoaderSimple: ckpt_name 'sd_xl_base_1\.0\.safetensors' is not one of/,
      );
      const refused = (await lines.filter({ hasText: nobody }).first().textContent()) ?? '';
      expect(refused).toContain(`${nobody}: unreachable`);
      expect(refused).toMatch(/refused/i);
      expect(await overflowOf(page), `${width}×${height}`).toBeLessThanOrEqual(0);
      await page.screenshot({
        path: join(SHOTS_DIR, `backend-check-${width}x${height}.png`),
        fullPage: true,
      });

      // No server listed: the API's message, naming the field.
      await page.getByLabel('Server URLs (one per line)').fill('');
      await page.getByRole('button', { name: 'Check connection' }).click();
      await expect.poll(() => status.textContent()).toContain('$.servers: missing');
      await page.context().close();
    }
  });

  it('shows each shot’s live preview as its thumbnail while it renders, replaced by its frame when done', async () => {
    const page = await openWithComfy('live', 3, [comfy.url]);
    await page.getByRole('button', { name: 'Generate' }).click();
    const dialog = page.getByRole('dialog');
    const preview = dialog.getByTestId('live-preview').first();
    await preview.waitFor({ timeout: 60_000 });
    expect(await preview.getAttribute('alt')).toMatch(/^Shot shot-0[1-3] rendering$/);
    expect(await preview.getAttribute('src')).toMatch(/^data:image\/jpeg;base64,/);
    await expect.poll(() => preview.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS_DIR, 'progress-live-preview.png') });
    await dialog.getByRole('heading', { name: 'Sequence generated' }).waitFor({ timeout: 60_000 });
    expect(await percentOf(page)).toBe(100);
    await expect.poll(() => dialog.getByRole('img', { name: /^Frame shot-0[1-3]$/ }).count()).toBe(3);
    expect(await dialog.getByTestId('live-preview').count()).toBe(0);
    await page.context().close();
  });

  it('shows a retry notice when the backend fails a shot once, and still finishes at 100 %', async () => {
    const page = await openWithComfy('flaky', 3, [comfy.url]);
    await generateThen(page, () => comfy.inject({ kind: 'http-500', route: '/prompt', times: 1 }));
    const dialog = page.getByRole('dialog');
    const notices = dialog.getByRole('list', { name: 'Retries' });
    await expect
      .poll(() => notices.textContent(), { timeout: 30_000 })
      .toMatch(
        /Shot shot-0[1-3]: ComfyUI at \S+ answered \/prompt with HTTP 500[\s\S]* — retrying \(attempt 2\) in 2 s/,
      );
    await page.screenshot({ path: join(SHOTS_DIR, 'progress-retry.png') });
    await dialog.getByRole('heading', { name: 'Sequence generated' }).waitFor({ timeout: 60_000 });
    expect(await percentOf(page)).toBe(100);
    expect(await dialog.getByRole('list', { name: 'Errors' }).count()).toBe(0);
    await page.context().close();
  });

  it('explains a shot the backend fails for good in plain words, with the details on demand', async () => {
    const page = await openWithComfy('broken', 3, [comfy.url]);
    await generateThen(page, () => comfy.inject({ kind: 'http-500', route: '/prompt' }));
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Generation failed' }).waitFor({ timeout: 90_000 });
    const errors = dialog.getByRole('list', { name: 'Errors' }).getByRole('listitem');
    expect(await errors.count()).toBeGreaterThan(0);
    const first = errors.first();
    expect(await first.textContent()).toMatch(
      /^Shot shot-0[1-3]: The image backend failed while working on the request\./,
    );
    // The server's own message is behind "Details" until asked for.
    const details = first.locator('details p').first();
    expect(await details.isVisible()).toBe(false);
    await first.getByText('Details').click();
    expect(await details.isVisible()).toBe(true);
    expect(await details.textContent()).toMatch(/500/);
    expect(await first.getByText('Code: backend-failed').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS_DIR, 'progress-failed.png') });
    await page.context().close();
  }, 120_000);
});
