import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenerationStatus } from '../src/core/status-tracker.js';
import {
  SequenceGenerationService,
  type GenerationResults,
} from '../src/pipeline/sequence-generation-service.js';
import { importProject, validateProject, writeBackCreativeStudio } from '../src/project/index.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

/**
 * Issue 10: the design note's `ProjectContext.generateSequence` runs, unchanged but for its imports, on the
 * Creative Studio UI's project object; the results carry what the UI stores; write-back closes the round trip.
 * Each imported shape also generates on the draft renderer.
 */

const STUDIO_FIXTURE = 'test/fixtures/creative-studio/night-market.json';

let ws: TempWorkspace | undefined;
let service: SequenceGenerationService | undefined;
afterEach(async () => {
  service?.close();
  service = undefined;
  await ws?.dispose();
  ws = undefined;
});

/**
 * The note's `await import('../services/sequenceGenerationService')`, adapted: the same singleton name, bound to a
 * temporary workspace so the test writes nothing into the repository.
 */
async function importSequenceGenerationService(): Promise<{
  sequenceGenerationService: SequenceGenerationService;
}> {
  ws = await createTempWorkspace('storycore-studio-run-');
  service = new SequenceGenerationService({ workspace: ws.workspace, outDir: ws.outDir });
  return { sequenceGenerationService: service };
}

/** The studio fixture at a small size: the draft renderer's time grows with pixels, not with what is tested. */
async function studioProject(): Promise<Record<string, unknown> & { shots: Array<Record<string, unknown>> }> {
  const project = JSON.parse(await readFile(STUDIO_FIXTURE, 'utf8')) as Record<string, unknown> & {
    shots: Array<Record<string, unknown>>;
    metadata: Record<string, unknown>;
  };
  project.metadata['resolution'] = '256x144';
  return project;
}

describe('the note’s ProjectContext on a Creative Studio project', () => {
  it('generates the sequence from the studio object, with warnings and the fields the UI writes back', async () => {
    const project = await studioProject();
    const statuses: GenerationStatus[] = [];
    const setGenerationStatus = (status: GenerationStatus): void => {
      statuses.push(status);
    };
    const errors: string[] = [];
    const console = { log: (_: string) => undefined, error: (message: string) => errors.push(message) };

    // The note's body, as written there; only the import is adapted (see above).
    const generateSequence = async (): Promise<GenerationResults | null> => {
      // Import sequence generation service dynamically
      const { sequenceGenerationService } = await importSequenceGenerationService();

      // Generate sequence with progress callbacks
      const results = await sequenceGenerationService.generateSequence(project, {
        onProgress: (status) => setGenerationStatus(status),
        // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the note's line, kept as written
        onStageComplete: (stage, result) => console.log(`Stage ${stage} completed`),
        onError: (error) => console.error(`Error at stage ${error.stage}`),
        retryAttempts: 3,
        retryDelayMs: 2000,
      });

      return results;
    };

    const results = await generateSequence();
    expect(errors).toEqual([]);
    expect(results).not.toBeNull();
    const r = results!;
    expect(r.success).toBe(true);
    expect(statuses.at(-1)?.progress).toBe(100);
    expect(r.generatedShots.map((s) => s.shotId)).toEqual(['shot-lanterns', 'shot-crowd', 'shot-3-vendor']);
    // The UI's names for the results, pointing at real files.
    for (const shot of r.generatedShots) {
      expect(shot.generated_image_url).toBe(shot.imageUrl);
      expect(existsSync(fileURLToPath(shot.generated_image_url))).toBe(true);
    }
    expect(r.master_coherence_sheet.url).toBe(r.masterCoherenceSheetUrl);
    expect(existsSync(fileURLToPath(r.master_coherence_sheet.url))).toBe(true);
    // The shot whose studio id had to change says which studio shot it is.
    expect(r.generatedShots.find((s) => s.shotId === 'shot-3-vendor')?.sourceShotId).toBe('shot 3 / vendor');
    expect(r.generatedShots.find((s) => s.shotId === 'shot-lanterns')).not.toHaveProperty('sourceShotId');
    // The pinned seed is used; the losses are listed by path.
    expect(r.generatedShots[0]?.seed).toBe(1234567);
    expect(r.warnings).toContainEqual(
      expect.stringMatching(/^\$\.shots\[0\]\.generation\.parameters not imported/),
    );

    // Round trip: the UI's file gets the URLs, and nothing else of it changes.
    const file = join(ws!.root, 'night-market.json');
    await writeFile(file, JSON.stringify(project, null, 2));
    await writeBackCreativeStudio(file, r);
    const after = JSON.parse(await readFile(file, 'utf8')) as typeof project;
    expect(after.shots[1]?.['generated_image_url']).toBe(r.generatedShots[2]?.imageUrl);
    expect(after['master_coherence_sheet']).toMatchObject({ url: r.masterCoherenceSheetUrl });
    delete after['master_coherence_sheet'];
    for (const shot of after.shots) delete shot['generated_image_url'];
    expect(after).toEqual(project);
  });

  it('tells onWarning each loss, and rejects a studio project without a style unless one is passed', async () => {
    const { sequenceGenerationService } = await importSequenceGenerationService();
    const project = await studioProject();
    delete (project['metadata'] as Record<string, unknown>)['style'];
    await expect(sequenceGenerationService.generateSequence(project)).rejects.toThrow(/no style found/);
    const warnings: string[] = [];
    const results = await sequenceGenerationService.generateSequence(project, {
      style: 'Charcoal sketch',
      onWarning: (w) => warnings.push(w),
    });
    expect(results?.success).toBe(true);
    expect(warnings).toEqual(results?.warnings);
    expect(warnings.length).toBeGreaterThan(0);
  });
});

describe('each imported shape validates and generates on the draft renderer', () => {
  it.each([
    ['creative-studio', STUDIO_FIXTURE, {}],
    ['engine-storyboard', 'test/fixtures/storycore-engine/harbour-night', {}],
    [
      'engine-scene-breakdown',
      'test/fixtures/storycore-engine/tide-pools',
      { style: 'Watercolour picture book' },
    ],
  ])('%s', async (format, source, options) => {
    const imported = await importProject(source, options);
    expect(imported.format).toBe(format);
    expect(validateProject(imported.project).ok).toBe(true);
    const { sequenceGenerationService } = await importSequenceGenerationService();
    const results = await sequenceGenerationService.generateSequence({
      ...imported.project,
      output: { width: 256, height: 144 },
    });
    expect(results?.success).toBe(true);
    expect(results?.generatedShots).toHaveLength(imported.project.shots.length);
  });
});
