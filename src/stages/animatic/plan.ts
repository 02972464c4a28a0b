import { ValidationError } from '../../core/errors.js';
import {
  DEFAULT_SHOT_SECONDS,
  DEFAULT_TRANSITION_SECONDS,
  MAX_SHOT_SECONDS,
  TRANSITION_TYPES,
  type TransitionType,
} from '../../project/contract.js';
import type { Project } from '../../project/schema.js';

/** One shot on the animatic's timeline, in whole frames at the plan's rate. */
export interface PlannedShot {
  index: number;
  shotId: string;
  /** Record frame where the shot first shows (inside the incoming dissolve, if any). */
  start: number;
  /** Frames during which the shot is on screen, transitions included. */
  frames: number;
  /** The transition out of this shot into the next; the last shot's is always a cut. */
  out: { type: TransitionType; frames: number };
}

export interface AnimaticPlan {
  fps: number;
  width: number;
  height: number;
  shots: PlannedShot[];
  /** Frames of the whole animatic: every shot's frames minus the dissolve overlaps. */
  totalFrames: number;
}

/**
 * The animatic's timing in whole frames, from the project's durations and transitions. Shot lengths are rounded
 * cumulatively (the shot's end is `round(fps × Σ durations so far)`), so rounding never drifts over a long board.
 * A dissolve overlaps the two shots by its length (the sequence gets shorter by it); a fade to black fades the
 * outgoing shot down over the first half and the incoming one up over the second, without overlap.
 *
 * Everything a bad project can get wrong is checked here, before any frame is decoded, and named by shot id.
 */
export function planAnimatic(project: Project): AnimaticPlan {
  const fps = project.output.fps;
  const shots: PlannedShot[] = [];
  let seconds = 0;
  let endFrame = 0;
  project.shots.forEach((shot, index) => {
    const where = `shots[${index}] ("${shot.id}")`;
    const duration = shot.durationSeconds ?? DEFAULT_SHOT_SECONDS;
    // The schema already bounds these; a project built in code (not loaded) reaches here unchecked.
    if (!Number.isFinite(duration) || duration <= 0 || duration > MAX_SHOT_SECONDS) {
      throw new ValidationError(
        `${where}.durationSeconds must be > 0 and ≤ ${MAX_SHOT_SECONDS}, got ${duration}`,
      );
    }
    const type = shot.transition?.type ?? 'cut';
    if (!(TRANSITION_TYPES as readonly string[]).includes(type)) {
      throw new ValidationError(
        `${where}.transition.type "${String(type)}" is unknown (cut, dissolve, fade-to-black)`,
      );
    }
    seconds += duration;
    const end = Math.round(seconds * fps);
    const frames = end - endFrame;
    endFrame = end;
    if (frames < 1)
      throw new ValidationError(
        `${where}.durationSeconds ${duration} is shorter than one frame at ${fps} fps`,
      );
    const last = index === project.shots.length - 1;
    const outFrames =
      last || type === 'cut'
        ? 0
        : Math.max(1, Math.round((shot.transition?.durationSeconds ?? DEFAULT_TRANSITION_SECONDS) * fps));
    shots.push({
      index,
      shotId: shot.id,
      start: 0,
      frames,
      out: { type: last ? 'cut' : type, frames: outFrames },
    });
  });

  // Dissolves overlap: a shot must be long enough to hold both its incoming and outgoing dissolve.
  let start = 0;
  shots.forEach((shot, i) => {
    const incoming = i > 0 ? shots[i - 1]!.out : undefined;
    const overlapIn = incoming?.type === 'dissolve' ? incoming.frames : 0;
    const overlapOut = shot.out.type === 'dissolve' ? shot.out.frames : 0;
    const fadeIn = incoming?.type === 'fade-to-black' ? incoming.frames - Math.floor(incoming.frames / 2) : 0;
    const fadeOut = shot.out.type === 'fade-to-black' ? Math.floor(shot.out.frames / 2) : 0;
    if (overlapIn + overlapOut + fadeIn + fadeOut > shot.frames) {
      throw new ValidationError(
        `shots[${i}] ("${shot.shotId}") lasts ${shot.frames} frames at ${fps} fps, too short for its transitions ` +
          `(${overlapIn + fadeIn} frames in, ${overlapOut + fadeOut} out): lengthen it or shorten the transitions`,
      );
    }
    start -= overlapIn;
    shot.start = start;
    start += shot.frames;
  });
  return { fps, width: project.output.width, height: project.output.height, shots, totalFrames: start };
}

/** What one output frame shows: up to two shots with their weights (a fade's black is the missing weight). */
export interface FrameMix {
  a: { index: number; weight: number };
  b?: { index: number; weight: number };
}

/**
 * The mix at record frame `n`. A dissolve of O frames weights the incoming shot (k + 0.5) / O at its k-th frame,
 * so the middle frame of an odd dissolve is an exact half-and-half; a fade multiplies by the same ramp.
 */
export function frameMix(plan: AnimaticPlan, n: number, hint = 0): FrameMix {
  let i = Math.max(0, Math.min(hint, plan.shots.length - 1));
  while (i > 0 && plan.shots[i]!.start > n) i -= 1;
  while (i < plan.shots.length - 1 && plan.shots[i]!.start + plan.shots[i]!.frames <= n) i += 1;
  const shot = plan.shots[i]!;
  const next = plan.shots[i + 1];
  const local = n - shot.start;
  const prev = i > 0 ? plan.shots[i - 1] : undefined;
  // In the overlap with the next shot (dissolve)?
  if (next && shot.out.type === 'dissolve' && n >= next.start) {
    const t = (n - next.start + 0.5) / shot.out.frames;
    return { a: { index: i, weight: 1 - t }, b: { index: i + 1, weight: t } };
  }
  if (shot.out.type === 'fade-to-black') {
    const down = Math.floor(shot.out.frames / 2);
    const from = shot.frames - down;
    if (local >= from) return { a: { index: i, weight: 1 - (local - from + 0.5) / down } };
  }
  if (prev?.out.type === 'fade-to-black') {
    const up = prev.out.frames - Math.floor(prev.out.frames / 2);
    if (local < up) return { a: { index: i, weight: (local + 0.5) / up } };
  }
  return { a: { index: i, weight: 1 } };
}
