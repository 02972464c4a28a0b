import { describe, expect, it } from 'vitest';
import { assertCliBuilt, startCli } from './helpers/cli.js';
import { createTempWorkspace } from './helpers/temp-workspace.js';

describe('storycore serve', () => {
  it('prints its loopback URL, serves the UI and the API, and stops cleanly on SIGTERM', async () => {
    assertCliBuilt();
    const tmp = await createTempWorkspace('storycore-serve-');
    try {
      const cli = startCli(['--workspace', tmp.workspace, 'serve', '--port', '0']);
      const line = await cli.waitForLine((l) => l.startsWith('StoryCore studio: '));
      const url = line.slice('StoryCore studio: '.length);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await (await fetch(`${url}/api/health`)).json()).toMatchObject({ ok: true });
      const page = await fetch(`${url}/`);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('<div id="root">');
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    } finally {
      await tmp.dispose();
    }
  });

  it('off loopback, requires a token: a generated one is in the printed URL', async () => {
    assertCliBuilt();
    const tmp = await createTempWorkspace('storycore-serve-');
    try {
      const cli = startCli(['--workspace', tmp.workspace, 'serve', '--port', '0', '--host', '0.0.0.0']);
      const line = await cli.waitForLine((l) => l.startsWith('StoryCore studio: '));
      const url = new URL(line.slice('StoryCore studio: '.length));
      const token = url.searchParams.get('token');
      expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const api = `http://127.0.0.1:${url.port}/api/health`;
      expect((await fetch(api)).status).toBe(401);
      expect((await fetch(api, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    } finally {
      await tmp.dispose();
    }
  });
});
