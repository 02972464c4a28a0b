import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  assertCliBuilt,
  parseJsonLines,
  runCli,
  tempDir,
  testProject,
  writeTestProject,
} from '../helpers/cli.js';
import { startComfyDouble, type ComfyDouble } from '../support/comfyui-double/index.js';

/**
 * The pool from the command line, on test doubles: `comfyui check` with several URLs prints one table and exits 0
 * when one server is usable; `generate` over a pool whose second server is down at start says so once, finishes on
 * the live one, and the manifest names the server of every frame.
 */

const CKPT = 'sd_xl_base_1.0.safetensors';
let tmp: { path: string; remove: () => Promise<void> };
let full: ComfyDouble;
let bare: ComfyDouble;

beforeAll(async () => {
  assertCliBuilt();
  tmp = await tempDir('pool-cli');
  [full, bare] = await Promise.all([
    startComfyDouble({ models: { checkpoints: [CKPT] } }),
    startComfyDouble(),
  ]);
});
afterAll(async () => {
  await Promise.all([full?.close(), bare?.close()]);
  await tmp?.remove();
});

describe('storycore with several ComfyUI servers', () => {
  it('comfyui check prints one table, names what is wrong where, and exits 0 when one server qualifies', async () => {
    const workflow = join(REPO_ROOT, 'examples/workflows/sdxl-text-to-image.json');
    const both = await runCli(['comfyui', 'check', full.url, bare.url, '--workflow', workflow]);
    expect(both.code, both.stderr).toBe(0);
    const lines = both.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^server\s+state\s+ComfyUI\s+device\s+free VRAM\s+queue\s+workflow$/);
    expect(lines[1]).toMatch(new RegExp(`^✔ ${full.url}\\s+reachable\\s+0\\.3\\.64\\s+.*valid$`));
    expect(lines[2]).toMatch(new RegExp(`^✖ ${bare.url}\\s+reachable\\s+0\\.3\\.64\\s+.*1 problem\\(s\\)$`));
    expect(both.stdout).toContain('1 of 2 server(s) usable');
    expect(both.stdout).toMatch(new RegExp(`${bare.url}: workflow .*sdxl-text-to-image\\.json: .*${CKPT}`));
    const none = await runCli(['comfyui', 'check', bare.url, 'http://127.0.0.1:9', '--workflow', workflow]);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/✖ http:\/\/127\.0\.0\.1:9\s+unreachable/);
  }, 60_000);

  it('generate over a pool with a server down at start: said once, every frame made, the manifest names the server', async () => {
    // Port 9 (discard): nothing listens there on a test machine, so connections are refused at once (a port freed by
    // closing a server could be reused by a parallel test's server).
    const downUrl = 'http://127.0.0.1:9';
    const project = await writeTestProject(tmp.path, {
      ...testProject({ id: 'pool-cli', shots: 3, width: 160, height: 96 }),
      qa: { regenerateBudget: 0 },
    });
    const workflow = join(REPO_ROOT, 'examples/workflows/demo-model-free.json');
    const out = join(tmp.path, 'out');
    const args = ['generate', project, '--comfyui', full.url, downUrl, '--workflow', workflow, '--json'];
    const result = await runCli([...args, '-w', join(tmp.path, 'ws'), '-o', out], { timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    const events = parseJsonLines(result.stdout);
    const said = events.filter((e) => e['type'] === 'servers' && typeof e['message'] === 'string');
    expect(said.map((e) => e['message'])).toEqual([
      expect.stringMatching(new RegExp(`^127\\.0\\.0\\.1:${new URL(downUrl).port} down: .*${downUrl}`)),
    ]);
    const [dir] = (await readdir(out, { withFileTypes: true })).filter((d) => d.isDirectory());
    const manifest = JSON.parse(await readFile(join(out, dir!.name, 'manifest.json'), 'utf8')) as {
      frames: Array<{ shotId: string; server?: string }>;
    };
    expect(manifest.frames.map((f) => [f.shotId, f.server])).toEqual([
      ['shot-01', full.url],
      ['shot-02', full.url],
      ['shot-03', full.url],
    ]);
  }, 120_000);
});
