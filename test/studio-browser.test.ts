import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStudioServer, type StudioServer } from '../src/server/index.js';
import { launchBrowser, newPage as openPage, overflowOf, percentOf, SHOTS_DIR } from './helpers/browser.js';
import { makeProjectInput } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

/*
 * The studio end to end in a real browser (see helpers/browser.ts), with the draft renderer and small frames.
 */
let tmp: TempWorkspace;
let server: StudioServer;
let browser: Browser;

beforeAll(async () => {
  tmp = await createTempWorkspace('storycore-studio-');
  server = await startStudioServer({ port: 0, workspace: tmp.workspace, panelSize: 64 });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await tmp?.dispose();
});

const newPage = (width = 1280, height = 720): Promise<Page> => openPage(browser, width, height);

async function createProject(id: string, shots: number): Promise<void> {
  const res = await fetch(`${server.origin}/api/projects`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(makeProjectInput({ id, shots })),
  });
  expect(res.status).toBe(201);
}

const percent = percentOf;

describe('the studio in a browser', () => {
  it('creates a project, edits it with live validation, generates, watches progress reach 100 %, sees results and downloads the export', async () => {
    const page = await newPage();
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await page.screenshot({ path: join(SHOTS_DIR, 'projects.png') });
    await page.getByLabel('New project name').fill('Harbour at dusk');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByLabel('Shot 1 prompt').waitFor();
    expect(page.url()).toContain('#/projects/harbour-at-dusk');

    await page.getByLabel('Width (px)').fill('320');
    await page.getByLabel('Height (px)').fill('180');
    await page.getByLabel('Shot 1 prompt').fill('A fishing boat returns to a quiet harbour at dusk');
    await page.getByRole('button', { name: 'Add shot' }).click();
    // A new shot's empty prompt is invalid: the CLI's message, and Generate says why it is disabled.
    await expect
      .poll(() => page.getByText('prompt must be at least 10 characters after trimming').count())
      .toBeGreaterThan(0);
    await expect.poll(() => page.getByRole('button', { name: 'Generate' }).isDisabled()).toBe(true);
    expect(await page.getByText('Generate is disabled: fix the problem in the project first').count()).toBe(
      1,
    );
    await page.getByLabel('Shot 2 prompt').fill('Gulls circle above the lighthouse as the lamp comes on');
    await page.getByRole('button', { name: 'Add shot' }).click();
    await page.getByLabel('Shot 3 id').fill('final shot');
    await expect.poll(() => page.getByText('shot id may use only letters').count()).toBeGreaterThan(0);
    await page.getByLabel('Shot 3 id').fill('finale');
    await page.getByLabel('Shot 3 prompt').fill('The harbour lights reflect on still black water at night');
    await page.getByRole('button', { name: 'Move shot 3 up' }).click();
    expect(await page.getByLabel('Shot 2 id').inputValue()).toBe('finale');
    await page.screenshot({ path: join(SHOTS_DIR, 'editor.png'), fullPage: true });

    await page.getByRole('button', { name: 'Generate' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await expect.poll(() => percent(page), { timeout: 60_000 }).toBe(100);
    await dialog.getByRole('heading', { name: 'Sequence generated' }).waitFor();
    expect(await dialog.locator('[data-state="done"]').count()).toBe(5);
    await expect.poll(() => dialog.getByRole('img').count()).toBe(3);
    await page.screenshot({ path: join(SHOTS_DIR, 'progress-done.png') });

    // The saved project is the file the CLI reads, in the order the editor left it.
    const saved = (await (await fetch(`${server.origin}/api/projects/harbour-at-dusk`)).json()) as {
      shots: Array<{ id: string }>;
    };
    expect(saved.shots.map((s) => s.id)).toEqual(['shot-01', 'finale', 'shot-02']);

    await dialog.getByRole('button', { name: 'View results' }).click();
    const results = page.getByRole('region', { name: 'Results' });
    await results.waitFor();
    await expect.poll(() => results.getByTestId('qa-score').count()).toBe(3);
    await results.getByRole('img', { name: 'Master coherence sheet' }).waitFor();
    expect(
      await results.getByRole('list', { name: 'Palette' }).getByRole('listitem').count(),
    ).toBeGreaterThan(0);
    const loaded = await page.evaluate(() =>
      Array.from(document.querySelectorAll('img')).every((img) => img.complete && img.naturalWidth > 0),
    );
    expect(loaded).toBe(true);
    await page.screenshot({ path: join(SHOTS_DIR, 'results.png'), fullPage: true });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      results.getByRole('link', { name: 'Download export (.zip)' }).click(),
    ]);
    const zip = await readFile((await download.path())!);
    expect(zip.subarray(0, 2).toString()).toBe('PK');
    expect(download.suggestedFilename()).toMatch(/^harbour-at-dusk-run-.*\.zip$/);
    await page.context().close();
  });

  it('cancels a run midway, shows it cancelled in the history, and resumes it to 100 %', async () => {
    await createProject('cancel-me', 40);
    const page = await newPage();
    await page.goto(`${server.url}#/projects/cancel-me`);
    await page.getByRole('button', { name: 'Generate' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.getByRole('img').count(), { timeout: 60_000 }).toBeGreaterThan(0);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.getByRole('heading', { name: 'Generation cancelled' }).waitFor();
    const stoppedAt = await percent(page);
    expect(stoppedAt).toBeLessThan(100);
    await page.screenshot({ path: join(SHOTS_DIR, 'progress-cancelled.png') });
    await dialog.getByRole('button', { name: 'Close' }).click();

    const runs = page.getByRole('region', { name: 'Runs' });
    await runs.locator('li[data-status="cancelled"]').waitFor();
    await runs.getByRole('button', { name: 'Resume' }).click();
    await dialog.waitFor();
    await expect.poll(() => percent(page), { timeout: 60_000 }).toBe(100);
    await dialog.getByRole('heading', { name: 'Sequence generated' }).waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await runs.locator('li[data-status="succeeded"]').waitFor();
    expect(await runs.getByRole('listitem').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS_DIR, 'runs.png') });
    await page.context().close();
  });

  it('reloading the page mid-run replays the event log and progress continues to 100 %', async () => {
    await createProject('reload-me', 40);
    const page = await newPage();
    await page.goto(`${server.url}#/projects/reload-me`);
    await page.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => percent(page), { timeout: 60_000 }).toBeGreaterThan(20);
    await page.reload();
    // The reloaded page finds the live run and opens its progress, rebuilt from the log (never back to 0).
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await expect.poll(() => percent(page)).toBeGreaterThan(20);
    expect(await dialog.locator('[data-stage="grid"][data-state="done"]').count()).toBe(1);
    await expect.poll(() => percent(page), { timeout: 60_000 }).toBe(100);
    await dialog.getByRole('heading', { name: 'Sequence generated' }).waitFor();
    await page.context().close();
  });

  it('draws the finished bar to the end: at 100 % the fill is as wide as its track', async () => {
    await createProject('full-bar', 2);
    const page = await newPage();
    await page.goto(`${server.url}#/projects/full-bar`);
    await page.getByRole('button', { name: 'Generate' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Sequence generated' }).waitFor({ timeout: 60_000 });
    expect(await percent(page)).toBe(100);
    const widths = await dialog.getByRole('progressbar').evaluate((bar) => ({
      track: bar.getBoundingClientRect().width,
      fill: (bar.firstElementChild as HTMLElement).getBoundingClientRect().width,
    }));
    expect(widths.fill).toBe(widths.track);
    await page.context().close();
  });

  it('deletes runs from the history: one, then all; a live run is refused with the reason', async () => {
    await createProject('tidy', 2);
    const page = await newPage();
    page.on('dialog', (confirm) => void confirm.accept());
    await page.goto(`${server.url}#/projects/tidy`);
    const runs = page.getByRole('region', { name: 'Runs' });
    const dialog = page.getByRole('dialog');
    for (let i = 0; i < 2; i++) {
      await page.getByRole('button', { name: 'Generate' }).click();
      await dialog.getByRole('heading', { name: 'Sequence generated' }).waitFor({ timeout: 60_000 });
      await dialog.getByRole('button', { name: 'Close' }).click();
    }
    await expect.poll(() => runs.locator('li[data-status="succeeded"]').count()).toBe(2);
    const oldest = (await runs.locator('li code').last().textContent())!;
    await runs.getByRole('button', { name: `Delete run ${oldest}` }).click();
    await expect.poll(() => runs.locator('li[data-status]').count()).toBe(1);
    expect(await runs.getByText(oldest).count()).toBe(0);

    // A live run cannot be deleted: the server's 409 is shown as it is, naming the run.
    const big = makeProjectInput({ id: 'tidy', shots: 40 });
    const put = await fetch(`${server.origin}/api/projects/tidy`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(big),
    });
    expect(put.status).toBe(200);
    await page.reload();
    await page.getByRole('button', { name: 'Generate' }).click();
    await dialog.getByRole('button', { name: 'Hide' }).click();
    await runs.locator('li[data-status="running"]').waitFor();
    const live = (await runs.locator('li[data-status="running"] code').textContent())!;
    expect(await runs.getByRole('button', { name: `Delete run ${live}` }).count()).toBe(0);
    await runs.getByRole('button', { name: 'Delete all runs' }).click();
    await expect
      .poll(() => runs.getByRole('alert').textContent())
      .toContain(`run ${live} of project "tidy" is live: cancel it first`);
    await page.screenshot({ path: join(SHOTS_DIR, 'runs-delete-refused.png') });
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await runs.locator('li[data-status="cancelled"]').waitFor();
    await runs.getByRole('button', { name: 'Delete all runs' }).click();
    await runs.getByText('No runs yet.').waitFor();
    await page.context().close();
  });

  it('is keyboard-usable (focus stays in the modal) and does not overflow at 390×844 or 1280×720', async () => {
    await createProject('layout', 3);
    for (const [width, height] of [
      [390, 844],
      [1280, 720],
    ] as const) {
      const page = await newPage(width, height);
      await page.goto(`${server.url}#/projects/layout`);
      await page.getByLabel('Shot 1 prompt').waitFor();
      const overflow = await overflowOf(page);
      expect(overflow, `${width}×${height}`).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(SHOTS_DIR, `editor-${width}x${height}.png`), fullPage: true });
      await page.getByRole('button', { name: 'Generate' }).focus();
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('heading', { name: 'Sequence generated' }).waitFor({ timeout: 60_000 });
      await expect.poll(() => dialog.getByRole('img').count()).toBe(3);
      expect(await overflowOf(page), `modal ${width}×${height}`).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(SHOTS_DIR, `progress-${width}x${height}.png`) });
      for (let i = 0; i < 8; i++) {
        await page.keyboard.press('Tab');
        expect(await page.evaluate(() => !!document.activeElement?.closest('[role="dialog"]'))).toBe(true);
      }
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      // Focus goes back to where it was.
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Generate');
      await page.context().close();
    }
  });
});
