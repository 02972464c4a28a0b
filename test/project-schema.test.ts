import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveGlobalSeed } from '../src/core/seeds.js';
import {
  formatValidationIssues,
  resolveGlobalSeed,
  resolveShotSeed,
  validateProject,
} from '../src/project/index.js';
import type { ProjectInput } from '../src/project/index.js';

const examples = ['examples/lighthouse/project.json', 'examples/night-market/project.json'];

function validProject(): ProjectInput {
  return {
    schemaVersion: 1,
    id: 'demo',
    name: 'Demo',
    style: { prompt: 'watercolour storyboard' },
    shots: [
      { id: 'a', prompt: 'a keeper climbs the stairs' },
      { id: 'b', prompt: 'the beam sweeps the sea', seed: 7 },
      { id: 'c', prompt: 'a boat turns from the rocks' },
      { id: 'd', prompt: 'dawn over a calm sea' },
    ],
  };
}

type Doc = Record<string, unknown> & { shots: Array<Record<string, unknown>> };
const mutate = (change: (doc: Doc) => void): unknown => {
  const doc = structuredClone(validProject()) as unknown as Doc;
  change(doc);
  return doc;
};
const shot = (doc: Doc, i: number): Record<string, unknown> => doc.shots[i] as Record<string, unknown>;

describe('project contract v1', () => {
  it.each(examples)('the example %s is a valid project', async (file) => {
    const result = validateProject(JSON.parse(await readFile(file, 'utf8')));
    if (!result.ok) throw new Error(formatValidationIssues(result.issues));
    expect(result.project.shots.length).toBeGreaterThan(0);
  });

  it('the lighthouse demo tells twelve shots with prompts of 60–200 characters, varied cameras, at 1920x1080', async () => {
    const result = validateProject(JSON.parse(await readFile(examples[0]!, 'utf8')));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const { project } = result;
    expect(project.shots).toHaveLength(12);
    expect(project.coherence).toBeUndefined();
    expect(project.output).toEqual({ width: 1920, height: 1080, fps: 24 });
    for (const s of project.shots) {
      expect(s.prompt.length).toBeGreaterThanOrEqual(60);
      expect(s.prompt.length).toBeLessThanOrEqual(200);
      expect(s.camera && s.lighting && s.mood).toBeTruthy();
    }
    const cameras = project.shots.map((s) => s.camera ?? '').join(' | ');
    for (const kind of ['wide', 'medium', 'close-up', 'over-the-shoulder', 'aerial', 'low angle'])
      expect(cameras).toContain(kind);
  });

  it('the night-market example pins nine panels, a global seed and 1280x720', async () => {
    const result = validateProject(JSON.parse(await readFile(examples[1]!, 'utf8')));
    if (!result.ok) throw new Error(formatValidationIssues(result.issues));
    expect(result.project.shots).toHaveLength(5);
    expect(result.project.coherence?.panels).toHaveLength(9);
    expect(result.project.globalSeed).toBeTypeOf('number');
    expect(result.project.output).toEqual({ width: 1280, height: 720, fps: 24 });
  });

  it('fills in defaults and trims prompts', () => {
    const result = validateProject(mutate((d) => (shot(d, 0).prompt = '   a keeper climbs the stairs  \n')));
    expect(result.ok && result.project.output).toEqual({ width: 1920, height: 1080, fps: 24 });
    expect(result.ok && result.project.shots[0]?.prompt).toBe('a keeper climbs the stairs');
  });

  it.each<[string, (doc: Doc) => void, string, RegExp]>([
    [
      'a duplicate shot id',
      (d) => (shot(d, 2).id = 'a'),
      '$.shots[2].id',
      /duplicate shot id "a" \(first used at shots\[0\]\)/,
    ],
    ['ids differing only by case', (d) => (shot(d, 3).id = 'B'), '$.shots[3].id', /only by case/],
    ['the id "../x"', (d) => (shot(d, 1).id = '../x'), '$.shots[1].id', /must not contain "\.\."/],
    ['an id with "/"', (d) => (shot(d, 1).id = 'a/b'), '$.shots[1].id', /must not contain "\/" or/],
    [
      'an id with a control character',
      (d) => (shot(d, 1).id = 'a\u0007b'),
      '$.shots[1].id',
      /control characters/,
    ],
    [
      'an id with a space',
      (d) => (shot(d, 1).id = 'shot 2'),
      '$.shots[1].id',
      /may use only letters, digits/,
    ],
    ['an unsafe project id', (d) => (d.id = '..'), '$.id', /project id must not contain "\.\."/],
    [
      'a prompt too short after trimming',
      (d) => (shot(d, 3).prompt = '   too short   '),
      '$.shots[3].prompt',
      /at least 10 characters after trimming/,
    ],
    [
      'a 501-character prompt',
      (d) => (shot(d, 0).prompt = 'x'.repeat(501)),
      '$.shots[0].prompt',
      /at most 500 characters/,
    ],
    [
      'eight coherence panels',
      (d) => (d.coherence = { panels: Array(8).fill('a panel prompt') }),
      '$.coherence.panels',
      /exactly nine/,
    ],
    ['a width of 10 px', (d) => (d.output = { width: 10, height: 1080 }), '$.output.width', /at least 64 px/],
    [
      'a globalSeed written 1e309 (Infinity once parsed)',
      (d) => (d.globalSeed = JSON.parse('1e309') as number),
      '$.globalSeed',
      /^expected a finite number, got Infinity \(a literal too large for a 64-bit float, e\.g\. 1e309\)$/,
    ],
    [
      'QA thresholds with a minimum above the maximum',
      (d) => (d.qa = { thresholds: { meanLumaMin: 150, meanLumaMax: 100 } }),
      '$.qa.thresholds.meanLumaMin',
      /^meanLumaMin \(150\) is above meanLumaMax \(100\): every shot would fail QA$/,
    ],
    [
      'an unknown key',
      (d) => (shot(d, 1).negative_prompt = 'blur'),
      '$.shots[1].negative_prompt',
      /unknown key "negative_prompt" \(did you mean "negativePrompt"\?\)/,
    ],
    [
      'an unknown top-level key',
      (d) => (d.colour = 'red'),
      '$.colour',
      /unknown key "colour" \(allowed: schemaVersion, id, name/,
    ],
    ['schemaVersion 2', (d) => (d.schemaVersion = 2), '$.schemaVersion', /schemaVersion must be 1/],
    ['no shots', (d) => delete (d as Partial<Doc>).shots, '$.shots', /missing required field "shots"/],
    ['an empty shot list', (d) => (d.shots = []), '$.shots', /at least one shot/],
    ['a negative seed', (d) => (shot(d, 1).seed = -1), '$.shots[1].seed', /seed must be ≥ 0/],
    ['a fractional seed', (d) => (shot(d, 1).seed = 1.5), '$.shots[1].seed', /seed must be an integer/],
    ['a negative global seed', (d) => (d.globalSeed = -3), '$.globalSeed', /seed must be ≥ 0/],
    [
      'a prompt that is a number',
      (d) => (shot(d, 0).prompt = 42),
      '$.shots[0].prompt',
      /expected a string, got a number \(42\)/,
    ],
  ])('%s is reported at its path', (_what, change, path, message) => {
    const result = validateProject(mutate(change));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const issue = result.issues.find((i) => i.path === path);
    expect(issue, formatValidationIssues(result.issues)).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it('an unsafe id is reported once, with the most specific reason', () => {
    const result = validateProject(mutate((d) => (shot(d, 1).id = '../x')));
    expect(!result.ok && result.issues).toEqual([
      { path: '$.shots[1].id', message: 'shot id must not contain ".."' },
    ]);
  });

  it('lists every problem at once, not only the first', () => {
    const result = validateProject(
      mutate((d) => {
        d.schemaVersion = 3;
        shot(d, 0).prompt = 'short';
        shot(d, 2).id = 'a';
        shot(d, 3).seed = -1;
        d.extra = true;
      }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.path).sort()).toEqual(
      ['$.extra', '$.schemaVersion', '$.shots[0].prompt', '$.shots[2].id', '$.shots[3].seed'].sort(),
    );
    expect(formatValidationIssues(result.issues).split('\n')).toHaveLength(5);
  });

  it('quotes path segments that are not identifiers', () => {
    const result = validateProject(mutate((d) => (d['weird key'] = 1)));
    expect(!result.ok && result.issues[0]?.path).toBe('$["weird key"]');
  });

  it('never throws: any JSON value is either a project or a list of issues with paths', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = validateProject(value);
        if (!result.ok) {
          expect(result.issues.length).toBeGreaterThan(0);
          for (const issue of result.issues) expect(issue.path).toMatch(/^\$/);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never throws: any mutation of a valid project is either valid or reported with paths', () => {
    const keys = [
      'schemaVersion',
      'id',
      'name',
      'globalSeed',
      'style',
      'output',
      'coherence',
      'shots',
      'seed',
      'prompt',
      'camera',
      'x',
    ];
    const mutation = fc.record({
      where: fc.constantFrom('root', 'shot', 'style', 'output'),
      index: fc.nat(5),
      key: fc.constantFrom(...keys),
      value: fc.oneof(fc.jsonValue(), fc.constant(undefined)),
    });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const doc = mutate(() => undefined) as Doc;
        for (const m of mutations) {
          const shots: unknown = doc.shots;
          const target: unknown =
            m.where === 'root'
              ? doc
              : m.where === 'shot'
                ? Array.isArray(shots)
                  ? shots[m.index % Math.max(1, shots.length)]
                  : undefined
                : doc[m.where];
          if (typeof target !== 'object' || target === null || Array.isArray(target)) continue;
          const record = target as Record<string, unknown>;
          if (m.value === undefined) delete record[m.key];
          else record[m.key] = m.value;
        }
        const result = validateProject(doc);
        if (!result.ok) {
          expect(result.issues.length).toBeGreaterThan(0);
          for (const issue of result.issues) expect(issue.path).toMatch(/^\$/);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('derives the global seed from the id when none is pinned, and keeps a pinned one', () => {
    expect(resolveGlobalSeed({ id: 'demo' })).toBe(deriveGlobalSeed('demo'));
    expect(resolveGlobalSeed({ id: 'demo', globalSeed: 5 })).toBe(5);
    expect(resolveShotSeed({ id: 'demo' }, { id: 'b', seed: 7 })).toBe(7);
    expect(resolveShotSeed({ id: 'demo' }, { id: 'a' })).not.toBe(
      resolveShotSeed({ id: 'demo' }, { id: 'c' }),
    );
  });
});
