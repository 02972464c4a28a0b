import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './cli.js';

/*
 * The studio's browser tests drive Debian's chromium (`apt-get install -y chromium`) through playwright-core, against
 * `storycore serve` on loopback. Screenshots of each page go to test-artifacts/screenshots (git-ignored).
 */
export const CHROMIUM = process.env['STORYCORE_CHROMIUM'] ?? '/usr/bin/chromium';
export const SHOTS_DIR = join(REPO_ROOT, 'test-artifacts', 'screenshots');

/** Chromium, once the machine is known to have it and the web UI is built (each said plainly when missing). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set STORYCORE_CHROMIUM)`,
    );
  }
  if (!existsSync(join(REPO_ROOT, 'dist', 'web', 'index.html'))) {
    throw new Error('the web UI is not built: run `npm run build` (npm ci runs it)');
  }
  await mkdir(SHOTS_DIR, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** A page in a fresh context (no cookies or storage from another test) at the given viewport. */
export async function newPage(browser: Browser, width = 1280, height = 720): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  return page;
}

/** The progress modal's overall percent, as the user reads it. */
export const percentOf = async (page: Page): Promise<number> =>
  Number((await page.getByTestId('progress-percent').textContent())?.replace(/[^0-9]/g, '') ?? 0);

/** How far the page is wider than the viewport (> 0: a horizontal scrollbar, a layout break). */
export const overflowOf = (page: Page): Promise<number> =>
  page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
