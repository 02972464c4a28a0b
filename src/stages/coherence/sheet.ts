import { throwIfAborted } from '../../core/abort.js';
import { ValidationError } from '../../core/errors.js';
import { mapPool } from '../../core/pool.js';
import type { GenerationProgress, ImageBackend } from '../../backends/types.js';
import { hexToRgb } from '../../image/color.js';
import { createRaster, type Raster } from '../../image/raster.js';
import type { Project } from '../../project/schema.js';
import { PANEL_COUNT, renderSheetPanel, type RenderedPanel } from './panels.js';
import { measureSheetDna } from './visual-dna.js';
import type { CoherenceSheet } from './types.js';

/** Gutter colour between panels: a neutral dark grey that frames every palette without tinting it. */
export const GUTTER_COLOUR = '#1c1c1f';

export interface BuildSheetOptions {
  signal?: AbortSignal;
  /** Overall progress of the sheet, 0–1, the mean of the nine panels' fractions. */
  onProgress?: (progress: GenerationProgress) => void;
  /** Side of each square panel in pixels. @default 512 */
  panelSize?: number;
  /** Gutter between and around panels in pixels. @default 16 */
  gutter?: number;
  /** Called as each panel finishes (in completion order), e.g. to store it. */
  onPanel?: (panel: RenderedPanel) => void;
}

/** Side of a composed sheet: three panels and four gutters (outer ones included). */
export function sheetSide(panelSize: number, gutter: number): number {
  return 3 * panelSize + 4 * gutter;
}

/** Composes nine square panels, row-major, into a 3x3 sheet with gutters, by raw row copies (no resampling). */
export function composeSheet(panels: readonly Raster[], panelSize: number, gutter: number): Raster {
  if (panels.length !== PANEL_COUNT) {
    throw new ValidationError(`a coherence sheet needs ${PANEL_COUNT} panels, got ${panels.length}`, [
      { path: 'panels', message: 'wrong count' },
    ]);
  }
  if (!Number.isInteger(panelSize) || panelSize < 1 || !Number.isInteger(gutter) || gutter < 0) {
    throw new ValidationError(
      `panelSize must be a positive integer and gutter a non-negative integer, got ${panelSize} and ${gutter}`,
      [{ path: 'panelSize', message: String(panelSize) }],
    );
  }
  const side = sheetSide(panelSize, gutter);
  const out = createRaster(side, side);
  const [gr, gg, gb] = hexToRgb(GUTTER_COLOUR);
  for (let o = 0; o < out.data.length; o += 3) {
    out.data[o] = gr;
    out.data[o + 1] = gg;
    out.data[o + 2] = gb;
  }
  const rowBytes = panelSize * 3;
  panels.forEach((panel, i) => {
    if (panel.width !== panelSize || panel.height !== panelSize) {
      throw new ValidationError(
        `sheet panel ${i + 1} is ${panel.width}x${panel.height}, expected ${panelSize}x${panelSize}`,
        [{ path: `panels[${i}]`, message: 'wrong size' }],
      );
    }
    const left = gutter + (i % 3) * (panelSize + gutter);
    const top = gutter + Math.floor(i / 3) * (panelSize + gutter);
    for (let y = 0; y < panelSize; y++) {
      panel.data.copy(out.data, ((top + y) * side + left) * 3, y * rowBytes, (y + 1) * rowBytes);
    }
  });
  return out;
}

/**
 * Renders the nine panels (concurrently, up to the backend's capacity), composes the 3x3 sheet and measures its
 * visual DNA on the panels. The first failure cancels the panels still running and is rethrown as it was.
 */
export async function buildCoherenceSheet(
  project: Project,
  backend: ImageBackend,
  options: BuildSheetOptions = {},
): Promise<CoherenceSheet> {
  const panelSize = options.panelSize ?? 512;
  const gutter = options.gutter ?? 16;
  const { signal } = options;
  throwIfAborted(signal);
  // One controller for the siblings: a failed panel stops the others instead of letting them burn GPU time.
  const siblings = new AbortController();
  const combined = signal ? AbortSignal.any([signal, siblings.signal]) : siblings.signal;
  const fractions = new Array<number>(PANEL_COUNT).fill(0);
  let reported = 0;
  const report = (message: string): void => {
    const fraction = fractions.reduce((a, b) => a + b, 0) / PANEL_COUNT;
    // Panels report out of order; the sheet's fraction only moves forward.
    if (fraction < reported) return;
    reported = fraction;
    options.onProgress?.({ fraction, message });
  };
  const settled = await mapPool(
    Array.from({ length: PANEL_COUNT }, (_, index) => index),
    Math.max(1, Math.floor(backend.capacity) || 1),
    async (index) => {
      try {
        const rendered = await renderSheetPanel(project, backend, index, {
          signal: combined,
          panelSize,
          onProgress: (p) => {
            fractions[index] = Math.max(fractions[index]!, Math.min(1, p.fraction));
            report(`panel ${index + 1}/${PANEL_COUNT}`);
          },
        });
        fractions[index] = 1;
        report(`panel ${index + 1}/${PANEL_COUNT} done`);
        options.onPanel?.(rendered);
        return rendered;
      } catch (error) {
        // The first failure is what mapPool rethrows; the siblings it cancels here fail after it.
        siblings.abort();
        throw error;
      }
    },
    signal ? { signal } : {},
  );
  // Without settleAll, mapPool either throws or fulfils every item.
  const rendered = settled.map((r) => (r as PromiseFulfilledResult<RenderedPanel>).value);
  const rasters = rendered.map((r) => r.raster);
  return {
    raster: composeSheet(rasters, panelSize, gutter),
    panels: rendered.map((r) => r.panel),
    panelSize,
    gutter,
    dna: measureSheetDna(rasters),
  };
}
