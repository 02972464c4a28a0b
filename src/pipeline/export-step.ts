import path from 'node:path';
import { StoreError } from '../core/errors.js';
import { composeNegativePrompt, composeShotPrompt, projectContentHash } from '../project/prompt.js';
import type { Project } from '../project/schema.js';
import { resolveGlobalSeed } from '../project/seeds.js';
import type { ExportFrame, PngFile, PngSource } from '../stages/export/index.js';
// Light (no sharp, no yazl): an unchanged rerun checks the export it reuses with these.
import { verifyExport } from '../stages/export/manifest.js';
import { sweepAbandonedTemps } from '../stages/export/temp-sweep.js';
import { verifyZip } from '../stages/export/verify-zip.js';
import type { QaReport } from '../stages/qa/index.js';
import { EXPORT_PACKAGE_SHARE } from './animatic-step.js';
import type { RunContext } from './run-context.js';
import type { SheetResult } from './sheet-steps.js';
import { generationSize, type ShotOutcome } from './shot-steps.js';

export interface ExportOutput {
  dir: string;
  zipPath: string;
}

/**
 * Stage 5: the `export` step. Its inputs are the hashes of everything packaged, so it reruns exactly when a frame,
 * the sheet, the QA report or the destination changed — or when the export it wrote is gone or damaged. A reused
 * export is checked against its manifest first: every listed file present with its size, in the folder and in the
 * zip (whose central directory a truncation destroys); with `verify`, every sha256 and CRC too. A damaged one is
 * written again (under a new name: the damaged one is left for the user to look at), never reported as success.
 */
export async function runExportStep(
  ctx: RunContext,
  sheet: SheetResult,
  shots: readonly ShotOutcome[],
  qaReport: QaReport,
  options: { outDir: string; startedAt: number; verify?: boolean },
): Promise<ExportOutput> {
  const { project, backend, artifacts, progress, now } = ctx;
  ctx.stages.start('export');
  const exported = await ctx.steps.run<ExportOutput, never>(
    {
      id: 'export',
      stage: 'export',
      input: {
        // The project without what only the animatic uses: a duration change reruns the animatic step alone.
        project: projectContentHash(withoutAnimaticTimings(project)),
        outDir: options.outDir,
        sheet: sheet.sha256,
        frames: shots.map((o) => [o.shotId, o.frameSha256, o.promotedSha256, o.seed]),
        qa: qaReport,
        backend: [backend.name, backend.version],
      },
      stillValid: async (output) => {
        // An animatic killed while publishing into this export is finished first (its roll-forward log is in its
        // work folder beside the export): judged half-published, the export would be written again for nothing.
        await sweepAbandonedTemps(path.dirname(output.dir));
        const check = { hashes: options.verify ?? false, signal: ctx.signal };
        const problems = [
          ...(await verifyExport(output.dir, check)),
          ...(await verifyZip(output.zipPath, check)),
        ];
        return problems.length === 0;
      },
      execute: async (attemptSignal) => {
        // Files, not bytes, when the store is a folder: the export copies each frame and decodes it once, so memory
        // does not grow with the number of shots. Otherwise (a bucket) each frame is read, verified, only when the
        // export reaches it.
        const fromStore = (sha: string): PngSource =>
          artifacts.localPath
            ? ({ path: artifacts.localPath(sha), sha256: sha } satisfies PngFile)
            : () => artifacts.get(sha, { signal: attemptSignal });
        const frames: ExportFrame[] = shots.map((o) => {
          const shot = project.shots[o.index]!;
          return {
            shotId: o.shotId,
            index: o.index,
            png: fromStore(o.frameSha256),
            ...(o.qa.autofixApplied && o.promotedSha256 !== o.frameSha256
              ? { beforePng: fromStore(o.promotedSha256) }
              : {}),
            width: project.output.width,
            height: project.output.height,
            seed: o.seed,
            prompt: composeShotPrompt(project, shot),
            negativePrompt: composeNegativePrompt(project, shot),
            backend: backend.name,
            ...(o.server ? { server: o.server } : {}),
            draft: backend.name === 'draft',
            promotion: {
              original: { width: o.promotion.original.w, height: o.promotion.original.h },
              cropped: { width: o.promotion.cropped.w, height: o.promotion.cropped.h },
              final: { width: o.promotion.final.w, height: o.promotion.final.h },
            },
            timings: { processingMs: o.processingTimeMs },
          };
        });
        try {
          // Loaded only when an export is written (yazl, the contact sheet, the HTML report): an unchanged rerun
          // reuses the export and starts faster without them.
          const { exportPackage } = await import('../stages/export/export-package.js');
          const result = await exportPackage(
            {
              project,
              outDir: options.outDir,
              sheet: { png: fromStore(sheet.sha256), dna: sheet.dna },
              frames,
              qaReport,
              backend: { name: backend.name, version: backend.version },
              parameters: {
                output: { width: project.output.width, height: project.output.height },
                generation: generationSize(project, backend),
                panelSize: ctx.panelSize,
                globalSeed: resolveGlobalSeed(project),
                qaThresholds: ctx.thresholds,
                regenerateBudget: ctx.regenerateBudget,
              },
              timings: { totalMs: now() - options.startedAt },
              createdAt: new Date(now()),
            },
            {
              signal: attemptSignal,
              onProgress: (done, total) =>
                progress.update('export', 'export', EXPORT_PACKAGE_SHARE * Math.min(0.99, done / total)),
            },
          );
          return { artifacts: {}, output: { dir: result.dir, zipPath: result.zipPath } };
        } catch (error) {
          if (attemptSignal.aborted) throw error;
          throw await explainDamagedFrames(error, artifacts, sheet, shots, attemptSignal);
        }
      },
    },
    ctx.signal,
  );
  return exported.output;
}

/**
 * The project as the export package depends on it: shot durations and transitions, the frame rate and the animatic
 * options shape only the animatic (whose step writes them into the export), so they are left out of the export's
 * input hash.
 */
export function withoutAnimaticTimings(project: Project): Project {
  const { animatic: _animatic, ...rest } = project;
  return {
    ...rest,
    output: { ...project.output, fps: 0 },
    shots: project.shots.map(({ durationSeconds: _d, transition: _t, ...shot }) => shot),
  };
}

/**
 * A frame the store holds may have been damaged on disk (the export checks every sha256): removes the damaged ones,
 * so the steps that made them run again next time, and names them, instead of failing the same way forever.
 * Hashing happens only here, after a failure: verifying every reused artifact on every run would cost more than
 * reuse saves. Returns the error to throw (the original when nothing was damaged).
 */
async function explainDamagedFrames(
  error: unknown,
  artifacts: RunContext['artifacts'],
  sheet: SheetResult,
  shots: readonly ShotOutcome[],
  signal: AbortSignal,
): Promise<unknown> {
  const owner = new Map<string, string>([[sheet.sha256, 'the coherence sheet']]);
  for (const o of shots) {
    owner.set(o.frameSha256, `shot ${o.shotId}`);
    owner.set(o.promotedSha256, `shot ${o.shotId}`);
  }
  const removed = await artifacts.removeDamaged(owner.keys(), { signal });
  if (removed.length === 0) return error;
  const what = [...new Set(removed.map((sha) => owner.get(sha)!))].join(', ');
  return new StoreError(
    `stored frames of ${what} were damaged on disk; they were removed, run again to recompute them`,
    { cause: error, details: { removed } },
  );
}
