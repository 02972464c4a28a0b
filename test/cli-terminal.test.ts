import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLI_BIN, assertCliBuilt, tempDir, testProject, writeTestProject } from './helpers/cli.js';

const run = promisify(execFile);
let tmp: { path: string; remove: () => Promise<void> };

beforeAll(() => assertCliBuilt());
beforeEach(async () => {
  tmp = await tempDir('cli-tty');
});
afterEach(async () => {
  await tmp.remove();
});

/** Runs the CLI on a real pseudo-terminal (util-linux `script`), as a person at a terminal would see it. */
async function onTerminal(args: string[]): Promise<{ code: number; screen: string }> {
  const command = [process.execPath, CLI_BIN, ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
    .join(' ');
  try {
    const { stdout } = await run('script', ['-qefc', command, '/dev/null'], {
      env: { ...process.env, COLUMNS: '140', LINES: '40', TERM: 'xterm-256color' },
      timeout: 60_000,
    });
    return { code: 0, screen: stdout };
  } catch (error) {
    const e = error as { code?: number; stdout?: string };
    return { code: e.code ?? -1, screen: e.stdout ?? '' };
  }
}

describe('storycore generate on a terminal', () => {
  it('draws a progress bar with stage, shots and ETA, ticks off each stage, and ends with a readable summary', async () => {
    const project = await writeTestProject(tmp.path, testProject({ shots: 4, width: 320, height: 180 }));
    const { code, screen } = await onTerminal([
      'generate',
      project,
      '-w',
      join(tmp.path, 'ws'),
      '-o',
      join(tmp.path, 'out'),
    ]);
    // eslint-disable-next-line no-control-regex
    const text = screen.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
    expect(code).toBe(0);
    expect(text).toMatch(/Starting run run-\S+: 4 shots/);
    for (const stage of [
      'Master Coherence Sheet',
      'Generating Shots',
      'Promoting Shots',
      'Quality Analysis',
      'Exporting',
    ]) {
      expect(text).toContain(`✔ ${stage}`);
    }
    expect(text).toMatch(/\|[█░]+\| 100% \| shot 4\/4 \| \d+m \d+s elapsed, ETA 0m 0s/);
    expect(text).toMatch(/✔ run run-\S+: 4 shots, QA [\d.]+\/100/);
    expect(text).toMatch(/Export: .*cli-test-\d{8}T\d{6}Z/);
    // A person at a terminal gets no JSON lines.
    expect(text).not.toMatch(/^\{"type":/m);
  });
});
