import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { abortWith } from '../src/core/abort.js';
import { CancelledError } from '../src/core/errors.js';
import { createRaster, decodeImage, rasterToSharp, type Raster } from '../src/image/raster.js';
import { measureVisualDna, type VisualDna } from '../src/stages/coherence/index.js';
import {
  autofixFrame,
  buildQaReport,
  QaIssue,
  shotQaResult,
  DEFAULT_QA_THRESHOLDS,
} from '../src/stages/qa/index.js';

let reference: Raster;
let dna: VisualDna;

beforeAll(async () => {
  // A textured, photo-like frame (gradients, shapes, fine lines, grain) whose own DNA stands in for the sheet's.
  reference = await decodeImage(join(import.meta.dirname, 'fixtures', 'qa', 'photo-like-480x270.png'));
  dna = measureVisualDna(reference);
});

async function damaged(build: (s: Sharp) => Sharp): Promise<Raster> {
  const { data, info } = await build(rasterToSharp(reference)).raw().toBuffer({ resolveWithObject: true });
  return createRaster(info.width, info.height, data);
}

function flatGrey(): Raster {
  return createRaster(160, 90, Buffer.alloc(160 * 90 * 3, 128));
}

describe('autofixFrame repairs failing frames and reports before and after', () => {
  it('the reference itself passes, and a passing frame is left untouched with no attempts', async () => {
    const result = await autofixFrame(reference, dna);
    expect(result.initial.passed).toBe(true);
    expect(result.attempts).toEqual([]);
    expect(result.raster).toBe(reference);
    expect(result.autofixApplied).toBe(false);
    expect(result.final).toEqual(result.initial);
  });

  it("measures sharpness with the thresholds' own resolution exponent", async () => {
    // 480x270: min side 270, so normalised = raw × (270/512)^p — p changes the number QA judges.
    const at = async (p: number) =>
      (
        await autofixFrame(reference, dna, {
          thresholds: { ...DEFAULT_QA_THRESHOLDS, sharpnessScaleExponent: p },
        })
      ).initial.metrics;
    const [flat, steep] = [await at(0), await at(2)];
    expect(flat.sharpness).toBe(steep.sharpness);
    expect(flat.sharpnessNormalized).toBeCloseTo(flat.sharpness, 6);
    expect(steep.sharpnessNormalized).toBeCloseTo(steep.sharpness * (270 / 512) ** 2, 6);
  });

  it('sharpens a blurred frame until too_soft disappears', async () => {
    const blurred = await damaged((s) => s.blur(1.5));
    const result = await autofixFrame(blurred, dna);
    expect(result.initial.issues).toContain(QaIssue.TOO_SOFT);
    expect(result.final.issues).not.toContain(QaIssue.TOO_SOFT);
    expect(result.final.score).toBeGreaterThan(result.initial.score);
    expect(result.final.metrics.sharpness).toBeGreaterThan(result.initial.metrics.sharpness * 3);
    expect(
      result.attempts.every((a) => a.kind === 'fix' && a.actions.some((x) => x.startsWith('unsharp-mask'))),
    ).toBe(true);
    expect(result.autofixApplied).toBe(true);
    expect(result.raster).not.toBe(blurred);
    expect([result.raster.width, result.raster.height]).toEqual([blurred.width, blurred.height]);
  });

  it('brightens a dark frame until underexposed disappears', async () => {
    const dark = await damaged((s) => s.linear(0.3, 0));
    const result = await autofixFrame(dark, dna);
    expect(result.initial.issues).toContain(QaIssue.UNDEREXPOSED);
    expect(result.final.issues).not.toContain(QaIssue.UNDEREXPOSED);
    expect(result.final.passed).toBe(true);
    expect(result.final.metrics.exposure.meanLuma).toBeGreaterThan(
      result.initial.metrics.exposure.meanLuma + 40,
    );
    const first = result.attempts[0]!;
    expect(first.actions.some((a) => a.startsWith('exposure('))).toBe(true);
    expect(first.before).toEqual(result.initial);
    expect(first.delta).toBeCloseTo(first.after.score - first.before.score, 5);
  });

  it('pulls an off-palette (tinted) frame back to the sheet’s colours by Reinhard transfer', async () => {
    const tinted = await damaged((s) => s.linear([1.4, 1.05, 0.55], [25, 5, -10]));
    const result = await autofixFrame(tinted, dna);
    expect(result.initial.issues).toEqual([QaIssue.STYLE_DRIFT]);
    expect(result.final.issues).toEqual([]);
    expect(result.final.metrics.paletteDrift).toBeLessThan(DEFAULT_QA_THRESHOLDS.paletteDriftMax);
    expect(result.final.metrics.paletteDrift).toBeLessThan(result.initial.metrics.paletteDrift - 4);
    expect(result.attempts[0]!.actions[0]).toMatch(/^colour-transfer/);
    expect(result.attempts[0]!.kept).toBe(true);
  });

  it('never keeps a version that scores worse than the input', async () => {
    const result = await autofixFrame(flatGrey(), dna, { maxFixPasses: 3 });
    expect(result.final.passed).toBe(false);
    expect(result.final.score).toBeGreaterThanOrEqual(result.initial.score);
    for (const a of result.attempts) if (a.after.score <= a.before.score) expect(a.kept).toBe(false);
  });

  it('the report carries the shape of the note with before/after per shot', async () => {
    const dark = await damaged((s) => s.linear(0.3, 0));
    const fixed = shotQaResult('shot-02', await autofixFrame(dark, dna));
    const clean = shotQaResult('shot-01', await autofixFrame(reference, dna));
    const report = buildQaReport([clean, fixed], DEFAULT_QA_THRESHOLDS);
    expect(report.shotScores.map((s) => s.shotId)).toEqual(['shot-01', 'shot-02']);
    expect(report.autofixApplied).toBe(true);
    expect(report.shots[1]!.initial.score).toBeLessThan(report.shots[1]!.score);
    expect(report.overallScore).toBeCloseTo((clean.score + fixed.score) / 2, 1);
  });
});

describe('autofixFrame regenerates only when fixes fail, within the budget', () => {
  it('a fixable frame never calls regenerate', async () => {
    let calls = 0;
    const dark = await damaged((s) => s.linear(0.3, 0));
    const result = await autofixFrame(dark, dna, {
      regenerate: () => {
        calls++;
        return Promise.resolve({ raster: reference, seed: 1 });
      },
    });
    expect(result.final.passed).toBe(true);
    expect(calls).toBe(0);
    expect(result.regenerations).toBe(0);
  });

  it('an unfixable frame is regenerated, and the passing regeneration is kept with its seed', async () => {
    const seeds: number[] = [];
    const result = await autofixFrame(flatGrey(), dna, {
      regenerate: (attempt) => {
        seeds.push(attempt);
        return Promise.resolve({ raster: reference, seed: 1000 + attempt });
      },
    });
    expect(seeds).toEqual([1]);
    expect(result.final.passed).toBe(true);
    expect(result.seed).toBe(1001);
    expect(result.raster).toBe(reference);
    const regen = result.attempts.filter((a) => a.kind === 'regenerate');
    expect(regen).toHaveLength(1);
    expect(regen[0]).toMatchObject({ seed: 1001, kept: true });
    // fixes were tried (and failed) before the regeneration
    expect(result.attempts[0]!.kind).toBe('fix');
  });

  it('keeps the best frame so far when a regeneration scores worse (a fixed dim frame is not swapped for black)', async () => {
    // Dim enough that one fix pass brings it to ~55 without passing; the backend then returns worse frames.
    const dim = await damaged((s) => s.linear(0.1, 0));
    const worse = [0, 20].map((v) => createRaster(480, 270, Buffer.alloc(480 * 270 * 3, v)));
    const result = await autofixFrame(dim, dna, {
      maxFixPasses: 1,
      regenerateBudget: worse.length,
      regenerate: (attempt) => Promise.resolve({ raster: worse[attempt - 1]!, seed: 500 + attempt }),
    });
    const firstRegen = result.attempts.findIndex((a) => a.kind === 'regenerate');
    const bestBefore = result.attempts[firstRegen - 1]!;
    expect(bestBefore).toMatchObject({ kind: 'fix', kept: true });
    expect(bestBefore.after.score).toBeGreaterThan(40);
    expect(result.regenerations).toBe(worse.length);
    // Nothing that came from a regeneration beat the fixed dim frame, so none of it is kept.
    for (const a of result.attempts.slice(firstRegen)) {
      expect(a.after.score).toBeLessThan(bestBefore.after.score);
      expect(a.kept).toBe(false);
    }
    expect(result.final).toEqual(bestBefore.after);
    expect(result.seed).toBeUndefined();
    expect(result.autofixApplied).toBe(true);
  });

  it('stops at the budget when regenerations keep failing', async () => {
    let calls = 0;
    const result = await autofixFrame(flatGrey(), dna, {
      regenerateBudget: 2,
      maxFixPasses: 1,
      regenerate: () => {
        calls++;
        return Promise.resolve({ raster: flatGrey(), seed: calls });
      },
    });
    expect(calls).toBe(2);
    expect(result.regenerations).toBe(2);
    expect(result.final.passed).toBe(false);
    expect(result.attempts.map((a) => a.kind)).toEqual(['fix', 'regenerate', 'fix', 'regenerate', 'fix']);
  });
});

describe('autofixFrame is cancellable', () => {
  it('rejects with CancelledError when aborted between attempts, and attempts stop there', async () => {
    const controller = new AbortController();
    const blurred = await damaged((s) => s.blur(1.5));
    let seen = 0;
    const run = autofixFrame(blurred, dna, {
      signal: controller.signal,
      onAttempt: () => {
        seen++;
        abortWith(controller, 'user');
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(seen).toBe(1);
  });

  it('rejects at once with an already-aborted signal, and while waiting on a regeneration', async () => {
    const aborted = new AbortController();
    abortWith(aborted, 'shutdown');
    await expect(autofixFrame(reference, dna, { signal: aborted.signal })).rejects.toMatchObject({
      reason: 'shutdown',
    });

    const controller = new AbortController();
    const run = autofixFrame(flatGrey(), dna, {
      signal: controller.signal,
      maxFixPasses: 1,
      regenerate: async () => {
        abortWith(controller, 'user');
        return { raster: reference, seed: 7 };
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
  });
});

describe('fixes keep working on raw pixels end to end', () => {
  it('a fixed frame encodes to a PNG that decodes back to the same pixels', async () => {
    const dark = await damaged((s) => s.linear(0.3, 0));
    const { raster } = await autofixFrame(dark, dna);
    const png = await rasterToSharp(raster).png().toBuffer();
    const back = await decodeImage(png);
    expect(back.data.equals(raster.data)).toBe(true);
    expect((await sharp(png).metadata()).format).toBe('png');
  });
});
