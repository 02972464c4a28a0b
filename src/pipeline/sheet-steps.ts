import { backendKey } from '../backends/backend-key.js';
import { throwIfAborted } from '../core/abort.js';
import { decodeImage, encodePng, type Raster } from '../image/raster.js';
// What a rerun needs to hash the steps' inputs; composing and measuring the sheet load when it is first made.
import { derivePanelPrompts, panelRequest, renderSheetPanel } from '../stages/coherence/panels.js';
import type { VisualDna } from '../stages/coherence/types.js';
import { mapPool } from '../core/pool.js';
import type { RunContext } from './run-context.js';
import { hashInput, type StepResult } from './step-runner.js';

/** Gutter between the sheet's panels, px. */
export const SHEET_GUTTER = 16;

/** The master coherence sheet as the later stages need it. */
export interface SheetResult {
  /** sha256 of the sheet PNG in the artifact store. */
  sha256: string;
  /** sha256 of its visual DNA JSON. */
  dnaSha256: string;
  dna: VisualDna;
  /** The PNG bytes when the sheet was composed in this run (saves a read for the first reference upload). */
  png?: Buffer;
}

/**
 * Stage 1: `sheet:panel-1` … `sheet:panel-9` (each its own memoised step, rendered concurrently) then
 * `sheet:compose`, which lays them out 3×3 and measures the visual DNA from the panels.
 */
export async function runSheetSteps(ctx: RunContext): Promise<SheetResult> {
  const { project, backend, artifacts, steps, progress, signal, panelSize } = ctx;
  ctx.stages.start('grid');
  const prompts = derivePanelPrompts(project);
  const settled = await mapPool(
    prompts.map((_, index) => index),
    ctx.concurrency,
    async (index) => {
      const result = await steps.run<{ seed: number }, Raster>(
        {
          id: `sheet:panel-${index + 1}`,
          stage: 'grid',
          input: panelStepInput(project, backend, index, panelSize),
          execute: async (attemptSignal) => {
            const panel = await renderSheetPanel(project, backend, index, {
              signal: attemptSignal,
              panelSize,
              onProgress: (p) => progress.update('grid', `panel-${index}`, Math.min(p.fraction, 0.99)),
            });
            return {
              artifacts: { image: await encodePng(panel.raster) },
              output: { seed: panel.panel.seed },
              keep: panel.raster,
            };
          },
        },
        signal,
      );
      progress.update('grid', `panel-${index}`, 1);
      return result;
    },
    { signal },
  );
  // Without settleAll, mapPool either throws or fulfils every item.
  const panels = settled.map(
    (r) => (r as PromiseFulfilledResult<StepResult<{ seed: number }, Raster>>).value,
  );
  const panelShas = panels.map((p) => p.artifacts['image']!);

  const sheet = await steps.run<{ dna: VisualDna }, { png: Buffer }>(
    {
      id: 'sheet:compose',
      stage: 'grid',
      input: { panels: panelShas, panelSize, gutter: SHEET_GUTTER },
      execute: async (attemptSignal) => {
        const rasters = await Promise.all(
          panels.map(
            async (p, i) =>
              p.keep ?? decodeImage(await artifacts.get(panelShas[i]!, { signal: attemptSignal })),
          ),
        );
        throwIfAborted(attemptSignal);
        const { composeSheet, measureSheetDna } = await import('../stages/coherence/index.js');
        const dna = measureSheetDna(rasters);
        const png = await encodePng(composeSheet(rasters, panelSize, SHEET_GUTTER));
        return {
          artifacts: { image: png, dna: Buffer.from(JSON.stringify(dna, null, 2)) },
          output: { dna },
          keep: { png },
        };
      },
    },
    signal,
  );
  progress.update('grid', 'compose', 1);
  const result: SheetResult = {
    sha256: sheet.artifacts['image']!,
    dnaSha256: sheet.artifacts['dna']!,
    dna: sheet.output.dna,
    ...(sheet.keep ? { png: sheet.keep.png } : {}),
  };
  ctx.stages.finishIfDone('grid', () => ({
    sheet: artifacts.localPath?.(result.sha256) ?? artifacts.urlOf(result.sha256),
    palette: result.dna.palette.map((c) => c.hex),
  }));
  return result;
}

/** What the `sheet:panel-<n>` step (index n - 1) depends on. */
export function panelStepInput(
  project: RunContext['project'],
  backend: RunContext['backend'],
  index: number,
  panelSize: number,
): { request: unknown; backend: string[] } {
  return { request: panelRequest(project, index, panelSize), backend: backendKey(backend, 'sheet-panel') };
}

/** The input hashes of the sheet's panel steps: what the sheet as a whole is made from (a sheet job's key). */
export function sheetInputHashes(
  project: RunContext['project'],
  backend: RunContext['backend'],
  panelSize: number,
): string[] {
  return derivePanelPrompts(project).map((_, index) =>
    hashInput(`sheet:panel-${index + 1}`, panelStepInput(project, backend, index, panelSize)),
  );
}
