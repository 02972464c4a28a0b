import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateProject } from '../src/project/validate.js';
import { REPO_ROOT, runCli, tempDir, testProject, writeTestProject } from './helpers/cli.js';

/**
 * Issue 10 through the real `storycore` executable: `import` says which StoryCore-Engine shape it read, and
 * `generate --write-back` returns a run's URLs to the Creative Studio project file it ran.
 */

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
const STUDIO = join(FIXTURES, 'creative-studio', 'night-market.json');
const SCENES = join(FIXTURES, 'storycore-engine', 'tide-pools');

let tmp: { path: string; remove: () => Promise<void> };
beforeEach(async () => {
  tmp = await tempDir('cli-import');
});
afterEach(async () => {
  await tmp.remove();
});

describe('storycore import', () => {
  it('reads a Creative Studio file, says so, and writes a valid project with warnings on stderr', async () => {
    const output = join(tmp.path, 'project.json');
    const r = await runCli(['import', STUDIO, '-o', output]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^✔ imported 3 shots from .*night-market\.json \(Creative Studio project \(Data Contract v1\)\)/m,
    );
    expect(r.stderr).toMatch(/^warning: \$\.shots\[0\]\.generation\.parameters not imported/m);
    expect(validateProject(JSON.parse(await readFile(output, 'utf8'))).ok).toBe(true);
  });

  it('asks for --style when a scene breakdown gives none, then imports it', async () => {
    const output = join(tmp.path, 'scenes.json');
    const refused = await runCli(['import', SCENES, '-o', output]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('project.json: $.style');
    expect(refused.stderr).toContain('--style');

    const r = await runCli(['--json', 'import', SCENES, '-o', output, '--style', 'Watercolour picture book']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, format: 'engine-scene-breakdown', shots: 3 });
  });
});

describe('storycore generate --write-back', () => {
  it('writes the frame and sheet URLs into the studio file it ran, and nothing else', async () => {
    const studio = JSON.parse(await readFile(STUDIO, 'utf8')) as Record<string, unknown> & {
      shots: Array<Record<string, unknown>>;
      metadata: Record<string, unknown>;
    };
    studio.metadata['resolution'] = '256x144';
    const file = join(tmp.path, 'night-market.json');
    await writeFile(file, JSON.stringify(studio, null, 2));
    const r = await runCli([
      '-w',
      join(tmp.path, 'ws'),
      'generate',
      file,
      '-o',
      join(tmp.path, 'out'),
      '--write-back',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: .*night-market\.json: \$\.assets not imported/m);
    const after = JSON.parse(await readFile(file, 'utf8')) as typeof studio;
    for (const shot of after.shots) expect(shot['generated_image_url']).toMatch(/^file:\/\/.*\.png$/);
    expect(after['master_coherence_sheet']).toMatchObject({
      url: expect.stringMatching(/master_coherence_sheet\.png$/) as unknown,
    });
    delete after['master_coherence_sheet'];
    for (const shot of after.shots) delete shot['generated_image_url'];
    expect(after).toEqual(studio);
  });

  it('refuses before running when the file is not a Creative Studio project', async () => {
    const ours = await writeTestProject(
      join(tmp.path, 'ours'),
      testProject({ shots: 1, width: 128, height: 128 }),
    );
    const r = await runCli(['-w', join(tmp.path, 'ws'), 'generate', ours, '--write-back']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--write-back needs a Creative Studio project file');
  });
});
