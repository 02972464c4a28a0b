import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SequenceGenerationService } from '../src/pipeline/sequence-generation-service.js';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { loadProjectFile } from '../src/project/load.js';
import { projectSchema, type Project } from '../src/project/schema.js';
import { findFfmpeg, planAnimatic } from '../src/stages/animatic/index.js';
import type { BenchRow } from './types.js';

const EXAMPLE = new URL('../examples/lighthouse/project.json', import.meta.url).pathname;

interface Timed {
  totalMs: number;
  steps: Map<string, number>;
  executed: number;
}

async function generate(svc: SequenceGenerationService, project: Project): Promise<Timed> {
  const steps = new Map<string, number>();
  const onEvent = (e: PipelineEvent): void => {
    if (e.type === 'step-completed') steps.set(e.stepId, e.durationMs);
  };
  const started = performance.now();
  const result = await svc.generateSequence(project, { onEvent, projectDir: dirname(EXAMPLE) });
  const totalMs = performance.now() - started;
  if (!result?.success) throw new Error(`the animatic bench run failed: ${JSON.stringify(result?.errors)}`);
  return { totalMs, steps, executed: result.executedSteps };
}

/**
 * Issue 9's benchmark: the animatic of the 12-shot lighthouse example at 1920×1080, 24 fps (draft frames): seconds of
 * encode per minute of animatic, its share of the export stage (package + animatic) and of the whole run, and the
 * rerun after one duration changed (the animatic step alone).
 */
export async function benchAnimatic(): Promise<BenchRow[]> {
  const g = 'animatic (lighthouse, 12 shots, 1920×1080, 24 fps)';
  const ffmpeg = await findFfmpeg();
  if ('missing' in ffmpeg) return [{ group: g, name: 'skipped', value: 0, unit: '', note: ffmpeg.missing }];
  const dir = await mkdtemp(join(tmpdir(), 'storycore-bench-animatic-'));
  const svc = new SequenceGenerationService({ workspace: join(dir, 'ws'), outDir: join(dir, 'out') });
  try {
    const project = await loadProjectFile(EXAMPLE);
    const plan = planAnimatic(project);
    const minutes = plan.totalFrames / plan.fps / 60;
    const first = await generate(svc, project);
    const animaticMs = first.steps.get('animatic') ?? NaN;
    const exportMs = first.steps.get('export') ?? NaN;
    const longer = projectSchema.parse({
      ...project,
      shots: project.shots.map((s, i) =>
        i === 0 ? { ...s, durationSeconds: (s.durationSeconds ?? 3) + 1 } : s,
      ),
    });
    const rerun = await generate(svc, longer);
    const perMinute = animaticMs / 1000 / minutes;
    return [
      {
        group: g,
        name: 'animatic step (encode + timelines + manifest + zip)',
        value: animaticMs / 1000,
        unit: 's',
        note: `${(minutes * 60).toFixed(0)} s of video, ${plan.totalFrames} frames, ${ffmpeg.version} (${ffmpeg.source})`,
      },
      {
        group: g,
        name: 'seconds of encode per minute of animatic',
        value: perMinute,
        unit: 's/min',
        note: `${((plan.totalFrames / animaticMs) * 1000).toFixed(0)} frames/s, ${(60 / perMinute).toFixed(1)}× real time`,
      },
      { group: g, name: 'export package step', value: exportMs / 1000, unit: 's' },
      {
        group: g,
        name: 'animatic share of the export stage',
        value: (animaticMs / (animaticMs + exportMs)) * 100,
        unit: '%',
      },
      {
        group: g,
        name: 'animatic share of the whole run',
        value: (animaticMs / first.totalMs) * 100,
        unit: '%',
        note: `run ${(first.totalMs / 1000).toFixed(1)} s`,
      },
      {
        group: g,
        name: 'rerun after one duration changed',
        value: rerun.totalMs / 1000,
        unit: 's',
        note: `${rerun.executed} step(s) run: ${[...rerun.steps.keys()].join(', ')}`,
      },
    ];
  } finally {
    svc.close();
    await rm(dir, { recursive: true, force: true });
  }
}
