import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRaster, decodeImage, type Raster } from '../src/image/raster.js';
import { measureVisualDna } from '../src/stages/coherence/index.js';
import { lumaOf, normalizeSharpness } from '../src/stages/qa/metrics.js';
import { assessFrame, DEFAULT_QA_THRESHOLDS, measureFrame, QaIssue } from '../src/stages/qa/index.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'qa');

interface Expected {
  width: number;
  height: number;
  laplacianVar: number;
  lumaMean: number;
  lumaStd: number;
  noiseSigma: number;
  clippedHighlightsPct: number;
  clippedShadowsPct: number;
}
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  opencv: string;
  images: Record<string, Expected>;
};

function flat(width: number, height: number, rgb: [number, number, number]): Raster {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return createRaster(width, height, data);
}

/** Grey frame plus the same Gaussian noise on all three channels (Box–Muller from a fixed LCG), so luma noise = sigma. */
function noisyGrey(width: number, height: number, level: number, sigma: number): Raster {
  const data = Buffer.alloc(width * height * 3);
  let state = 12345;
  const uniform = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  for (let i = 0; i < data.length; i += 3) {
    const g = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    const v = Math.max(0, Math.min(255, Math.round(level + sigma * g)));
    data[i] = v;
    data[i + 1] = v;
    data[i + 2] = v;
  }
  return createRaster(width, height, data);
}

describe('QA metrics match OpenCV on committed fixtures', () => {
  const names = Object.keys(expected.images);

  it('has the fixtures the script writes', () => {
    expect(names.length).toBeGreaterThanOrEqual(4);
  });

  for (const name of names) {
    it(`${name}: Laplacian variance equal to cv2.Laplacian(gray, CV_64F).var() (issue bar: 0.5 %), luma identical`, async () => {
      const e = expected.images[name]!;
      const raster = await decodeImage(join(FIXTURES, name));
      expect([raster.width, raster.height]).toEqual([e.width, e.height]);
      const m = measureFrame(raster, { palette: [] });
      // Bit-exact in practice (relative error ~1e-16): a border-handling slip would hide inside the issue's 0.5 %.
      expect(Math.abs(m.sharpness - e.laplacianVar) / Math.max(e.laplacianVar, 1e-9)).toBeLessThan(1e-9);
      const luma = lumaOf(raster);
      const mean = luma.reduce((a, b) => a + b, 0) / luma.length;
      expect(mean).toBeCloseTo(e.lumaMean, 9);
      expect(m.exposure.meanLuma).toBeCloseTo(e.lumaMean, 9);
      expect(m.contrastRms * 255).toBeCloseTo(e.lumaStd, 6);
      expect(m.noiseSigma).toBeCloseTo(e.noiseSigma, 6);
      expect(m.exposure.clippedHighlightsPct).toBeCloseTo(e.clippedHighlightsPct, 9);
      expect(m.exposure.clippedShadowsPct).toBeCloseTo(e.clippedShadowsPct, 9);
    });
  }
});

describe('QA metrics on synthetic frames with known answers', () => {
  it('a flat grey frame has zero sharpness, zero contrast, zero noise and no clipping', () => {
    const m = measureFrame(flat(64, 48, [128, 128, 128]), { palette: [] });
    expect(m.sharpness).toBe(0);
    expect(m.contrastRms).toBe(0);
    expect(m.noiseSigma).toBe(0);
    expect(m.exposure).toEqual({ meanLuma: 128, clippedHighlightsPct: 0, clippedShadowsPct: 0 });
  });

  it('Gaussian noise of sigma 10 is estimated within 20%', () => {
    const m = measureFrame(noisyGrey(512, 512, 128, 10), { palette: [] });
    expect(m.noiseSigma).toBeGreaterThan(8);
    expect(m.noiseSigma).toBeLessThan(12);
    expect(m.contrastRms * 255).toBeGreaterThan(9);
    expect(m.contrastRms * 255).toBeLessThan(11);
  });

  it('counts clipped highlights and shadows as percentages of the frame', () => {
    const data = Buffer.alloc(10 * 10 * 3, 128);
    data.fill(255, 0, 30 * 3); // 30 white pixels
    data.fill(0, 30 * 3, 40 * 3); // 10 black ones
    const m = measureFrame(createRaster(10, 10, data), { palette: [] });
    expect(m.exposure.clippedHighlightsPct).toBeCloseTo(30, 9);
    expect(m.exposure.clippedShadowsPct).toBeCloseTo(10, 9);
  });

  it('palette drift is near zero against the frame’s own DNA and large against a different grade', async () => {
    const frame = await decodeImage(join(FIXTURES, 'photo-like-480x270.png'));
    expect(measureFrame(frame, measureVisualDna(frame)).paletteDrift).toBeLessThan(5);
    const teal = measureVisualDna(flat(32, 32, [20, 120, 130]));
    expect(measureFrame(frame, teal).paletteDrift).toBeGreaterThan(DEFAULT_QA_THRESHOLDS.paletteDriftMax);
  });

  it('normalises sharpness to the 512-px reference by (min side / 512)^p', () => {
    expect(normalizeSharpness(100, 512, 512)).toBe(100);
    expect(normalizeSharpness(100, 1920, 1080, 512, 2)).toBeCloseTo(100 * (1080 / 512) ** 2, 9);
    expect(normalizeSharpness(100, 256, 900, 512, 1)).toBeCloseTo(50, 9);
  });

  it('rejects an empty frame with a message naming the problem', () => {
    expect(() => measureFrame(createRaster(0, 0), { palette: [] })).toThrow(/empty frame/);
  });
});

describe('assessFrame names issues against thresholds', () => {
  const base = {
    sharpness: 400,
    sharpnessNormalized: 400,
    exposure: { meanLuma: 120, clippedHighlightsPct: 0, clippedShadowsPct: 0 },
    contrastRms: 0.2,
    noiseSigma: 2,
    paletteDrift: 3,
  };

  it('a frame well inside every limit scores 100 and passes', () => {
    expect(assessFrame(base, DEFAULT_QA_THRESHOLDS)).toMatchObject({ score: 100, issues: [], passed: true });
  });

  it('each limit produces its own named issue and lowers the score', () => {
    const cases: Array<[QaIssue, Partial<typeof base>]> = [
      [QaIssue.TOO_SOFT, { sharpnessNormalized: 10 }],
      [QaIssue.OVERSHARPENED, { sharpnessNormalized: 9000 }],
      [QaIssue.UNDEREXPOSED, { exposure: { meanLuma: 30, clippedHighlightsPct: 0, clippedShadowsPct: 0 } }],
      [QaIssue.UNDEREXPOSED, { exposure: { meanLuma: 90, clippedHighlightsPct: 0, clippedShadowsPct: 40 } }],
      [QaIssue.OVEREXPOSED, { exposure: { meanLuma: 230, clippedHighlightsPct: 0, clippedShadowsPct: 0 } }],
      [QaIssue.LOW_CONTRAST, { contrastRms: 0.03 }],
      [QaIssue.NOISY, { noiseSigma: 15 }],
      [QaIssue.STYLE_DRIFT, { paletteDrift: 25 }],
    ];
    for (const [issue, change] of cases) {
      const a = assessFrame({ ...base, ...change }, DEFAULT_QA_THRESHOLDS);
      expect(a.issues).toEqual([issue]);
      expect(a.passed).toBe(false);
      expect(a.score).toBeLessThanOrEqual(85);
    }
  });

  it('a worse metric gives a lower score, and issues are listed most severe first', () => {
    const mild = assessFrame({ ...base, sharpnessNormalized: 40 }, DEFAULT_QA_THRESHOLDS);
    const severe = assessFrame({ ...base, sharpnessNormalized: 4 }, DEFAULT_QA_THRESHOLDS);
    expect(severe.score).toBeLessThan(mild.score);
    const both = assessFrame({ ...base, sharpnessNormalized: 45, paletteDrift: 30 }, DEFAULT_QA_THRESHOLDS);
    expect(both.issues).toEqual([QaIssue.STYLE_DRIFT, QaIssue.TOO_SOFT]);
  });

  it('thresholds are configuration: loosening one clears its issue', () => {
    const m = { ...base, noiseSigma: 15 };
    expect(assessFrame(m, { ...DEFAULT_QA_THRESHOLDS, noiseSigmaMax: 20 }).passed).toBe(true);
  });
});
