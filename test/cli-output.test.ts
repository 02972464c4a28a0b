import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeTerminalText } from '../src/cli/terminal-text.js';
import { SqliteRunStore } from '../src/store/index.js';
import { assertCliBuilt, runCli, startCli, tempDir, testProject, writeTestProject } from './helpers/cli.js';

/** A Node stack frame: what a user must never see. */
const STACK_LINE = /^\s{4}at /m;

let tmp: { path: string; remove: () => Promise<void> };
let workspace = '';
let runIds: string[] = [];

beforeAll(async () => {
  assertCliBuilt();
  tmp = await tempDir('cli-output');
  workspace = join(tmp.path, 'ws');
  // A real store with enough runs that `runs --json` writes well past a pipe's first read.
  const store = SqliteRunStore.open({ path: join(workspace, 'storycore.db') });
  try {
    runIds = Array.from({ length: 400 }, (_, i) => {
      const run = store.createRun({
        projectId: `project-${i}`,
        projectName: `Project ${i}`,
        projectHash: 'x'.repeat(64),
        backend: 'draft',
        options: {},
      });
      store.setRunStatus(run.id, 'failed', {
        error: { code: 'backend-failed', message: 'gone', retryable: true },
      });
      return run.id;
    });
  } finally {
    store.close();
  }
});
afterAll(async () => {
  await tmp.remove();
});

describe('a reader that goes away (`storycore runs --json | head -1`)', () => {
  it.each([
    ['runs --json', () => ['-w', workspace, 'runs', '--json', '-n', '400']],
    ['runs', () => ['-w', workspace, 'runs', '-n', '400']],
    ['status <run>', () => ['-w', workspace, 'status', runIds[0]!]],
    ['status <run> --json', () => ['-w', workspace, 'status', runIds[0]!, '--json']],
  ])('%s ends quietly with exit 0, ten times out of ten', async (_name, args) => {
    for (let i = 0; i < 10; i++) {
      const cli = startCli(args());
      // Like `head -1`: take the first line (or nothing at all, half the time), then close the pipe.
      if (i % 2 === 0) await cli.waitForLine(() => true);
      cli.child.stdout.destroy();
      const exit = await cli.exited;
      expect(cli.stderr()).not.toContain('EPIPE');
      expect(cli.stderr()).not.toMatch(STACK_LINE);
      expect(exit.code).toBe(0);
    }
  });
});

describe('control characters from a project reach the terminal escaped', () => {
  it('validate shows an ESC sequence in the name as \\u001b, never as a raw escape', async () => {
    const project = {
      ...testProject({ shots: 1, width: 320, height: 180 }),
      name: 'Evil \u001b[2J\u001b]0;pwned\u0007 name',
    };
    const file = await writeTestProject(join(tmp.path, 'evil'), project);
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(0);
    // eslint-disable-next-line no-control-regex
    expect(result.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(result.stdout).toContain('Evil \\u001b[2J\\u001b]0;pwned\\u0007 name');
  });

  it('escapes C0, C1, DEL, carriage returns and bidi overrides; keeps newlines, tabs and ordinary Unicode', () => {
    expect(escapeTerminalText('a\u001b[31mb\rc\u009bd\u007fe\u202ef')).toBe(
      'a\\u001b[31mb\\u000dc\\u009bd\\u007fe\\u202ef',
    );
    expect(escapeTerminalText('line 1\n\tline 2 — 灯台守 🌊')).toBe('line 1\n\tline 2 — 灯台守 🌊');
    // A JSON line stays valid and means the same string.
    const line = JSON.stringify({ name: 'x\u009by' });
    expect(JSON.parse(escapeTerminalText(line))).toEqual({ name: 'x\u009by' });
  });
});
