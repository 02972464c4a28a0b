import path from 'node:path';
import { checkAnimaticAudio } from '../stages/animatic/audio.js';
import { findFfmpeg } from '../stages/animatic/ffmpeg.js';
import { planAnimatic } from '../stages/animatic/plan.js';
import type { AnimaticResult } from '../stages/animatic/animatic.js';
import type { Project } from '../project/schema.js';

export interface RerenderAnimaticOptions {
  /** The finished export folder to render into. */
  dir: string;
  /** The project whose timings apply (an edited project file, or the export's own project.json). */
  project: Project;
  /** Where the project's relative paths (the audio) start. */
  projectDir: string;
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
}

/**
 * `storycore animatic`: re-renders just the animatic of a finished export with the given project's timings —
 * checks first (timings, audio), then the same renderAnimatic the pipeline's step runs. Outside the journal: the
 * next run of the project sees the folder no longer holds what its animatic step made and renders it again.
 */
export async function rerenderAnimatic(options: RerenderAnimaticOptions): Promise<AnimaticResult> {
  const { project, signal } = options;
  planAnimatic(project);
  const ffmpeg = await findFfmpeg();
  const audio =
    project.animatic?.audio === undefined
      ? undefined
      : path.resolve(options.projectDir, project.animatic.audio);
  if (audio !== undefined) await checkAnimaticAudio(audio, ffmpeg, signal);
  const { renderAnimatic } = await import('../stages/animatic/animatic.js');
  return renderAnimatic(
    { dir: path.resolve(options.dir), project, ffmpeg, ...(audio !== undefined ? { audio } : {}) },
    { ...(signal ? { signal } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) },
  );
}
