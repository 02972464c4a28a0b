import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateProject } from '../src/project/validate.js';
import { SqliteRunStore } from '../src/store/index.js';
import {
  REPO_ROOT,
  assertCliBuilt,
  isEvent,
  parseJsonLines,
  runCli,
  startCli,
  tempDir,
  testProject,
  writeTestProject,
  type CliJsonLine,
} from './helpers/cli.js';

/** A Node stack frame: what a user must never see for a mistake in their input. */
const STACK_LINE = /^\s{4}at /m;
const STAGES = ['grid', 'comfyui', 'promotion', 'qa', 'export'];

let tmp: { path: string; remove: () => Promise<void> };
let smallProject: string;

beforeAll(async () => {
  assertCliBuilt();
  tmp = await tempDir('cli');
  smallProject = await writeTestProject(
    join(tmp.path, 'small'),
    testProject({ shots: 6, width: 320, height: 180 }),
  );
});
afterAll(async () => {
  await tmp.remove();
});

const ws = (name: string): string[] => ['-w', join(tmp.path, name, 'ws')];
const outDir = (name: string): string => join(tmp.path, name, 'out');

describe('storycore validate', () => {
  it('accepts a valid project with exit 0 and a ✔ line naming it', async () => {
    const r = await runCli(['validate', smallProject]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^✔ .*project "CLI test storyboard" \(cli-test\) with 6 shots is valid$/m);
    expect(r.stderr).toBe('');
  });

  it('prints one JSON object with --json', async () => {
    const r = await runCli(['--json', 'validate', smallProject]);
    expect(r.code).toBe(0);
    expect(parseJsonLines(r.stdout)).toEqual([{ ok: true, id: 'cli-test', shots: 6 }]);
  });

  it('rejects an invalid project with exit 2, every problem listed with its JSON path and no stack trace', async () => {
    const bad = testProject({ shots: 2, width: 320, height: 180 }) as {
      shots: Array<Record<string, unknown>>;
    } & Record<string, unknown>;
    bad['schemaVersion'] = 2;
    bad['output'] = { width: 10, height: 180 };
    bad.shots[0]!['prompt'] = 'short';
    bad.shots[1]!['id'] = bad.shots[0]!['id'];
    bad.shots[1]!['colour'] = 'red';
    const file = await writeTestProject(join(tmp.path, 'bad'), bad);
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`✖ ${file} is not a valid StoryCore project (5 problems)`);
    for (const path of [
      '$.schemaVersion',
      '$.output.width',
      '$.shots[0].prompt',
      '$.shots[1].id',
      '$.shots[1].colour',
    ]) {
      expect(r.stderr).toContain(`  - ${path}: `);
    }
    expect(r.stderr).toContain('duplicate shot id "shot-01"');
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('reports a missing file with exit 2 naming the file', async () => {
    const missing = join(tmp.path, 'nowhere', 'project.json');
    const r = await runCli(['validate', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot read project file ${missing}`);
    expect(r.stderr).toContain('ENOENT');
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('reports broken JSON with exit 2 and the line and column of the mistake, once', async () => {
    const file = join(tmp.path, 'broken.json');
    await writeFile(file, '{\n  "schemaVersion": 1,\n  "id": "x"\n  "name": "y"\n}\n');
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid JSON at line 4, column 3/);
    expect(r.stderr.match(/line 4, column 3/g)).toHaveLength(1);
    expect(r.stderr).not.toMatch(STACK_LINE);
  });
});

describe('storycore generate, piped', () => {
  let first: { code: number | null; lines: CliJsonLine[]; stderr: string };

  beforeAll(async () => {
    const r = await runCli([...ws('gen'), 'generate', smallProject, '-o', outDir('gen')]);
    first = { code: r.code, lines: parseJsonLines(r.stdout), stderr: r.stderr };
  });

  it('prints only JSON lines: run-started, progress, five stage-completed, run-finished and a successful result', () => {
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const types = first.lines.map((l) => l.type);
    expect(types[0]).toBe('run-started');
    expect(types).toContain('progress');
    expect(first.lines.filter((l) => l.type === 'stage-completed').map((l) => l['stage'])).toEqual(STAGES);
    expect(types.at(-2)).toBe('run-finished');
    expect(first.lines.at(-2)?.['status']).toBe('succeeded');
    const result = first.lines.at(-1)!;
    expect(result.type).toBe('result');
    expect(result['success']).toBe(true);
    expect(result['executedSteps']).toBe(9 + 1 + 6 * 3 + 2); // sheet, shots, export and animatic
    expect(result['generatedShots']).toHaveLength(6);
    const progress = first.lines.filter((l) => l.type === 'progress').map((l) => l['progress'] as number);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(100);
  });

  it('reuses every step on a second generate of the same project', async () => {
    const r = await runCli([...ws('gen'), 'generate', smallProject, '-o', outDir('gen')]);
    expect(r.code).toBe(0);
    const result = parseJsonLines(r.stdout).at(-1)!;
    expect(result).toMatchObject({ type: 'result', success: true, executedSteps: 0, reusedSteps: 30 });
  });

  it('lists the run with `runs` and shows it succeeded with `status`', async () => {
    const runId = first.lines[0]!['runId'] as string;
    const runs = await runCli([...ws('gen'), 'runs']);
    expect(runs.code).toBe(0);
    expect(runs.stdout).toMatch(new RegExp(`^${runId}\\s+succeeded\\s+cli-test\\s`, 'm'));

    const status = await runCli([...ws('gen'), 'status', runId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`${runId}: succeeded — project cli-test, backend draft`);
    expect(status.stdout).toContain('steps: 30 run, 0 reused, 0 failed, 0 running');
    expect(status.stdout).toMatch(/^export: .*cli-test-/m);

    const json = await runCli([...ws('gen'), '--json', 'status', runId]);
    const [record] = parseJsonLines(json.stdout) as unknown as Array<{
      id: string;
      status: string;
      steps: unknown[];
    }>;
    expect(record).toMatchObject({ id: runId, status: 'succeeded' });
    expect(record!.steps).toHaveLength(30);

    const listed = parseJsonLines((await runCli([...ws('gen'), 'runs', '--json'])).stdout);
    expect(listed.map((l) => (l as unknown as { status: string }).status)).toEqual([
      'succeeded',
      'succeeded',
    ]);
  });

  it('keeps generating when the reader of its output goes away', async () => {
    const cli = startCli([...ws('epipe'), 'generate', smallProject, '-o', outDir('epipe')]);
    await cli.waitForLine(() => true);
    cli.child.stdout.destroy();
    const exit = await cli.exited;
    expect(cli.stderr()).not.toContain('EPIPE');
    expect(cli.stderr()).not.toMatch(STACK_LINE);
    expect(exit.code).toBe(0);
    const runs = await runCli([...ws('epipe'), 'runs']);
    expect(runs.stdout).toMatch(/\ssucceeded\s+cli-test\s/);
  });
});

describe('storycore usage errors', () => {
  it('rejects an unknown option with exit 2 naming it', async () => {
    const r = await runCli(['generate', smallProject, '--turbo']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--turbo'");
  });

  it('rejects `resume` of an unknown run with exit 2 and a clear message', async () => {
    const r = await runCli([...ws('gen'), 'resume', 'run-nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^✖ no run with id "run-nope" in .*ws$/m);
    expect(r.stderr).not.toMatch(STACK_LINE);
  });
});

describe('storycore init and import', () => {
  it('init writes a valid project into a new folder and refuses to overwrite it without --force', async () => {
    const dir = join(tmp.path, 'init', 'deeper');
    const r = await runCli(['init', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`✔ wrote ${join(dir, 'project.json')}`);
    const written = JSON.parse(await readFile(join(dir, 'project.json'), 'utf8')) as unknown;
    expect(validateProject(written).ok).toBe(true);
    expect((await runCli(['validate', dir])).code).toBe(0);

    await writeFile(join(dir, 'project.json'), '{"mine": true}\n');
    const again = await runCli(['init', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists; pass --force to overwrite it');
    expect(await readFile(join(dir, 'project.json'), 'utf8')).toBe('{"mine": true}\n');

    expect((await runCli(['init', dir, '--force'])).code).toBe(0);
    expect(validateProject(JSON.parse(await readFile(join(dir, 'project.json'), 'utf8'))).ok).toBe(true);
  });

  it('import turns the StoryCore-Engine fixture into a valid project, with warnings on stderr', async () => {
    const fixture = join(REPO_ROOT, 'test', 'fixtures', 'storycore-engine', 'harbour-night');
    const output = join(tmp.path, 'imported', 'project.json');
    const r = await runCli(['import', fixture, '-o', output]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^✔ imported 5 shots from /m);
    expect(r.stderr).toMatch(/^warning: /m);
    const validated = await runCli(['validate', output]);
    expect(validated.code).toBe(0);
    expect(validated.stdout).toContain('"Harbour at Night" (storycore_harbour-night) with 5 shots is valid');
    expect((await runCli(['import', fixture, '-o', output])).code).toBe(2);
  });
});

describe('storycore resume --out', () => {
  it('exports where the run started unless --out is given, and then where it says', async () => {
    const first = await runCli([...ws('move'), 'generate', smallProject, '-o', outDir('move')]);
    expect(first.code).toBe(0);
    const runId = parseJsonLines(first.stdout).at(-1)!['runId'] as string;

    const same = parseJsonLines((await runCli([...ws('move'), 'resume', runId])).stdout).at(-1)!;
    expect(same).toMatchObject({ type: 'result', success: true, executedSteps: 0 });
    expect(same['exportDir'] as string).toContain(outDir('move'));

    const elsewhere = join(tmp.path, 'move', 'elsewhere');
    const moved = parseJsonLines((await runCli([...ws('move'), 'resume', runId, '-o', elsewhere])).stdout).at(
      -1,
    )!;
    expect(moved).toMatchObject({ type: 'result', success: true, executedSteps: 2 }); // the export and its animatic
    expect(moved['exportDir'] as string).toContain(elsewhere);
  });
});

describe('storycore generate, sent SIGTERM', () => {
  it('cancels cleanly like Ctrl-C but exits 143, and the run is cancelled and resumable', async () => {
    const project = await writeTestProject(
      join(tmp.path, 'term'),
      testProject({ id: 'term', shots: 24, width: 640, height: 360 }),
    );
    const cli = startCli([...ws('term'), 'generate', project, '-o', outDir('term')]);
    await cli.waitForLine((line) => isEvent(line, 'step-completed') && line.includes('"stage":"comfyui"'));
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(143);
    const lines = parseJsonLines(cli.stdout());
    const runId = lines[0]!['runId'] as string;
    expect(lines.find((l) => l.type === 'note' && l['status'] === 'cancelled')).toMatchObject({ runId });
    const runs = await runCli([...ws('term'), 'runs']);
    expect(runs.stdout).toMatch(new RegExp(`^${runId}\\s+cancelled\\s`, 'm'));
  });
});

describe('storycore generate, twice at once', () => {
  it('refuses the second run of a project while the first is live, naming it, and runs it once the first is done', async () => {
    const project = await writeTestProject(
      join(tmp.path, 'twice'),
      testProject({ id: 'twice', shots: 24, width: 640, height: 360 }),
    );
    const args = [...ws('twice'), 'generate', project, '-o', outDir('twice')];
    const first = startCli(args);
    const started = await first.waitForLine((line) => isEvent(line, 'run-started'));
    const runId = JSON.parse(started)['runId'] as string;

    const second = await runCli(args);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`project "twice" is already being generated by run ${runId}`);
    expect(second.stderr).not.toMatch(/^\s+at /m);

    expect((await first.exited).code).toBe(0);
    const again = await runCli(args);
    expect(again.code).toBe(0);
    expect(parseJsonLines(again.stdout).at(-1)).toMatchObject({
      type: 'result',
      success: true,
      executedSteps: 0,
    });
  });
});

describe('storycore generate, interrupted with Ctrl-C', () => {
  it('exits 130 within 2 s, leaves the run cancelled, and resume finishes without redoing finished steps', async () => {
    const project = await writeTestProject(
      join(tmp.path, 'big'),
      testProject({ id: 'big', shots: 24, width: 640, height: 360 }),
    );
    const args = [...ws('sigint'), 'generate', project, '-o', outDir('sigint')];
    const cli = startCli(args);
    const shotStepsDone: string[] = [];
    await cli.waitForLine((line) => {
      if (isEvent(line, 'step-completed') && !line.includes('"stage":"grid"')) shotStepsDone.push(line);
      return shotStepsDone.length >= 3;
    });
    const interruptedAt = performance.now();
    cli.child.kill('SIGINT');
    const exit = await cli.exited;
    const exitMs = performance.now() - interruptedAt;
    expect(exit.code).toBe(130);
    expect(exitMs).toBeLessThan(2000);
    const lines = parseJsonLines(cli.stdout());
    const runId = lines[0]!['runId'] as string;
    expect(lines.find((l) => l.type === 'note' && l['status'] === 'cancelled')).toMatchObject({ runId });
    expect(lines.some((l) => l.type === 'result')).toBe(false);

    const runs = await runCli([...ws('sigint'), 'runs']);
    expect(runs.stdout).toMatch(new RegExp(`^${runId}\\s+cancelled\\s`, 'm'));
    const before = parseJsonLines(
      (await runCli([...ws('sigint'), '--json', 'status', runId])).stdout,
    )[0] as unknown as {
      steps: Array<{ stepId: string; status: string }>;
    };
    const doneBefore = before.steps.filter((s) => s.status === 'done').map((s) => s.stepId);
    expect(doneBefore).toContain('sheet:compose');
    expect(doneBefore.filter((id) => !id.startsWith('sheet:')).length).toBeGreaterThanOrEqual(3);

    const resumed = await runCli([...ws('sigint'), 'resume', runId, '-o', outDir('sigint')]);
    expect(resumed.code).toBe(0);
    const events = parseJsonLines(resumed.stdout);
    expect(events[0]).toMatchObject({ type: 'run-started', runId, resumed: true });
    const started = events.filter((e) => e.type === 'step-started').map((e) => e['stepId'] as string);
    expect(started.filter((id) => doneBefore.includes(id))).toEqual([]);
    const result = events.at(-1)!;
    expect(result).toMatchObject({ type: 'result', success: true, runId });
    expect(result['executedSteps']).toBe(9 + 1 + 24 * 3 + 2 - doneBefore.length);

    // The journal agrees: each step finished before the interrupt was executed exactly once.
    const store = SqliteRunStore.open({ path: join(tmp.path, 'sigint', 'ws', 'storycore.db') });
    try {
      for (const stepId of doneBefore) expect(store.countExecutions({ runId, stepId }), stepId).toBe(1);
      expect(store.getRun(runId)?.status).toBe('succeeded');
      expect(store.listExecutions({ runId }).filter((e) => e.outcome === 'running')).toEqual([]);
    } finally {
      store.close();
    }
  });
});
