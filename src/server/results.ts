import type { PipelineStage } from '../core/status-tracker.js';
import type { GenerationResults } from '../pipeline/sequence-generation-service.js';
import type { Project } from '../project/schema.js';
import type { VisualDna } from '../stages/coherence/types.js';
import { buildQaReport } from '../stages/qa/report.js';
import { DEFAULT_QA_THRESHOLDS } from '../stages/qa/thresholds.js';
import type { ShotQaResult } from '../stages/qa/types.js';
import type { RunRecord, RunStatus, StepRecord } from '../store/run-store.js';

/** One frame as the results page shows it: the final image, its QA, and the frame before autofix when it changed. */
export interface FrameResult {
  shotId: string;
  imageUrl: string;
  /** The promoted frame before QA's fixes; present only when autofix replaced it. */
  beforeUrl?: string;
  qaScore: number;
  initialScore: number;
  issues: string[];
  passed: boolean;
  autofixApplied: boolean;
  fixes: Array<{ kind: 'fix' | 'regenerate'; actions: string[]; delta: number; kept: boolean }>;
}

/**
 * The note's `GenerationResults`, read from the run's journal (so it works for any run, live, finished or
 * interrupted, after a server restart, and for a run on a queue whichever machine drove it), with every URL pointing at this API. `exportDir` is left out: a
 * browser cannot use a server path.
 */
export interface StudioResults extends Omit<GenerationResults, 'exportDir'> {
  status: RunStatus;
  visualDna?: VisualDna;
  frames: FrameResult[];
}

export const artifactUrl = (sha: string | undefined): string => (sha ? `/api/artifacts/${sha}` : '');

export function readResults(run: RunRecord, journal: readonly StepRecord[]): StudioResults {
  const project = (run.options as { project?: Project } | undefined)?.project;
  const steps = new Map<string, StepRecord>();
  for (const step of journal) steps.set(step.stepId, step);
  const finished = (id: string): StepRecord | undefined => {
    const step = steps.get(id);
    return step && (step.status === 'done' || step.status === 'reused') ? step : undefined;
  };
  const sheet = finished('sheet:compose');
  const frames: FrameResult[] = [];
  const generatedShots: GenerationResults['generatedShots'] = [];
  const qaResults: ShotQaResult[] = [];
  for (const shot of project?.shots ?? []) {
    const qa = finished(`qa:${shot.id}`);
    if (!qa) continue;
    const out = qa.output as { qa: ShotQaResult; seed: number };
    const promoted = finished(`promote:${shot.id}`)?.artifacts['image'];
    const final = qa.artifacts['image'];
    qaResults.push(out.qa);
    generatedShots.push({
      shotId: shot.id,
      imageUrl: artifactUrl(final),
      generated_image_url: artifactUrl(final),
      qaScore: out.qa.score,
      processingTime: ['generate', 'promote', 'qa'].reduce(
        (sum, kind) => sum + (steps.get(`${kind}:${shot.id}`)?.durationMs ?? 0),
        0,
      ),
      seed: out.seed,
    });
    frames.push({
      shotId: shot.id,
      imageUrl: artifactUrl(final),
      ...(out.qa.autofixApplied && promoted && promoted !== final
        ? { beforeUrl: artifactUrl(promoted) }
        : {}),
      qaScore: out.qa.score,
      initialScore: out.qa.initial.score,
      issues: out.qa.issues,
      passed: out.qa.passed,
      autofixApplied: out.qa.autofixApplied,
      fixes: out.qa.attempts.map((a) => ({ kind: a.kind, actions: a.actions, delta: a.delta, kept: a.kept })),
    });
  }
  const thresholds = { ...DEFAULT_QA_THRESHOLDS, ...definedOnly(project?.qa?.thresholds) };
  const summary = run.result as
    | {
        failures?: Array<{
          shotId: string;
          stage: PipelineStage;
          error: { message: string; code: string; rootCause?: string };
        }>;
        durationMs?: number;
      }
    | undefined;
  const exported = finished('export');
  const all = [...steps.values()];
  return {
    success: run.status === 'succeeded',
    status: run.status,
    runId: run.id,
    masterCoherenceSheetUrl: artifactUrl(sheet?.artifacts['image']),
    master_coherence_sheet: {
      url: artifactUrl(sheet?.artifacts['image']),
      generated_at: sheet?.finishedAt ? Date.parse(sheet.finishedAt) : 0,
    },
    // Studio projects are native project files: nothing was converted, so nothing to warn about.
    warnings: [],
    ...(sheet ? { visualDna: (sheet.output as { dna: VisualDna }).dna } : {}),
    generatedShots,
    frames,
    qaReport: buildQaReport(qaResults, thresholds),
    exportPackageUrl: exported && run.status === 'succeeded' ? `/api/runs/${run.id}/export.zip` : '',
    errors: (summary?.failures ?? []).map((f) => ({
      shotId: f.shotId,
      stage: f.stage,
      message: f.error.message,
      code: String(f.error.code),
      ...(f.error.rootCause ? { rootCause: f.error.rootCause } : {}),
    })),
    executedSteps: all.filter((s) => s.status === 'done').length,
    reusedSteps: all.filter((s) => s.status === 'reused').length,
    durationMs: summary?.durationMs ?? 0,
  };
}

/** Where the run's export zip is, from its journal; undefined before the export step finished. */
export function exportZipPath(journal: readonly StepRecord[]): string | undefined {
  const step = journal.find((s) => s.stepId === 'export' && (s.status === 'done' || s.status === 'reused'));
  return (step?.output as { zipPath?: string } | null | undefined)?.zipPath;
}

function definedOnly(values: object | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(values ?? {}).filter(([, v]) => v !== undefined)) as Record<
    string,
    number
  >;
}
