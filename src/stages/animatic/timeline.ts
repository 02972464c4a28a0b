import type { AnimaticPlan } from './plan.js';

/** A shot as an editor sees it: where it sits on the record side and which part of its still it uses. */
export interface TimelineEvent {
  index: number;
  shotId: string;
  /** The exported still, relative to the export folder. */
  file: string;
  /** Record range [recordIn, recordOut) in frames from the start of the sequence. */
  recordIn: number;
  recordOut: number;
  /** First frame of the still's own timeline used (inside the incoming transition, if any). */
  sourceIn: number;
  /** Frames of the still available: the whole time it is on screen. */
  available: number;
}

/** Where each edit point (the cut) falls: a dissolve's or fade's cut sits in its middle. */
interface Cut {
  at: number;
  type: 'cut' | 'dissolve' | 'fade-to-black';
  /** Frames of the transition before and after the cut. */
  before: number;
  after: number;
}

function cutsOf(plan: AnimaticPlan): Cut[] {
  return plan.shots.slice(0, -1).map((shot, i) => {
    const next = plan.shots[i + 1]!;
    const { type, frames } = shot.out;
    const before = Math.floor(frames / 2);
    if (type === 'dissolve') return { at: next.start + before, type, before, after: frames - before };
    return { at: next.start, type, before, after: frames - before };
  });
}

/** The shots cut at the middle of their transitions (what OpenTimelineIO calls the clips' ranges). */
export function timelineEvents(plan: AnimaticPlan, files: readonly string[]): TimelineEvent[] {
  const cuts = cutsOf(plan);
  return plan.shots.map((shot, i) => {
    const recordIn = i === 0 ? 0 : cuts[i - 1]!.at;
    const recordOut = i === plan.shots.length - 1 ? plan.totalFrames : cuts[i]!.at;
    return {
      index: i,
      shotId: shot.shotId,
      file: files[i]!,
      recordIn,
      recordOut,
      sourceIn: recordIn - shot.start,
      available: shot.frames,
    };
  });
}

const rational = (value: number, rate: number) => ({ OTIO_SCHEMA: 'RationalTime.1', rate, value });
const range = (start: number, duration: number, rate: number) => ({
  OTIO_SCHEMA: 'TimeRange.1',
  duration: rational(duration, rate),
  start_time: rational(start, rate),
});

/** Record timecode of the first frame, as editors expect a programme to start. */
export const RECORD_START_HOURS = 1;

/**
 * The cut as OpenTimelineIO JSON (Timeline.1 → Stack.1 → one video Track.1 of Clip.2 and Transition.1): every time at
 * the animatic's frame rate; each clip references its exported still, so an editor swaps stills for footage later.
 * Dissolves are SMPTE_Dissolve; a fade to black has no OTIO type and is a Custom_Transition named "fade-to-black".
 */
export function otioTimeline(plan: AnimaticPlan, files: readonly string[], name: string): string {
  const rate = plan.fps;
  const events = timelineEvents(plan, files);
  const cuts = cutsOf(plan);
  const children: unknown[] = [];
  events.forEach((e, i) => {
    children.push({
      OTIO_SCHEMA: 'Clip.2',
      name: e.shotId,
      source_range: range(e.sourceIn, e.recordOut - e.recordIn, rate),
      effects: [],
      markers: [],
      enabled: true,
      media_references: {
        DEFAULT_MEDIA: {
          OTIO_SCHEMA: 'ExternalReference.1',
          name: e.file,
          target_url: e.file,
          available_range: range(0, e.available, rate),
          metadata: {},
        },
      },
      active_media_reference_key: 'DEFAULT_MEDIA',
      metadata: { storycore: { shotId: e.shotId, index: e.index } },
    });
    const cut = cuts[i];
    if (cut && cut.type !== 'cut') {
      children.push({
        OTIO_SCHEMA: 'Transition.1',
        name: cut.type,
        transition_type: cut.type === 'dissolve' ? 'SMPTE_Dissolve' : 'Custom_Transition',
        in_offset: rational(cut.before, rate),
        out_offset: rational(cut.after, rate),
        metadata: {},
      });
    }
  });
  const timeline = {
    OTIO_SCHEMA: 'Timeline.1',
    name,
    global_start_time: rational(RECORD_START_HOURS * 3600 * rate, rate),
    metadata: { storycore: { fps: rate, width: plan.width, height: plan.height } },
    tracks: {
      OTIO_SCHEMA: 'Stack.1',
      name: 'tracks',
      source_range: null,
      effects: [],
      markers: [],
      enabled: true,
      metadata: {},
      children: [
        {
          OTIO_SCHEMA: 'Track.1',
          name: 'V1',
          kind: 'Video',
          source_range: null,
          effects: [],
          markers: [],
          enabled: true,
          metadata: {},
          children,
        },
      ],
    },
  };
  return `${JSON.stringify(timeline, null, 2)}\n`;
}

/** HH:MM:SS:FF, non-drop, at a whole frame rate. */
export function timecode(frame: number, fps: number): string {
  const ff = frame % fps;
  const totalSeconds = Math.floor(frame / fps);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(Math.floor(totalSeconds / 3600))}:${two(Math.floor(totalSeconds / 60) % 60)}:${two(totalSeconds % 60)}:${two(ff)}`;
}

/** EDL titles and comments are single ASCII lines. */
const edlText = (text: string): string => text.replace(/[^\x20-\x7e]/g, '_');

/**
 * The cut as a CMX 3600 EDL: one event per shot on reel AX (the still named in a FROM CLIP NAME comment), record
 * timecode from 01:00:00:00. A dissolve is written the CMX way — the outgoing shot's zero-length cut, then a `D`
 * line of the incoming shot starting where the dissolve starts. CMX has no fade to black between two sources; it
 * is a cut here, with a comment giving its length (the video and the OTIO file carry the fade itself).
 */
export function edlTimeline(plan: AnimaticPlan, files: readonly string[], title: string): string {
  const fps = plan.fps;
  const base = RECORD_START_HOURS * 3600 * fps;
  const tc = (frame: number): string => timecode(frame, fps);
  const rec = (frame: number): string => timecode(base + frame, fps);
  const lines = [`TITLE: ${edlText(title).slice(0, 70)}`, 'FCM: NON-DROP FRAME', ''];
  const events = timelineEvents(plan, files);
  const cuts = cutsOf(plan);
  const num = (n: number): string => String(n).padStart(3, '0');
  events.forEach((e, i) => {
    const incoming = i > 0 ? cuts[i - 1] : undefined;
    const outgoing = cuts[i];
    const shot = plan.shots[i]!;
    // CMX: a dissolve starts at the incoming event's record in, and the outgoing event ends there.
    const recordIn = incoming?.type === 'dissolve' ? shot.start : e.recordIn;
    const recordOut = outgoing?.type === 'dissolve' ? plan.shots[i + 1]!.start : e.recordOut;
    const sourceIn = recordIn - shot.start;
    const sourceOut = sourceIn + (recordOut - recordIn);
    const n = num(i + 1);
    if (incoming?.type === 'dissolve') {
      const prev = events[i - 1]!;
      const prevShot = plan.shots[i - 1]!;
      const prevOut = shot.start - prevShot.start;
      lines.push(
        `${n}  AX       V     C        ${tc(prevOut)} ${tc(prevOut)} ${rec(recordIn)} ${rec(recordIn)}`,
      );
      lines.push(
        `${n}  AX       V     D    ${String(incoming.before + incoming.after).padStart(3, '0')} ${tc(sourceIn)} ${tc(sourceOut)} ${rec(recordIn)} ${rec(recordOut)}`,
      );
      lines.push(`* FROM CLIP NAME: ${edlText(prev.file)}`);
      lines.push(`* TO CLIP NAME: ${edlText(e.file)}`);
    } else {
      lines.push(
        `${n}  AX       V     C        ${tc(sourceIn)} ${tc(sourceOut)} ${rec(recordIn)} ${rec(recordOut)}`,
      );
      lines.push(`* FROM CLIP NAME: ${edlText(e.file)}`);
    }
    if (incoming?.type === 'fade-to-black') {
      lines.push(`* FADE TO BLACK ${incoming.before + incoming.after} FRAMES CENTRED ON THIS CUT`);
    }
    lines.push('');
  });
  return lines.join('\n');
}
