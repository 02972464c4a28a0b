import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/core/canonical-json.js';
import { InternalError } from '../src/core/errors.js';
import {
  composeNegativePrompt,
  composeShotPrompt,
  loadProjectFile,
  projectContentHash,
  validateProject,
} from '../src/project/index.js';
import type { Project } from '../src/project/index.js';

const style = { prompt: 'moody oil painting, teal and amber', negativePrompt: 'text, watermark, Blurry' };

describe('composeShotPrompt', () => {
  it('sends style, shot, camera, lighting and mood, in that order', () => {
    const prompt = composeShotPrompt(
      { style },
      {
        prompt: 'a keeper climbs the stairs',
        camera: 'high angle',
        lighting: 'lantern light',
        mood: 'determined',
      },
    );
    expect(prompt).toBe(
      'moody oil painting, teal and amber, a keeper climbs the stairs, high angle, lantern light, determined',
    );
  });

  it('leaves out missing parts and trailing separators', () => {
    expect(
      composeShotPrompt({ style: { prompt: 'ink wash.' } }, { prompt: 'boats at rest;  ', mood: '  ' }),
    ).toBe('ink wash, boats at rest');
  });

  it('does not repeat a phrase already said, but keeps one that is only a substring of a longer word', () => {
    const prompt = composeShotPrompt(
      { style: { prompt: 'cinematic, widescreen' } },
      { prompt: 'a lighthouse at night', camera: 'Cinematic', lighting: 'night', mood: 'wide' },
    );
    expect(prompt).toBe('cinematic, widescreen, a lighthouse at night, wide');
  });

  it('is the same text every time for the same shot', async () => {
    const project = await loadProjectFile('examples/lighthouse');
    const first = project.shots.map((s) => composeShotPrompt(project, s));
    const again = project.shots.map((s) => composeShotPrompt(project, s));
    expect(again).toEqual(first);
    expect(first[3]).toBe(
      'moody cinematic illustration, painterly oil texture, deep teal and amber palette, volumetric light, high detail, ' +
        'In the lantern room the great Fresnel lens goes dark, its last ember fading while rain lashes the glass panes, ' +
        'low angle looking up at the lens, dying amber glow sinking into darkness, dread',
    );
  });
});

describe('composeNegativePrompt', () => {
  it('joins the style and shot terms, each once, first spelling kept', () => {
    expect(composeNegativePrompt({ style }, { negativePrompt: 'blurry, extra fingers, text' })).toBe(
      'text, watermark, Blurry, extra fingers',
    );
  });

  it('is empty when neither gives one', () => {
    expect(composeNegativePrompt({ style: { prompt: 'ink' } }, {})).toBe('');
  });
});

describe('projectContentHash', () => {
  const base = (): Project => {
    const result = validateProject({
      schemaVersion: 1,
      id: 'p',
      name: 'P',
      style: { prompt: 'ink' },
      shots: [{ id: 'a', prompt: 'a long enough prompt', seed: 3 }],
    });
    if (!result.ok) throw new Error('fixture invalid');
    return result.project;
  };

  it('does not depend on key order', () => {
    const project = base();
    const reordered = JSON.parse(
      JSON.stringify({
        shots: project.shots,
        style: project.style,
        output: project.output,
        name: 'P',
        id: 'p',
        schemaVersion: 1,
      }),
    ) as Project;
    expect(projectContentHash(reordered)).toBe(projectContentHash(project));
    expect(projectContentHash(project)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes when a prompt changes', () => {
    const edited = base();
    edited.shots[0]!.prompt = 'a different long prompt';
    expect(projectContentHash(edited)).not.toBe(projectContentHash(base()));
  });

  it('equals sha256 of the canonical JSON', async () => {
    const { createHash } = await import('node:crypto');
    expect(projectContentHash(base())).toBe(createHash('sha256').update(canonicalJson(base())).digest('hex'));
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and leaves out undefined properties', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined, x: 'é' }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"x":"é","z":1}]},"b":1}',
    );
  });

  it('matches JSON.stringify on values without objects', () => {
    for (const v of [0, -0, 1e21, 'a"\\\n', true, [1, 'x', null, undefined]])
      expect(canonicalJson(v)).toBe(JSON.stringify(v));
  });

  it.each([NaN, Infinity, 10n, () => 1, Symbol('s')])(
    'refuses %s, which has no faithful JSON form',
    (value) => {
      expect(() => canonicalJson({ a: [value] })).toThrow(InternalError);
      expect(() => canonicalJson({ a: [value] })).toThrow(/at \$\.a\[0\]/);
    },
  );

  it('refuses cycles but accepts shared references', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle at \$\.self/);
  });

  it('serialises dates through toJSON', () => {
    expect(canonicalJson({ at: new Date(0) })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
  });
});
