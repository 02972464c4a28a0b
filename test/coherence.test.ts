import { describe, expect, it } from 'vitest';
import { createDraftBackend } from '../src/backends/index.js';
import type { GenerateOptions, GenerationRequest, ImageBackend } from '../src/backends/types.js';
import { abortWith } from '../src/core/abort.js';
import { BackendFailedError, CancelledError, ValidationError } from '../src/core/errors.js';
import { deriveGlobalSeed, derivePanelSeed } from '../src/core/seeds.js';
import { hexToRgb, rgbToLab } from '../src/image/color.js';
import { paletteDistance } from '../src/image/palette.js';
import { createRaster, type Raster } from '../src/image/raster.js';
import { projectSchema, type Project } from '../src/project/schema.js';
import {
  buildCoherenceSheet,
  composeSheet,
  derivePanelPrompts,
  GUTTER_COLOUR,
  measureSheetDna,
  measureVisualDna,
  paletteForStyle,
  panelRequest,
  renderSheetPanel,
} from '../src/stages/coherence/index.js';

function project(overrides: Record<string, unknown> = {}): Project {
  return projectSchema.parse({
    schemaVersion: 1,
    id: 'lighthouse',
    name: 'The Lighthouse',
    style: { prompt: 'moody cinematic storyboard, teal and amber grade, volumetric light' },
    shots: [
      {
        id: 'shot-01',
        prompt: 'A lighthouse on a cliff at dusk, storm gathering over the sea',
        camera: 'establishing wide',
      },
      {
        id: 'shot-02',
        prompt: 'The keeper climbs the spiral stairs with a lantern',
        camera: 'low angle medium',
      },
      { id: 'shot-03', prompt: 'Close on the keeper’s face lit by the lamp', camera: 'close-up' },
      { id: 'shot-04', prompt: 'A ship fights the waves below the cliff', camera: 'aerial' },
    ],
    ...overrides,
  });
}

function solid(width: number, height: number, [r, g, b]: readonly [number, number, number]): Raster {
  const raster = createRaster(width, height);
  for (let o = 0; o < raster.data.length; o += 3) {
    raster.data[o] = r;
    raster.data[o + 1] = g;
    raster.data[o + 2] = b;
  }
  return raster;
}

const labOf = (hex: string) => ({ lab: rgbToLab(...hexToRgb(hex)) });

describe('panel prompts and requests', () => {
  it('derives nine distinct style studies, all carrying the style', () => {
    const p = project();
    const prompts = derivePanelPrompts(p);
    expect(prompts).toHaveLength(9);
    expect(new Set(prompts).size).toBe(9);
    for (const prompt of prompts) expect(prompt).toContain(p.style.prompt);
  });

  it('derives panels from the style alone, so editing a shot never changes the look lock', () => {
    const p = project();
    const edited = {
      ...p,
      shots: p.shots.map((s, i) =>
        i === 0 ? { ...s, prompt: 'an entirely different first shot prompt' } : s,
      ),
    };
    expect(derivePanelPrompts(edited)).toEqual(derivePanelPrompts(p));
    const restyled = { ...p, style: { ...p.style, prompt: 'flat pastel watercolour' } };
    expect(derivePanelPrompts(restyled)).not.toEqual(derivePanelPrompts(p));
  });

  it("uses the project's own panel prompts when it gives them", () => {
    const panels = Array.from({ length: 9 }, (_, i) => `custom study number ${i + 1}`);
    const prompts = derivePanelPrompts(project({ coherence: { panels } }));
    prompts.forEach((prompt, i) => expect(prompt).toContain(`custom study number ${i + 1}`));
  });

  it('seeds panels from the global seed, derived from the project id when none is pinned', () => {
    const unpinned = project();
    const pinned = project({ globalSeed: 77 });
    for (let i = 0; i < 9; i++) {
      expect(panelRequest(unpinned, i).seed).toBe(derivePanelSeed(deriveGlobalSeed('lighthouse'), i));
      expect(panelRequest(pinned, i).seed).toBe(derivePanelSeed(77, i));
    }
  });

  it('asks for square sheet panels painted with the style palette', () => {
    const request = panelRequest(project(), 4, 256);
    expect(request).toMatchObject({ purpose: 'sheet-panel', width: 256, height: 256, shotNumber: 5 });
    expect(request.palette).toEqual(paletteForStyle(project().style.prompt));
  });

  it('refuses a panel index outside 0–8', () => {
    expect(() => panelRequest(project(), 9)).toThrow(ValidationError);
  });
});

describe('style palette', () => {
  it('turns colour words into their colours, in the order named, filled to six', () => {
    const palette = paletteForStyle('Teal and amber grade, crimson accents');
    expect(palette).toHaveLength(6);
    expect(palette.slice(0, 3)).toEqual(['#1f7a7a', '#ffb000', '#9e1b32']);
    for (const hex of palette) expect(hex).toMatch(/^#[0-9a-f]{6}$/);
  });

  it('gives noir a colourless palette and neon a saturated one', () => {
    const chroma = (hex: string): number => {
      const [, a, b] = rgbToLab(...hexToRgb(hex));
      return Math.hypot(a, b);
    };
    expect(Math.max(...paletteForStyle('film noir, hard shadows').map(chroma))).toBeLessThan(3);
    expect(Math.max(...paletteForStyle('neon-soaked streets').map(chroma))).toBeGreaterThan(60);
  });

  it('seeds a palette from the prompt when it names no colour: stable, and different per style', () => {
    const a = paletteForStyle('gritty documentary realism');
    expect(a).toEqual(paletteForStyle('gritty documentary realism'));
    expect(a).toHaveLength(6);
    expect(a).not.toEqual(paletteForStyle('whimsical picture-book fable'));
  });
});

describe('visual DNA', () => {
  it('measures a flat grey as mid luminance with zero contrast and a daylight temperature', () => {
    const dna = measureVisualDna(solid(64, 64, [128, 128, 128]));
    expect(dna.luminance.mean).toBeCloseTo(128, 6);
    expect(dna.luminance.stdDev).toBeCloseTo(0, 6);
    expect(dna.contrastRms).toBeCloseTo(0, 6);
    // sRGB grey has D65 chromaticity; McCamy puts it within a few kelvin of 6504 K.
    expect(dna.colorTemperatureK).toBeGreaterThan(6400);
    expect(dna.colorTemperatureK).toBeLessThan(6600);
    expect(dna.meanLab[1]).toBeCloseTo(0, 1);
    expect(dna.stdLab[0]).toBeCloseTo(0, 6);
  });

  it('measures half black, half white as luma 127.5 ± 127.5 and RMS contrast 0.5', () => {
    const raster = solid(40, 40, [0, 0, 0]);
    raster.data.fill(255, 0, raster.data.length / 2);
    const dna = measureVisualDna(raster);
    expect(dna.luminance.mean).toBeCloseTo(127.5, 6);
    expect(dna.luminance.stdDev).toBeCloseTo(127.5, 6);
    expect(dna.contrastRms).toBeCloseTo(0.5, 6);
    expect(dna.meanLab[0]).toBeCloseTo(50, 0);
    expect(dna.stdLab[0]).toBeCloseTo(50, 0);
  });

  it('uses BT.601 weights for luma', () => {
    expect(measureVisualDna(solid(8, 8, [0, 255, 0])).luminance.mean).toBeCloseTo(0.587 * 255, 6);
  });

  it('gives a warm orange image a lower colour temperature than a cool blue one', () => {
    const warm = measureVisualDna(solid(32, 32, [230, 140, 60])).colorTemperatureK;
    const cool = measureVisualDna(solid(32, 32, [110, 150, 210])).colorTemperatureK;
    expect(warm).toBeLessThan(3000);
    expect(cool).toBeGreaterThan(8000);
  });
});

describe('sheet composition', () => {
  it('places nine panels row-major between gutters of the neutral gutter colour', () => {
    const panels = Array.from({ length: 9 }, (_, i) => solid(10, 10, [i * 20, 255 - i * 20, 7]));
    const sheet = composeSheet(panels, 10, 2);
    expect(sheet.width).toBe(3 * 10 + 4 * 2);
    const at = (x: number, y: number): number[] => [
      ...sheet.data.subarray((y * sheet.width + x) * 3, (y * sheet.width + x) * 3 + 3),
    ];
    expect(at(0, 0)).toEqual([...hexToRgb(GUTTER_COLOUR)]);
    expect(at(2, 2)).toEqual([0, 255, 7]);
    expect(at(2 + 12 * 2 + 9, 2 + 12 * 1)).toEqual([5 * 20, 255 - 5 * 20, 7]);
    expect(at(12, 5)).toEqual([...hexToRgb(GUTTER_COLOUR)]);
  });

  it('refuses panels of the wrong count or size', () => {
    expect(() => composeSheet([solid(4, 4, [0, 0, 0])], 4, 1)).toThrow(ValidationError);
    expect(() =>
      composeSheet(
        Array.from({ length: 9 }, () => solid(4, 5, [0, 0, 0])),
        4,
        1,
      ),
    ).toThrow(ValidationError);
  });
});

describe('master coherence sheet with the draft renderer', () => {
  const backend = createDraftBackend();

  it('builds a 1600 px sheet from nine deterministic panels, with 6–8 DNA colours close to the style palette', async () => {
    const p = project();
    const fractions: number[] = [];
    const seen: number[] = [];
    const sheet = await buildCoherenceSheet(p, backend, {
      onProgress: (e) => fractions.push(e.fraction),
      onPanel: (r) => seen.push(r.panel.index),
    });
    expect(sheet.raster.width).toBe(1600);
    expect(sheet.raster.height).toBe(1600);
    expect(sheet.panels.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (let i = 1; i < fractions.length; i++)
      expect(fractions[i]!).toBeGreaterThanOrEqual(fractions[i - 1]!);
    expect(fractions.at(-1)).toBe(1);

    expect(sheet.dna.palette.length).toBeGreaterThanOrEqual(6);
    expect(sheet.dna.palette.length).toBeLessThanOrEqual(8);
    expect(sheet.dna.palette.reduce((s, c) => s + c.weight, 0)).toBeCloseTo(1, 6);
    const style = paletteForStyle(p.style.prompt).map(labOf);
    expect(paletteDistance(sheet.dna.palette, style)).toBeLessThan(8);

    const again = await renderSheetPanel(p, backend, 4);
    const fromSheet = composeSheet(
      Array.from({ length: 9 }, () => again.raster),
      512,
      16,
    );
    // Panel 5 (centre) of the built sheet is byte-identical to a fresh render of panel index 4.
    const offset = (y: number): number => ((16 + 528 + y) * 1600 + 16 + 528) * 3;
    for (const y of [0, 100, 511]) {
      expect(
        sheet.raster.data
          .subarray(offset(y), offset(y) + 512 * 3)
          .equals(fromSheet.data.subarray(offset(y), offset(y) + 512 * 3)),
      ).toBe(true);
    }
  });

  it('measures the DNA on the panels only, not on the gutters', async () => {
    const p = project({ style: { prompt: 'bright pastel picture book, cream paper' } });
    const panels = await Promise.all(
      Array.from({ length: 9 }, (_, i) => renderSheetPanel(p, backend, i, { panelSize: 128 })),
    );
    const rasters = panels.map((x) => x.raster);
    const composed = composeSheet(rasters, 128, 16);
    const onPanels = measureSheetDna(rasters);
    const withGutters = measureVisualDna(composed);
    // The dark gutters would pull the mean luminance down; measured on the panels it stays where the panels are.
    expect(withGutters.luminance.mean).toBeLessThan(onPanels.luminance.mean - 5);
    expect(onPanels.palette.some((c) => c.hex === GUTTER_COLOUR)).toBe(false);
  });

  it('renders panels concurrently, but never more than the backend capacity', async () => {
    const draft = createDraftBackend();
    let running = 0;
    let peak = 0;
    const counted: ImageBackend = {
      name: 'draft',
      version: draft.version,
      capacity: 2,
      canRegenerate: true,
      async generate(request: GenerationRequest, options?: GenerateOptions) {
        running++;
        peak = Math.max(peak, running);
        try {
          return await draft.generate(request, options);
        } finally {
          running--;
        }
      },
    };
    await buildCoherenceSheet(project(), counted, { panelSize: 96, gutter: 4 });
    expect(peak).toBe(2);
  });

  it('stops with CancelledError when the run is cancelled', async () => {
    const controller = new AbortController();
    let panels = 0;
    const run = buildCoherenceSheet(project(), backend, {
      signal: controller.signal,
      panelSize: 128,
      onPanel: () => {
        panels++;
        if (panels === 2) abortWith(controller, 'user');
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(panels).toBeLessThan(9);
  });

  it('fails with the failing panel’s own error and cancels its siblings', async () => {
    const draft = createDraftBackend();
    const cancelled: number[] = [];
    const started: number[] = [];
    const flaky: ImageBackend = {
      name: 'flaky',
      version: '1',
      capacity: 3,
      canRegenerate: true,
      async generate(request: GenerationRequest, options?: GenerateOptions) {
        started.push(request.shotNumber ?? -1);
        if (request.shotNumber === 2) throw new BackendFailedError('GPU fell over on panel 2');
        try {
          return await draft.generate(request, options);
        } catch (e) {
          if (e instanceof CancelledError) cancelled.push(request.shotNumber ?? -1);
          throw e;
        }
      },
    };
    await expect(buildCoherenceSheet(project(), flaky, { panelSize: 128 })).rejects.toThrow(
      'GPU fell over on panel 2',
    );
    // Panels 1 and 3 were in flight and were cancelled; nothing new started after the failure.
    expect(started).toEqual([1, 2, 3]);
    expect(cancelled.sort()).toEqual([1, 3]);
  });
});
