/**
 * Writes test/fixtures/seed-vectors.json: fixed inputs and the seeds derived from them today. Run once and commit
 * the output; test/seeds.test.ts then proves every later build derives the very same numbers.
 * Usage: npx tsx scripts/make-seed-vectors.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deriveGlobalSeed, deriveOperationSeed, derivePanelSeed, deriveShotSeed } from '../src/core/seeds.js';

const projectIds = ['lighthouse', 'Lighthouse', 'project-1', '', 'ünïcødé 🎬', 'a'.repeat(200)];
const globalSeeds = [0, 1, 42, 2 ** 32, Number.MAX_SAFE_INTEGER];
const shotIds = ['shot-01', 'shot-02', 'shot-10', 'ab', 'a'];
const operations: Array<[string, number]> = [
  ['generate', 0],
  ['generate', 1],
  ['generate', 2],
  ['regenerate', 0],
  ['upscale', 0],
];

const vectors = {
  version: 'storycore/seed/v1',
  global: projectIds.map((projectId) => ({ projectId, seed: deriveGlobalSeed(projectId) })),
  shot: globalSeeds.flatMap((globalSeed) =>
    shotIds.map((shotId) => ({ globalSeed, shotId, seed: deriveShotSeed(globalSeed, shotId) })),
  ),
  panel: [0, 42].flatMap((globalSeed) =>
    Array.from({ length: 9 }, (_, panelIndex) => ({
      globalSeed,
      panelIndex,
      seed: derivePanelSeed(globalSeed, panelIndex),
    })),
  ),
  operation: [7, 123_456_789].flatMap((shotSeed) =>
    operations.map(([operation, attempt]) => ({
      shotSeed,
      operation,
      attempt,
      seed: deriveOperationSeed(shotSeed, operation, attempt),
    })),
  ),
};

const out = fileURLToPath(new URL('../test/fixtures/seed-vectors.json', import.meta.url));
writeFileSync(out, `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${out}`);
