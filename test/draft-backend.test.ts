import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createDraftBackend, DRAFT_RENDERER_VERSION, type DraftMetadata } from '../src/backends/index.js';
import type { GenerationRequest } from '../src/backends/types.js';
import { hexToRgb, rgbToLab } from '../src/image/color.js';
import { extractPalette, paletteDistance } from '../src/image/palette.js';
import type { Raster } from '../src/image/raster.js';
import { runBackendSuite } from './backends/backend-contract.js';

runBackendSuite('draft renderer', async () => ({ backend: createDraftBackend(), cleanup: async () => {} }));

const backend = createDraftBackend();
const base: GenerationRequest = {
  prompt: 'A lighthouse keeper climbs the spiral stairs at dusk as a storm rolls in over the sea',
  width: 480,
  height: 270,
  seed: 2024,
  purpose: 'shot',
  shotNumber: 3,
};

function luma(r: Raster, x: number, y: number): number {
  const o = (y * r.width + x) * 3;
  return 0.299 * r.data[o]! + 0.587 * r.data[o + 1]! + 0.114 * r.data[o + 2]!;
}

/** Share of pixels in a region darker than `threshold`: where the silhouettes are. */
function darkShare(r: Raster, threshold: number, y0 = 0, y1 = r.height): number {
  let dark = 0;
  for (let y = y0; y < y1; y++) for (let x = 0; x < r.width; x++) if (luma(r, x, y) < threshold) dark++;
  return dark / (r.width * (y1 - y0));
}

/** Variance of the 4-neighbour Laplacian of the rounded 8-bit luma (OpenCV's cv2.Laplacian(ksize=1).var()). */
function laplacianVariance(r: Raster): number {
  const { width: w, height: h } = r;
  const y = new Float64Array(w * h);
  for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) y[j * w + i] = Math.round(luma(r, i, j));
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (let j = 1; j < h - 1; j++) {
    for (let i = 1; i < w - 1; i++) {
      const k = j * w + i;
      const l = y[k - 1]! + y[k + 1]! + y[k - w]! + y[k + w]! - 4 * y[k]!;
      s += l;
      s2 += l * l;
      n++;
    }
  }
  return s2 / n - (s / n) ** 2;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('draft renderer', () => {
  it('declares itself a draft backend sized to the machine and able to regenerate', () => {
    expect(backend.name).toBe('draft');
    expect(backend.version).toBe(DRAFT_RENDERER_VERSION);
    expect(backend.capacity).toBe(availableParallelism());
    expect(backend.canRegenerate).toBe(true);
  });

  it('versions non-default texture settings, so memoised frames of other settings are never reused', () => {
    const plain = createDraftBackend({ texture: { grain: 0 } });
    const same = createDraftBackend({ texture: { grain: 0 } });
    const other = createDraftBackend({ texture: { grain: 0.5 } });
    expect(plain.version).toMatch(
      new RegExp(`^${DRAFT_RENDERER_VERSION.replaceAll('.', '\\.')}\\+texture\\.[0-9a-f]{12}$`),
    );
    expect(same.version).toBe(plain.version);
    expect(other.version).not.toBe(plain.version);
  });

  it('marks every frame as a draft with the renderer version in its metadata', async () => {
    const { metadata } = await backend.generate(base);
    const m = metadata as DraftMetadata;
    expect(m.draft).toBe(true);
    expect(m.rendererVersion).toBe(DRAFT_RENDERER_VERSION);
  });

  it('draws a wide shot with a low horizon and small figures, a close-up with a head filling the frame', async () => {
    const wide = await backend.generate({ ...base, camera: 'wide establishing shot' });
    const close = await backend.generate({ ...base, camera: 'close-up' });
    const wm = wide.metadata as DraftMetadata;
    const cm = close.metadata as DraftMetadata;
    expect(wm.framing.type).toBe('extreme-wide');
    expect(cm.framing.type).toBe('close-up');
    // Measured on pixels, not only on what the renderer says it did: the silhouette colour is the darkest
    // palette colour, and a close-up's head and shoulders cover far more of the picture area than tiny figures.
    const picture = Math.floor(base.height * 0.8);
    const threshold = 40;
    const wideDark = darkShare(wide.raster, threshold, 0, picture);
    const closeDark = darkShare(close.raster, threshold, 0, picture);
    expect(closeDark).toBeGreaterThan(wideDark * 3);
    expect(closeDark).toBeGreaterThan(0.1);
    expect(wm.layout.horizon!).toBeGreaterThan(cm.layout.horizon!);
  });

  it('moves the horizon down for a low angle and up for a high angle', async () => {
    const low = (await backend.generate({ ...base, camera: 'low angle wide' })).metadata as DraftMetadata;
    const eye = (await backend.generate({ ...base, camera: 'wide' })).metadata as DraftMetadata;
    const high = (await backend.generate({ ...base, camera: 'high angle wide' })).metadata as DraftMetadata;
    expect(low.layout.horizon!).toBeGreaterThan(eye.layout.horizon!);
    expect(high.layout.horizon!).toBeLessThan(eye.layout.horizon!);
  });

  it('recognises the usual camera vocabulary', async () => {
    const cases: Array<[string, string]> = [
      ['extreme close-up on the eyes', 'extreme-close-up'],
      ['over-the-shoulder reverse', 'over-the-shoulder'],
      ["bird's-eye view", 'aerial'],
      ['medium shot, tracking', 'medium'],
      ['MCU', 'medium-close'],
    ];
    for (const [camera, type] of cases) {
      const m = (await backend.generate({ ...base, width: 96, height: 64, camera }))
        .metadata as DraftMetadata;
      expect(m.framing.type, camera).toBe(type);
    }
  });

  it('paints with the palette it is given: the frame palette lies within a few ΔE2000 of it', async () => {
    const palette = ['#1b2a4a', '#2f5d9e', '#e07b39', '#f2d9b3', '#6b4226'];
    const { raster } = await backend.generate({ ...base, width: 640, height: 360, palette, camera: 'wide' });
    const measured = extractPalette(raster, { k: 7 });
    const reference = palette.map((hex) => ({ lab: rgbToLab(...hexToRgb(hex)) }));
    const drift = paletteDistance(measured, reference);
    expect(drift).toBeLessThan(6);
    // And another palette is clearly farther away, so the check can fail.
    const other = ['#ff2bd6', '#00e5ff', '#7a00ff', '#0b0620', '#c7e9c0'].map((hex) => ({
      lab: rgbToLab(...hexToRgb(hex)),
    }));
    expect(paletteDistance(measured, other)).toBeGreaterThan(drift * 2);
  });

  it('renders the caption text: two prompts with the same seed differ in the caption band', async () => {
    const a = await backend.generate({ ...base, prompt: 'Wide view of a harbour at dawn, fishing boats' });
    const b = await backend.generate({ ...base, prompt: 'Wide view of a harbour at dawn, sailing ships' });
    const band = Math.floor(base.height * 0.85);
    let differing = 0;
    for (let y = band; y < base.height; y++) {
      for (let x = 0; x < base.width; x++)
        if (Math.abs(luma(a.raster, x, y) - luma(b.raster, x, y)) > 40) differing++;
    }
    expect(differing).toBeGreaterThan(50);
  });

  it('survives prompts with XML metacharacters and control characters', async () => {
    const { raster } = await backend.generate({
      ...base,
      prompt: 'A <sign> reads "EAT & DRINK" — it\'s 5 > 3 ]]> \u0001 &amp;',
    });
    expect(raster.width).toBe(base.width);
  });

  it('has a photographic sharpness: Laplacian variance of a 1920x1080 draft within 50–500', async () => {
    for (const camera of ['wide', 'close-up', 'aerial']) {
      const { raster } = await backend.generate({ ...base, width: 1920, height: 1080, camera });
      const v = laplacianVariance(raster);
      expect(v, camera).toBeGreaterThan(50);
      expect(v, camera).toBeLessThan(500);
    }
  });

  it('produces byte-identical pixels in another process', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'draft-determinism-'));
    try {
      const entry = resolve('src/backends/index.ts');
      const request = {
        ...base,
        width: 640,
        height: 360,
        camera: 'over-the-shoulder, push in',
        palette: ['#123456', '#abcdef', '#fedcba'],
      };
      const script = join(dir, 'render.mts');
      await writeFile(
        script,
        `import { createHash } from 'node:crypto';\nimport { createDraftBackend } from ${JSON.stringify(entry)};\n` +
          `const { raster } = await createDraftBackend().generate(${JSON.stringify(request)});\n` +
          `process.stdout.write(createHash('sha256').update(raster.data).digest('hex'));\n`,
      );
      const tsx = resolve('node_modules/tsx/dist/cli.mjs');
      const { stdout } = await promisify(execFile)(process.execPath, [tsx, script], { cwd: resolve('.') });
      const here = await backend.generate(request);
      expect(stdout.trim()).toBe(sha(here.raster.data));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
