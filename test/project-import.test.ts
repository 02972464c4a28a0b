import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.js';
import {
  composeShotPrompt,
  importStoryCoreEngine,
  loadProjectFile,
  writeProjectFile,
} from '../src/project/index.js';

const FIXTURE = 'test/fixtures/storycore-engine/harbour-night';

type Json = Record<string, unknown>;
type Storyboard = Json & { shots: Array<Json & { prompt_modules?: Json }> };

let dir: string;
let engineProject: Json & { config: Json };
let storyboard: Storyboard;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storycore-import-'));
  engineProject = JSON.parse(await readFile(join(FIXTURE, 'project.json'), 'utf8')) as typeof engineProject;
  storyboard = JSON.parse(await readFile(join(FIXTURE, 'storyboard.json'), 'utf8')) as Storyboard;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function save(): Promise<string> {
  await writeFile(join(dir, 'project.json'), JSON.stringify(engineProject, null, 2));
  await writeFile(join(dir, 'storyboard.json'), JSON.stringify(storyboard, null, 2));
  return dir;
}

async function importError(folder: string): Promise<ValidationError> {
  try {
    await importStoryCoreEngine(folder);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected the import to fail');
}

describe('importStoryCoreEngine', () => {
  it('turns the engine fixture into a valid v1 project', async () => {
    const { project } = await importStoryCoreEngine(FIXTURE);
    expect(project).toMatchObject({
      schemaVersion: 1,
      id: 'storycore_harbour-night',
      name: 'Harbour at Night',
      globalSeed: 509827414,
      output: { width: 1280, height: 720 },
      style: {
        prompt: 'Cinematic realism, professional quality',
        negativePrompt: 'low quality, blurry, distorted',
      },
    });
    expect(project.shots.map((s) => s.id)).toEqual([
      'shot_01',
      'shot-02-b',
      'shot_01-2',
      'shot_04',
      'shot_05',
    ]);
    expect(project.shots[0]).toEqual({
      id: 'shot_01',
      prompt:
        'Fishing boats rock at their moorings as the harbour lights come on, weathered wooden trawlers, coiled ropes on the quay, Teal shadows, orange highlights',
      camera: 'Wide shot, eye level, static',
      lighting: 'Blue hour, sodium quay lamps',
      durationSeconds: 6,
    });
    // The placeholder subject is dropped; the odd-one-out style travels with its shot; `duration` is read too.
    expect(project.shots[1]?.prompt).toBe(
      'An old fisherman mends a net under a swinging lamp, Amber and brown, desaturated',
    );
    expect(project.shots[3]?.prompt).toContain('Film noir, high contrast');
    expect(project.shots[2]?.durationSeconds).toBe(3);
    // Only the seed that tells a shot apart is kept; the template's shared 42 is not.
    expect(project.shots.map((s) => s.seed)).toEqual([undefined, undefined, 1234, undefined, undefined]);
    expect(composeShotPrompt(project, project.shots[0]!)).toMatch(
      /^Cinematic realism, professional quality, Fishing boats/,
    );
  });

  it('reports each rename, dropped placeholder and ignored setting as a warning', async () => {
    const { warnings } = await importStoryCoreEngine(FIXTURE);
    expect(warnings).toEqual(
      expect.arrayContaining([
        'storyboard.json: $.shots[1].shot_id "shot 02/b" renamed to "shot-02-b" (not safe as a file name)',
        'storyboard.json: $.shots[2].shot_id "shot_01" renamed to "shot_01-2" (already used by an earlier shot)',
        'storyboard.json: $.shots[1].prompt_modules.subject "Placeholder subject for shot_02" is a placeholder and was left out of the prompt',
        expect.stringMatching(
          /technical\.seed shared by several shots \(42 \(4 shots\)\)/,
        ) as unknown as string,
        expect.stringMatching(
          /technical aspect_ratio, cfg_scale, resolution, steps not imported/,
        ) as unknown as string,
      ]),
    );
    expect(warnings).toHaveLength(5);
  });

  it('a colour every shot shares becomes part of the project style', async () => {
    for (const shot of storyboard.shots)
      shot.prompt_modules = { ...shot.prompt_modules, color: 'muted teal' };
    const { project } = await importStoryCoreEngine(await save());
    expect(project.style.prompt).toBe('Cinematic realism, professional quality, muted teal');
    expect(project.shots.some((s) => s.prompt.includes('muted teal'))).toBe(false);
  });

  it.each<[string, unknown, { width: number; height: number }]>([
    ['a "WxH" string with ×', '1920×1080', { width: 1920, height: 1080 }],
    ['a [w, h] pair', [1024, 576], { width: 1024, height: 576 }],
    ['a {width, height} object', { width: 768, height: 1024 }, { width: 768, height: 1024 }],
  ])('reads target_resolution given as %s', async (_what, value, expected) => {
    engineProject.config.target_resolution = value;
    expect((await importStoryCoreEngine(await save())).project.output).toEqual({ ...expected, fps: 24 });
  });

  it('defaults to 1920x1080 with a warning when no resolution is given', async () => {
    delete engineProject.config.target_resolution;
    const { project, warnings } = await importStoryCoreEngine(await save());
    expect(project.output).toEqual({ width: 1920, height: 1080, fps: 24 });
    expect(warnings).toContain(
      'project.json: $.config.target_resolution is missing; output set to 1920x1080',
    );
  });

  it('shortens an over-long description at a word, with a warning, and the project stays valid', async () => {
    storyboard.shots[0]!.description = 'waves '.repeat(120);
    const { project, warnings } = await importStoryCoreEngine(await save());
    expect(project.shots[0]!.prompt.length).toBeLessThanOrEqual(500);
    expect(project.shots[0]!.prompt.endsWith('waves')).toBe(true);
    expect(warnings.some((w) => w.startsWith('storyboard.json: $.shots[0].description'))).toBe(true);
  });

  it('shortens text without spaces (Japanese prose) at a grapheme boundary, never splitting an emoji', async () => {
    // 16 UTF-16 units per repeat: kana and kanji, a family emoji (ZWJ sequence of surrogate pairs), an accented é.
    const unit = '灯台守が嵐の夜に灯をともす👨‍👩‍👧é';
    storyboard.shots[1]!.description = unit.repeat(60);
    storyboard.shots[1]!.prompt_modules!['camera'] = '長回し'.repeat(100);
    const { project, warnings } = await importStoryCoreEngine(await save());
    const prompt = project.shots[1]!.prompt;
    expect(prompt.length).toBeLessThanOrEqual(500);
    expect(prompt.length).toBeGreaterThan(480);
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const whole = new Set([...segmenter.segment(unit)].map((g) => g.segment));
    // Every grapheme of the cut text is one of the source's: nothing was split.
    for (const { segment } of segmenter.segment(prompt))
      if (segment !== ',' && segment !== ' ') expect(whole).toContain(segment);
    expect(project.shots[1]!.camera!.length).toBeLessThanOrEqual(200);
    expect(
      warnings.some((w) => w.startsWith('storyboard.json: $.shots[1].description: prompt shortened')),
    ).toBe(true);
    expect(
      warnings.some((w) => w.startsWith('storyboard.json: $.shots[1].prompt_modules.camera shortened')),
    ).toBe(true);
  });

  it('shortens a long URL in a description to the limit rather than failing', async () => {
    storyboard.shots[2]!.description = `Reference https://example.com/${'a1b2c3'.repeat(120)}`;
    const { project } = await importStoryCoreEngine(await save());
    expect(project.shots[2]!.prompt.length).toBeLessThanOrEqual(500);
    expect(project.shots[2]!.prompt).toMatch(/^Reference https:\/\/example\.com\/a1b2c3/);
  });

  it('shortens a project name over 200 characters, with a warning naming the source field', async () => {
    engineProject['project_name'] = 'The very long chronicle of the harbour '.repeat(10);
    const { project, warnings } = await importStoryCoreEngine(await save());
    expect(project.name.length).toBeLessThanOrEqual(200);
    expect(project.name.startsWith('The very long chronicle')).toBe(true);
    expect(warnings.some((w) => w.startsWith('project.json: $.project_name shortened'))).toBe(true);
  });

  it('refuses a storyboard over 2000 shots before converting, naming the source file and the limit', async () => {
    const template = storyboard.shots[0]!;
    storyboard.shots = Array.from({ length: 2001 }, (_, i) => ({ ...template, shot_id: `shot_${i + 1}` }));
    const error = await importError(await save());
    expect(error.issues).toEqual([
      {
        path: 'storyboard.json: $.shots',
        message: '2001 shots; a project may hold at most 2000 (split the storyboard into several projects)',
      },
    ]);
  });

  it('round-trips through writeProjectFile and loadProjectFile', async () => {
    const { project } = await importStoryCoreEngine(FIXTURE);
    const file = join(dir, 'imported.json');
    await writeProjectFile(file, project);
    expect(await loadProjectFile(file)).toEqual(project);
  });

  it.each<[string, () => void, string, RegExp]>([
    [
      'a shot_id that is null',
      () => (storyboard.shots[2]!.shot_id = null),
      'storyboard.json: $.shots[2].shot_id',
      /expected a string/,
    ],
    [
      'a missing shot_id',
      () => delete storyboard.shots[4]!.shot_id,
      'storyboard.json: $.shots[4].shot_id',
      /missing required field "shot_id"/,
    ],
    [
      'a description too thin to prompt',
      () => {
        storyboard.shots[1]!.description = 'Boat';
        delete storyboard.shots[1]!.title;
        delete storyboard.shots[1]!.prompt_modules;
      },
      'storyboard.json: $.shots[1].description',
      /only "Boat"; a shot prompt needs at least 10 characters/,
    ],
    [
      'a negative duration',
      () => (storyboard.shots[0]!.duration_seconds = -2),
      'storyboard.json: $.shots[0].duration_seconds',
      /duration must be > 0/,
    ],
    [
      'a fractional seed',
      () => ((storyboard.shots[3]!.prompt_modules!.technical as Json).seed = 4.5),
      'storyboard.json: $.shots[3].prompt_modules.technical.seed',
      /integer/,
    ],
    ['an empty storyboard', () => (storyboard.shots = []), 'storyboard.json: $.shots', /no shots/],
    [
      'an unreadable resolution',
      () => (engineProject.config.target_resolution = 'full hd'),
      'project.json: $.config.target_resolution',
      /expected "WIDTHxHEIGHT"/,
    ],
    [
      'a tiny resolution',
      () => (engineProject.config.target_resolution = [10, 10]),
      'project.json: $.config.target_resolution',
      /64–8192/,
    ],
    [
      'a negative global seed',
      () => (engineProject.config.global_seed = -1),
      'project.json: $.config.global_seed',
      /≥ 0/,
    ],
  ])('%s is an error naming the file and path', async (_what, change, path, message) => {
    change();
    const error = await importError(await save());
    const issue = error.issues.find((i) => i.path === path);
    expect(issue, error.message).toBeDefined();
    expect(issue?.message).toMatch(message);
    expect(error.message).toContain(`StoryCore-Engine project ${dir} is not a valid StoryCore project`);
    expect(error.message).toContain(`  - ${path}: `);
  });

  it('needs a style: from the files, or given to the import', async () => {
    for (const shot of storyboard.shots) delete shot.prompt_modules!.style;
    const error = await importError(await save());
    expect(error.issues).toEqual([
      {
        path: 'project.json: $.style',
        message: expect.stringMatching(/^no style found/) as unknown as string,
      },
    ]);
    const { project } = await importStoryCoreEngine(dir, { style: 'charcoal sketch' });
    expect(project.style.prompt).toBe('charcoal sketch');
  });

  it('a JSON syntax error names the file, line and column', async () => {
    await save();
    await writeFile(join(dir, 'storyboard.json'), '{\n  "shots": [\n    { "shot_id": "a" },\n  ]\n}\n');
    const error = await importError(dir);
    expect(error.message.split('\n')[0]).toBe(
      `${join(dir, 'storyboard.json')}: invalid JSON at line 4, column 3: Trailing comma before ']' (JSON allows none)`,
    );
  });

  it('a missing storyboard.json is named', async () => {
    await writeFile(join(dir, 'project.json'), JSON.stringify(engineProject));
    const error = await importError(dir);
    expect(error.message).toMatch(
      new RegExp(`^cannot read StoryCore-Engine storyboard file .*storyboard\\.json: ENOENT`),
    );
  });
});
