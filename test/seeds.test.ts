import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deriveGlobalSeed, deriveOperationSeed, derivePanelSeed, deriveShotSeed } from '../src/core/index.js';

interface Vectors {
  version: string;
  global: Array<{ projectId: string; seed: number }>;
  shot: Array<{ globalSeed: number; shotId: string; seed: number }>;
  panel: Array<{ globalSeed: number; panelIndex: number; seed: number }>;
  operation: Array<{ shotSeed: number; operation: string; attempt: number; seed: number }>;
}

// Written once by scripts/make-seed-vectors.ts and committed: a change of derivation shows up here.
const vectors = JSON.parse(
  readFileSync(new URL('./fixtures/seed-vectors.json', import.meta.url), 'utf8'),
) as Vectors;

const MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1

function allSeeds(): number[] {
  return [...vectors.global, ...vectors.shot, ...vectors.panel, ...vectors.operation].map((v) => v.seed);
}

describe('seed derivation', () => {
  it('has a non-trivial set of committed vectors', () => {
    expect(vectors.version).toBe('storycore/seed/v1');
    expect(allSeeds().length).toBeGreaterThanOrEqual(50);
  });

  it.each(vectors.global)('the global seed of project $projectId is $seed', ({ projectId, seed }) => {
    expect(deriveGlobalSeed(projectId)).toBe(seed);
  });

  it.each(vectors.shot)(
    'shot $shotId under global seed $globalSeed is $seed',
    ({ globalSeed, shotId, seed }) => {
      expect(deriveShotSeed(globalSeed, shotId)).toBe(seed);
    },
  );

  it.each(vectors.panel)(
    'panel $panelIndex under global seed $globalSeed is $seed',
    ({ globalSeed, panelIndex, seed }) => {
      expect(derivePanelSeed(globalSeed, panelIndex)).toBe(seed);
    },
  );

  it.each(vectors.operation)(
    '$operation attempt $attempt of shot seed $shotSeed is $seed',
    ({ shotSeed, operation, attempt, seed }) => {
      expect(deriveOperationSeed(shotSeed, operation, attempt)).toBe(seed);
    },
  );

  it('every committed seed is an integer in [0, 2^53-1]', () => {
    for (const seed of allSeeds()) {
      expect(Number.isSafeInteger(seed)).toBe(true);
      expect(seed).toBeGreaterThanOrEqual(0);
      expect(seed).toBeLessThanOrEqual(MAX);
    }
  });

  it('distinct inputs give distinct seeds (length prefixes keep "a"+"b" apart from "ab")', () => {
    // The first attempt of 'generate' is the shot seed itself by design, so it is left out of the count.
    const seeds = allSeeds().filter(
      (seed) =>
        !vectors.operation.some((v) => v.operation === 'generate' && v.attempt === 0 && v.seed === seed),
    );
    expect(new Set(seeds).size).toBe(seeds.length);
  });

  it('attempt 0 of generate is the shot seed; retries and other operations are not', () => {
    for (const v of vectors.operation) {
      expect(v.seed === v.shotSeed).toBe(v.operation === 'generate' && v.attempt === 0);
    }
  });

  it('matches the documented construction: SHA-256 of the domain and length-prefixed parts, low 53 bits of the first 8 bytes', () => {
    const h = createHash('sha256');
    h.update('storycore/seed/v1');
    for (const part of ['s:global', 's:lighthouse']) h.update(`${Buffer.byteLength(part)}:${part};`);
    const expected = Number(h.digest().readBigUInt64BE(0) & ((1n << 53n) - 1n));
    expect(vectors.global.find((v) => v.projectId === 'lighthouse')?.seed).toBe(expected);
  });

  it('any shot ids give bounded, repeatable, pairwise distinct seeds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX }),
        fc.uniqueArray(fc.string({ maxLength: 40 }), { minLength: 2, maxLength: 30 }),
        (globalSeed, shotIds) => {
          const seeds = shotIds.map((id) => deriveShotSeed(globalSeed, id));
          expect(shotIds.map((id) => deriveShotSeed(globalSeed, id))).toEqual(seeds);
          expect(new Set(seeds).size).toBe(seeds.length);
          for (const s of seeds) expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
