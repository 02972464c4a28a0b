import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComfyUiClient } from '../../src/backends/comfyui/index.js';
import { REPO_ROOT, assertCliBuilt, runCli, startCli, tempDir } from '../helpers/cli.js';
import { realServerUrl } from './real-server.js';

/**
 * The whole product on a real ComfyUI: `storycore generate` of a 3-shot project with the bundled model-free demo
 * workflow, killed with SIGKILL once some frames are done, then run again — which must not send the server anything
 * it already finished (the server's own history says what was sent).
 */

type HistoryAll = Record<
  string,
  { prompt: [number, string, Record<string, { inputs?: Record<string, unknown> }>] }
>;

/** The `filename_prefix` of every prompt in the server's history: `storycore/<run tag>/<label>_<seed>…`. */
async function submittedLabels(url: string): Promise<Map<string, string>> {
  const response = await fetch(`${url}/history?max_items=10000`);
  const history = (await response.json()) as HistoryAll;
  const labels = new Map<string, string>();
  for (const [id, entry] of Object.entries(history)) {
    for (const node of Object.values(entry.prompt[2])) {
      const prefix = node.inputs?.['filename_prefix'];
      const m = typeof prefix === 'string' ? /^storycore\/[^/]+\/([^_]+(?:_[^_]+)*)_\d+/.exec(prefix) : null;
      if (m) labels.set(id, m[1]!);
    }
  }
  return labels;
}

let tmp: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  assertCliBuilt();
  tmp = await tempDir('comfy-e2e');
});
afterAll(async () => {
  await tmp?.remove();
});

describe('storycore generate on a real ComfyUI', () => {
  it('renders a 3-shot project, and after kill -9 a rerun sends nothing already finished', async () => {
    const url = realServerUrl();
    const project = join(tmp.path, 'project.json');
    await writeFile(
      project,
      JSON.stringify({
        schemaVersion: 1,
        id: 'comfy-e2e',
        name: 'ComfyUI end to end',
        // New work on every run of the test: the same seeds would find the jobs of an earlier run in the
        // server's history (prompt ids are derived from the work) and adopt them instead of sending anything.
        globalSeed: randomInt(1, 2 ** 31),
        style: { prompt: 'flat colour studies for an end-to-end test' },
        output: { width: 320, height: 180 },
        // No regenerations: every prompt sent is then exactly one step (a panel or a shot).
        qa: { regenerateBudget: 0 },
        backend: {
          type: 'comfyui',
          servers: [url],
          workflow: join(REPO_ROOT, 'examples/workflows/demo-model-free.json'),
        },
        shots: [
          { id: 'alpha', prompt: 'the first shot of the test' },
          { id: 'bravo', prompt: 'the second shot of the test' },
          { id: 'charlie', prompt: 'the third shot of the test' },
        ],
      }),
    );
    const args = ['generate', project, '-w', join(tmp.path, 'ws'), '-o', join(tmp.path, 'out'), '--json'];
    const before = new Set((await submittedLabels(url)).keys());

    const first = startCli(args, { timeoutMs: 120_000 });
    const doneBeforeKill = new Set<string>();
    await first.waitForLine((line) => {
      const e = JSON.parse(line) as { type?: string; stepId?: string };
      if (e.type === 'step-completed' && e.stepId?.startsWith('generate:')) return true;
      return false;
    }, 120_000);
    first.child.kill('SIGKILL');
    const exit = await first.exited;
    expect(exit.signal).toBe('SIGKILL');
    for (const line of first.lines()) {
      const e = JSON.parse(line) as { type?: string; stepId?: string };
      // Only panels and shots' generate steps send prompts; their labels are the panel id and the shot id.
      const m =
        e.type === 'step-completed' ? /^(?:sheet:(panel-\d+)|generate:(.+))$/.exec(e.stepId ?? '') : null;
      if (m) doneBeforeKill.add((m[1] ?? m[2])!);
    }
    expect(doneBeforeKill.size).toBeGreaterThan(0);
    // Let anything the killed run left queued finish, so it is not mistaken for the rerun's.
    const probe = new ComfyUiClient(url);
    for (let i = 0; i < 100; i++) {
      const q = await probe.queue();
      if (q.running.length + q.pending.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await probe.close();
    const afterKill = new Set((await submittedLabels(url)).keys());

    const second = await runCli(args, { timeoutMs: 120_000 });
    expect(second.code, second.stderr).toBe(0);
    const result = JSON.parse(second.stdout.trim().split('\n').at(-1)!) as {
      success: boolean;
      generatedShots: Array<{ shotId: string }>;
    };
    expect(result.success).toBe(true);
    expect(result.generatedShots.map((s) => s.shotId)).toEqual(['alpha', 'bravo', 'charlie']);

    const all = await submittedLabels(url);
    const resent = [...all].filter(([id]) => !afterKill.has(id) && !before.has(id)).map(([, label]) => label);
    expect(resent.filter((label) => doneBeforeKill.has(label))).toEqual([]);
    // Every frame (9 panels + 3 shots) executed exactly once on the server: what the killed run had queued or
    // running finished there, and the rerun adopted it under the same prompt id instead of sending it again.
    const sentByFirst = [...afterKill].filter((id) => !before.has(id)).length;
    expect(sentByFirst + resent.length).toBe(12);
    expect(resent.length).toBeLessThanOrEqual(12 - doneBeforeKill.size);
  }, 300_000);
});
