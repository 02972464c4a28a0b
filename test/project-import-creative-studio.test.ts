import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.js';
import {
  convertCreativeStudioProject,
  importProject,
  isCreativeStudioProject,
  loadProjectFile,
  validateProject,
  writeBackCreativeStudio,
} from '../src/project/index.js';

/**
 * Issue 10: a Creative Studio project (StoryCore-Engine's Data Contract v1) and the engine's scene breakdown come
 * in as their users have them. Fixtures are our own samples of each shape, written from the issue's description.
 */

const STUDIO_FIXTURE = 'test/fixtures/creative-studio/night-market.json';
const SCENES_FIXTURE = 'test/fixtures/storycore-engine/tide-pools';
const ENGINE_FIXTURE = 'test/fixtures/storycore-engine/harbour-night';

type Json = Record<string, unknown>;
type StudioShotJson = Json & { generation?: Json; timing?: Json };
type StudioJson = Json & { shots: StudioShotJson[]; metadata: Json };

let dir: string;
let studio: StudioJson;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storycore-studio-'));
  studio = JSON.parse(await readFile(STUDIO_FIXTURE, 'utf8')) as StudioJson;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function conversionError(doc: unknown, options = {}): ValidationError {
  try {
    convertCreativeStudioProject(doc, options);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected the conversion to fail');
}

describe('convertCreativeStudioProject', () => {
  it('carries over every field the v1 contract can express, in position order', () => {
    const { project, transitions, shotSources } = convertCreativeStudioProject(studio);
    expect(project).toMatchObject({
      schemaVersion: 1,
      id: 'a6f1c2d0-5b7e-4c1a-9e3f-night-market',
      name: 'Night Market',
      style: { prompt: 'Neon-lit street photography, wet reflections, 35mm film grain' },
      output: { width: 1280, height: 720 },
    });
    expect(project.shots).toEqual([
      {
        // generation.prompt wins over prompt and the title/description; its negative prompt and seed come along.
        id: 'shot-lanterns',
        prompt: 'Red paper lanterns sway above a crowded alley of steaming food stalls, shot from below',
        negativePrompt: 'text, watermark',
        seed: 1234567,
        durationSeconds: 4,
        transition: { type: 'dissolve', durationSeconds: 0.75 },
      },
      {
        // position 1: the third shot of the array comes second; its prompt is the shot's own `prompt`.
        id: 'shot-crowd',
        prompt: 'A river of umbrellas flows between market stalls as the first rain falls',
        durationSeconds: 3,
      },
      {
        // No prompt at all: the title (`name` alias) and description make it; the shot type is the camera.
        id: 'shot-3-vendor',
        prompt: 'Noodle vendor, An old vendor pulls noodles by hand, flour drifting in the lamplight',
        camera: 'close-up',
        durationSeconds: 5,
        transition: { type: 'fade-to-black', durationSeconds: 1 },
      },
    ]);
    expect(transitions).toEqual({
      'shot-lanterns': { type: 'dissolve', durationSeconds: 0.75 },
      'shot-crowd': { type: 'cut' },
      'shot-3-vendor': { type: 'fade-to-black', durationSeconds: 1 },
    });
    expect(shotSources).toEqual([
      { shotId: 'shot-lanterns', sourceId: 'shot-lanterns', array: 'shots', index: 0 },
      { shotId: 'shot-crowd', sourceId: 'shot-crowd', array: 'shots', index: 2 },
      { shotId: 'shot-3-vendor', sourceId: 'shot 3 / vendor', array: 'shots', index: 1 },
    ]);
  });

  it('names the source path of every loss or change', () => {
    const { warnings } = convertCreativeStudioProject(studio);
    const expected = [
      '$.shots reordered by position',
      '$.shots[1].id "shot 3 / vendor" becomes "shot-3-vendor"',
      '$.assets not imported',
      '$.shots[0].generation.parameters not imported',
      '$.shots[0].generation.comfyuiPreset not imported',
      '$.shots[0].metadata not imported',
      '$.shots[0].timing.inPoint not imported',
      '$.shots[1].audioTracks not imported',
      // Its title "Lanterns" is in the prompt already; the description is not.
      '$.shots[0].description not sent to the backend',
    ];
    for (const start of expected)
      expect(
        warnings.some((w) => w.startsWith(start)),
        start,
      ).toBe(true);
    // Empty lists (characters, worlds, effects) lose nothing, and a cut is the default: no warning for them.
    expect(warnings.join('\n')).not.toMatch(
      /\$\.characters|\$\.worlds|effects|\$\.shots\[2\]\.timing\.transition/,
    );
  });

  it('reads the camelCase aliases: name, schemaVersion, storyboard, orderIndex', () => {
    const aliased = {
      id: 'alias-demo',
      schemaVersion: '1.0',
      name: 'Alias demo',
      style: { prompt: 'Ink wash illustration', negative_prompt: 'photo' },
      storyboard: [
        {
          id: 'b',
          title: 'Second',
          description: 'A crane lifts off the misty lake',
          duration: 2,
          orderIndex: 2,
        },
        {
          id: 'a',
          title: 'First',
          description: 'A crane stands still in the reeds',
          duration: 2,
          orderIndex: 1,
        },
      ],
    };
    expect(isCreativeStudioProject(aliased)).toBe(true);
    const { project } = convertCreativeStudioProject(aliased);
    expect(project.name).toBe('Alias demo');
    expect(project.style).toEqual({ prompt: 'Ink wash illustration', negativePrompt: 'photo' });
    expect(project.shots.map((s) => s.id)).toEqual(['a', 'b']);
  });

  it('asks for a style when the project gives none, and takes one passed in', () => {
    delete studio.metadata['style'];
    const error = conversionError(studio);
    expect(error.issues).toEqual([expect.objectContaining({ path: '$.style' })]);
    expect(error.message).toContain('--style');
    expect(convertCreativeStudioProject(studio, { style: 'Charcoal sketch' }).project.style.prompt).toBe(
      'Charcoal sketch',
    );
  });

  it('lists every shot without a usable prompt, and every bad seed, by path', () => {
    studio.shots[0]!.generation = { prompt: 'lamp' }; // too short, and nothing else to fall back on…
    delete studio.shots[0]!.title;
    delete studio.shots[0]!.description;
    studio.shots[2]!.generation = { seed: -4 };
    const error = conversionError(studio);
    expect(error.issues.map((i) => i.path)).toEqual([
      '$.shots[0].generation.prompt',
      '$.shots[2].generation.seed',
    ]);
    expect(error.message).toMatch(/at least 10 characters/);
  });

  it('refuses another contract version and documents that are not studio projects', () => {
    expect(conversionError({ ...studio, schema_version: '2.0' }).issues[0]?.path).toBe('$.schema_version');
    expect(conversionError({ schemaVersion: 1, shots: [] }).issues[0]?.path).toBe('$');
    expect(conversionError({ ...studio, shots: [] }).issues[0]).toMatchObject({
      path: '$.shots',
      message: expect.stringContaining('no shots') as unknown,
    });
  });

  it('drops an out-of-range duration with a warning rather than failing the shot', () => {
    studio.shots[1]!['duration'] = 0;
    const { project, warnings } = convertCreativeStudioProject(studio);
    expect(project.shots.find((s) => s.id === 'shot-3-vendor')?.durationSeconds).toBeUndefined();
    expect(warnings).toContain(
      '$.shots[1].duration 0 s is outside (0, 3600] and was left out (the shot gets the default duration)',
    );
  });
});

/** Text that includes what real users type: emoji, accents, CJK, spaces and slashes in ids; mostly usable. */
const goodText = fc.constantFrom(
  'A lighthouse keeper climbs the spiral stairs at dusk',
  '夜市の提灯が揺れる路地を歩く二人',
  '🏮 Lanterns sway over the crowded alley 🏮',
  'Café terrace, rain on the awning, reflections',
);
const messyText = fc.oneof(
  { arbitrary: goodText, weight: 6 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 600 }), weight: 1 },
  { arbitrary: fc.constantFrom('', '   ', 'shot 1', 'Shot-1', 'shot-1', '../etc', 'x'), weight: 2 },
);
const studioShot = fc.record(
  {
    id: fc.oneof(messyText, fc.integer({ min: -5, max: 5 })),
    title: messyText,
    name: messyText,
    description: messyText,
    prompt: messyText,
    duration: fc.double({ min: -10, max: 5000, noNaN: true }),
    position: fc.integer({ min: -3, max: 10 }),
    type: messyText,
    generation: fc.record(
      {
        prompt: messyText,
        negativePrompt: fc.string({ unit: 'grapheme', maxLength: 1200 }),
        seed: fc.oneof(
          { arbitrary: fc.integer({ min: 0, max: 2 ** 40 }), weight: 8 },
          {
            arbitrary: fc.oneof(fc.integer({ min: -2, max: -1 }), fc.double(), fc.constant(null)),
            weight: 1,
          },
        ),
        parameters: fc.dictionary(fc.string({ maxLength: 5 }), fc.integer()),
      },
      { requiredKeys: [] },
    ),
    timing: fc.record(
      {
        duration: fc.double({ min: -1, max: 10, noNaN: true }),
        transition: fc.oneof(fc.constantFrom('cut', 'dissolve', 'fade', 'wipe', ''), fc.integer()),
        transitionDuration: fc.double({ min: -1, max: 100, noNaN: true }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);
const studioProject = fc.record(
  {
    id: messyText,
    schema_version: fc.oneof(
      { arbitrary: fc.constantFrom('1.0', '1.2'), weight: 9 },
      { arbitrary: fc.constant('2.0'), weight: 1 },
    ),
    project_name: messyText,
    shots: fc.array(studioShot, { maxLength: 12 }),
    assets: fc.array(fc.record({ id: fc.string() }), { maxLength: 2 }),
    capabilities: fc.constant({ grid_generation: true }),
    metadata: fc.record(
      { style: messyText, resolution: fc.constantFrom('640x360', '640x360', '640x360', '10x10', 'big') },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['shots', 'schema_version'] },
);

describe('any Creative Studio project', () => {
  it('converts to a valid v1 project, or fails with a ValidationError whose issues name studio paths', () => {
    let convertedCount = 0;
    fc.assert(
      fc.property(
        studioProject,
        fc.option(fc.constantFrom('Charcoal sketch', 'Charcoal sketch', 'x'), { nil: undefined }),
        (doc, style) => {
          let converted;
          try {
            converted = convertCreativeStudioProject(doc, style === undefined ? {} : { style });
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
            const issues = (error as ValidationError).issues;
            expect(issues.length).toBeGreaterThan(0);
            for (const issue of issues) expect(issue.path).toMatch(/^\$/);
            return;
          }
          convertedCount++;
          expect(validateProject(converted.project)).toMatchObject({ ok: true });
          expect(converted.project.shots).toHaveLength(doc.shots.length);
          // Every shot is accounted for once, and each transition belongs to a shot of the project.
          expect(new Set(converted.shotSources.map((s) => s.index)).size).toBe(doc.shots.length);
          const ids = new Set(converted.project.shots.map((s) => s.id));
          for (const id of Object.keys(converted.transitions)) expect(ids.has(id)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
    // Both branches were exercised: the generator is not so hostile that only the error path ran.
    expect(convertedCount).toBeGreaterThan(30);
  });
});

describe('importProject recognises the three shapes and says which it read', () => {
  it('a Creative Studio file, directly or as a folder’s project.json', async () => {
    const direct = await importProject(STUDIO_FIXTURE);
    expect(direct).toMatchObject({
      format: 'creative-studio',
      formatName: 'Creative Studio project (Data Contract v1)',
    });
    await writeFile(join(dir, 'project.json'), JSON.stringify(studio));
    const folder = await importProject(dir);
    expect(folder.format).toBe('creative-studio');
    expect(folder.project).toEqual(direct.project);
  });

  it('an engine storyboard folder, as before', async () => {
    const result = await importProject(ENGINE_FIXTURE);
    expect(result.format).toBe('engine-storyboard');
    expect(result.project.shots).toHaveLength(5);
  });

  it('an engine scene-breakdown folder: one shot per scene, what a frame cannot show reported', async () => {
    const error = await importProject(SCENES_FIXTURE).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      expect.objectContaining({ path: 'project.json: $.style' }),
    ]);

    const result = await importProject(SCENES_FIXTURE, { style: 'Watercolour picture book' });
    expect(result.format).toBe('engine-scene-breakdown');
    expect(result.project).toMatchObject({ id: 'tide-pools', name: 'Tide Pools' });
    expect(result.project.shots).toEqual([
      {
        id: 'scene_01',
        prompt: 'A girl in yellow boots crouches over a tide pool, rocky shore, dawn, light mist',
        mood: 'quiet wonder',
      },
      {
        id: 'scene_02',
        prompt:
          'A hermit crab drags its shell across pink algae, her reflection leans into the water, tide pool, morning, clear',
        mood: 'curious',
      },
      {
        id: 'scene-03',
        prompt: 'The tide returns and covers the pool, beach, noon, wind',
        mood: 'bittersweet',
      },
    ]);
    expect(result.warnings).toContain(
      'scene_breakdown.json: $.scenes[1].dialogue (1 lines) not imported: a frame carries no speech',
    );
    expect(result.warnings).toContain(
      'scene_breakdown.json: $.scenes[2].scene_id "scene 03" becomes "scene-03"',
    );
  });

  it('says what it looked for in a folder holding none of them, and refuses our own projects', async () => {
    await expect(importProject(dir)).rejects.toThrow(
      /nothing to import in .*storyboard\.json or scene_breakdown\.json/,
    );
    await writeFile(join(dir, 'mine.json'), JSON.stringify({ schemaVersion: 1, id: 'x', shots: [] }));
    await expect(importProject(join(dir, 'mine.json'))).rejects.toThrow(/already a StoryCore project/);
  });
});

describe('loadProjectFile', () => {
  it('converts a Creative Studio file, telling each warning to onWarning', async () => {
    const warnings: string[] = [];
    const project = await loadProjectFile(STUDIO_FIXTURE, { onWarning: (w) => warnings.push(w) });
    expect(project.shots.map((s) => s.id)).toEqual(['shot-lanterns', 'shot-crowd', 'shot-3-vendor']);
    expect(warnings).toContainEqual(
      expect.stringMatching(/night-market\.json: \$\.shots\[0\]\.generation\.parameters/),
    );
  });
});

describe('writeBackCreativeStudio', () => {
  const results = {
    masterCoherenceSheetUrl: 'file:///exports/night-market/master_coherence_sheet.png',
    generatedShots: [
      { shotId: 'shot-lanterns', imageUrl: 'file:///exports/night-market/shots/1_shot-lanterns.png' },
      { shotId: 'shot-3-vendor', imageUrl: 'file:///exports/night-market/shots/3_shot-3-vendor.png' },
    ],
  };

  it('changes only generated_image_url of the generated shots and master_coherence_sheet', async () => {
    const file = join(dir, 'project.json');
    // Four-space indentation, as some editors write: kept, so a diff shows only the new fields.
    await writeFile(file, `${JSON.stringify(studio, null, 4)}\n`);
    const { updatedShots } = await writeBackCreativeStudio(file, results, { generatedAt: 1_700_000_000_000 });
    expect(updatedShots).toEqual(['$.shots[0]', '$.shots[1]']);

    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^\{\n {4}"id"/);
    const after = JSON.parse(text) as StudioJson & { master_coherence_sheet: unknown };
    expect(after.master_coherence_sheet).toEqual({
      url: results.masterCoherenceSheetUrl,
      generated_at: 1_700_000_000_000,
    });
    expect(after.shots[0]!['generated_image_url']).toBe(results.generatedShots[0]!.imageUrl);
    // The studio shot "shot 3 / vendor" is the converted "shot-3-vendor".
    expect(after.shots[1]!['generated_image_url']).toBe(results.generatedShots[1]!.imageUrl);
    expect(after.shots[2]).not.toHaveProperty('generated_image_url');

    // Everything else deep-equals the original.
    const rest = structuredClone(after) as Json & { shots: Json[] };
    delete rest['master_coherence_sheet'];
    for (const shot of rest.shots) delete shot['generated_image_url'];
    expect(rest).toEqual(studio);
    expect(Object.keys(after)).toEqual([...Object.keys(studio), 'master_coherence_sheet']);
  });

  it('refuses results naming shots the file does not have, writing nothing', async () => {
    const file = join(dir, 'project.json');
    const original = JSON.stringify(studio);
    await writeFile(file, original);
    await expect(
      writeBackCreativeStudio(file, {
        ...results,
        generatedShots: [{ shotId: 'shot_99', imageUrl: 'file:///x.png' }],
      }),
    ).rejects.toThrow(/has no shot "shot_99" named in the results/);
    expect(await readFile(file, 'utf8')).toBe(original);
    await writeFile(file, JSON.stringify({ schemaVersion: 1, id: 'ours', shots: [] }));
    await expect(writeBackCreativeStudio(file, results)).rejects.toThrow(/not a Creative Studio project/);
  });
});
