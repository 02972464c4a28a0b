import { createRequire } from 'node:module';
import type SharpModule from 'sharp';

/** The `sharp` function with its statics (`cache`, `versions`…), as `import sharp from 'sharp'` gives it. */
export type SharpModuleType = typeof SharpModule;

const require = createRequire(import.meta.url);
let loaded: SharpModuleType | undefined;

/**
 * sharp, loaded on first use. Importing it loads libvips and its native addon (~0.1 s), which commands that never
 * touch a pixel (`--version`, `--help`, `validate`, an unchanged rerun) should not pay for; sharp is CommonJS, so a
 * synchronous `require` keeps every call site synchronous.
 *
 * On first load, libvips' operation cache is turned off: it keeps decoded inputs for reuse, our stages never repeat
 * an operation, so the cache only holds memory (it made peak RSS grow with the number of shots).
 */
export function loadSharp(): SharpModuleType {
  if (loaded === undefined) {
    const sharp = require('sharp') as SharpModuleType;
    sharp.cache(false);
    loaded = sharp;
  }
  return loaded;
}
