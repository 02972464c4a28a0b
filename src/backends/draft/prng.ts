import { createHash } from 'node:crypto';

/** A seeded source of uniform numbers in [0, 1). */
export interface Prng {
  next(): number;
  /** Raw 32-bit unsigned output, for hot loops. */
  nextUint32(): number;
  /** Uniform in [min, max). */
  range(min: number, max: number): number;
  /** Integer in [min, max] inclusive. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits of state, passes PractRand, and uses
 * only 32-bit integer ops, so the same seed gives the same stream on every machine and Node version.
 */
export function sfc32(a: number, b: number, c: number, d: number): Prng {
  let s0 = a >>> 0;
  let s1 = b >>> 0;
  let s2 = c >>> 0;
  let s3 = d >>> 0;
  const nextUint32 = (): number => {
    const t = (((s0 + s1) | 0) + s3) | 0;
    s3 = (s3 + 1) | 0;
    s0 = s1 ^ (s1 >>> 9);
    s1 = (s2 + (s2 << 3)) | 0;
    s2 = (s2 << 21) | (s2 >>> 11);
    s2 = (s2 + t) | 0;
    return t >>> 0;
  };
  // Discard the first outputs: sfc32 mixes poorly for a few rounds after a low-entropy seed.
  for (let i = 0; i < 12; i++) nextUint32();
  const next = (): number => nextUint32() / 4294967296;
  return {
    next,
    nextUint32,
    range: (min, max) => min + (max - min) * next(),
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
  };
}

/**
 * A PRNG seeded from a labelled SHA-256 of its inputs, so independent streams (layout, grain, palette) drawn from
 * the same request never correlate and adding a stream never shifts another one.
 */
export function prngFrom(stream: string, ...parts: Array<string | number>): Prng {
  const h = createHash('sha256');
  h.update(`storycore/draft/${stream}`);
  for (const part of parts) {
    const s = typeof part === 'number' ? `n:${part}` : `s:${part}`;
    h.update(`${Buffer.byteLength(s)}:${s};`);
  }
  const d = h.digest();
  return sfc32(d.readUInt32BE(0), d.readUInt32BE(4), d.readUInt32BE(8), d.readUInt32BE(12));
}
