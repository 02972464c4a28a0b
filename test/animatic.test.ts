import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, ValidationError } from '../src/core/errors.js';
import { projectSchema, type Project, type ProjectInput } from '../src/project/schema.js';
import { loadSharp } from '../src/image/sharp.js';
import { findFfmpeg, motionOf, planAnimatic } from '../src/stages/animatic/index.js';
import { verifyExport } from '../src/stages/export/index.js';
import { assertCliBuilt, runCli } from './helpers/cli.js';
import { runOn, type HarnessRun } from './helpers/pipeline-harness.js';
import { makeProjectInput } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';
import { average, ffprobe, meanAbsDiff, stillRgb, videoFrame, writeTone } from './helpers/video-probe.js';

const W = 320;
const H = 180;
const FPS = 24;

/**
 * Four shots: 1 s dissolving (15 frames) into 1.5 s, cut to 1 s, fading to black (12 frames) into 1 s.
 * At 24 fps: 24 + 36 + 24 + 24 frames less the 15-frame overlap = 93 frames = 3.875 s.
 */
function timedInput(overrides: { lastSeconds?: number } = {}): ProjectInput {
  const input = makeProjectInput({ id: 'animatic-test', shots: 4, width: W, height: H });
  const [a, b, c, d] = input.shots;
  a!.durationSeconds = 1;
  a!.transition = { type: 'dissolve', durationSeconds: 15 / FPS };
  b!.durationSeconds = 1.5;
  c!.durationSeconds = 1;
  c!.transition = { type: 'fade-to-black', durationSeconds: 0.5 };
  d!.durationSeconds = overrides.lastSeconds ?? 1;
  return input;
}
const timed = (overrides: { lastSeconds?: number } = {}): Project =>
  projectSchema.parse(timedInput(overrides));

const TOTAL_FRAMES = 93;
/** Frames where each shot is alone and still (outside every transition), middle of that stretch. */
const SHOT_MIDDLES = [4, 34, 54, 84];
/** The dissolve spans frames 9–23; its 8th frame (16) weighs both shots 0.5. */
const DISSOLVE_MIDDLE = 16;

const seconds = (value: string | undefined): number => Number(value);

let ws: TempWorkspace;
let first: HarnessRun;
let dir: string;

beforeAll(async () => {
  ws = await createTempWorkspace('storycore-animatic-');
  first = await runOn(ws, timed());
  if (first.error) throw first.error;
  dir = first.result!.export!.dir;
}, 120_000);

afterAll(async () => {
  await ws?.dispose();
});

describe('the animatic of an export', () => {
  it('is H.264 yuv420p at the output size and frame rate, as long as the shots less the dissolve', async () => {
    const probe = await ffprobe(join(dir, 'animatic.mp4'));
    const video = probe.streams.find((s) => s.codec_type === 'video')!;
    expect(video).toMatchObject({
      codec_name: 'h264',
      pix_fmt: 'yuv420p',
      width: W,
      height: H,
      r_frame_rate: '24/1',
    });
    expect(Number(video.nb_frames)).toBe(TOTAL_FRAMES);
    const expected = 1 + 1.5 + 1 + 1 - 15 / FPS;
    expect(Math.abs(seconds(video.duration) - expected)).toBeLessThanOrEqual(1 / FPS);
    expect(Math.abs(seconds(probe.format.duration) - expected)).toBeLessThanOrEqual(1 / FPS);
    expect(probe.streams.filter((s) => s.codec_type === 'audio')).toEqual([]);
  });

  it("shows each shot's still in the middle of the shot, a half-and-half mix mid-dissolve, black at a fade", async () => {
    const stills = await Promise.all(
      [1, 2, 3, 4].map((n) => stillRgb(join(dir, 'shots', `0${n}_shot-0${n}.png`))),
    );
    const mp4 = join(dir, 'animatic.mp4');
    for (const [i, frame] of SHOT_MIDDLES.entries()) {
      const got = await videoFrame(mp4, frame, W, H);
      const own = meanAbsDiff(got, stills[i]!);
      expect(own, `frame ${frame} against shot ${i + 1}`).toBeLessThan(6);
      // And it is that shot, not merely a similar one.
      for (const [j, other] of stills.entries()) {
        if (j !== i) expect(meanAbsDiff(got, other)).toBeGreaterThan(own * 2);
      }
    }
    const a = stills[0]!;
    const b = stills[1]!;
    expect(meanAbsDiff(a, b)).toBeGreaterThan(15);
    const mid = await videoFrame(mp4, DISSOLVE_MIDDLE, W, H);
    const toMix = meanAbsDiff(mid, average(a, b));
    expect(toMix).toBeLessThan(6);
    expect(meanAbsDiff(mid, a)).toBeGreaterThan(toMix * 2);
    expect(meanAbsDiff(mid, b)).toBeGreaterThan(toMix * 2);
    // The last frame of shot 3's fade-out (weight 1/12) is nearly black.
    const faded = await videoFrame(mp4, 68, W, H);
    const black = Buffer.alloc(faded.length);
    expect(meanAbsDiff(faded, black)).toBeLessThan(meanAbsDiff(stills[2]!, black) * 0.15);
  });

  it('is listed in the manifest with sha256, with the ffmpeg version, and embedded in the QA report', async () => {
    expect(await verifyExport(dir)).toEqual([]);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      files: Array<{ path: string; sha256: string }>;
      tools: { ffmpeg?: string };
      animatic: { frames: number; fps: number; video: { ffmpeg: string } };
    };
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['animatic.mp4', 'timeline.otio', 'timeline.edl']));
    const found = await findFfmpeg();
    expect('version' in found && manifest.tools.ffmpeg).toBe('version' in found ? found.version : false);
    expect(manifest.animatic).toMatchObject({
      frames: TOTAL_FRAMES,
      fps: FPS,
      video: { ffmpeg: manifest.tools.ffmpeg },
    });
    const html = await readFile(join(dir, 'qa_report.html'), 'utf8');
    expect(html).toMatch(/<video src="animatic\.mp4" controls/);
    // At the top: before the summary.
    expect(html.indexOf('<video')).toBeLessThan(html.indexOf('class="summary"'));
  });

  it('writes an OpenTimelineIO timeline whose clips and transitions add up to the video at its rate', async () => {
    const otio = JSON.parse(await readFile(join(dir, 'timeline.otio'), 'utf8')) as Record<string, unknown>;
    expectOtioShape(otio);
    const track = (otio['tracks'] as { children: Array<Record<string, unknown>> }).children[0]!;
    expect(track['OTIO_SCHEMA']).toBe('Track.1');
    expect(track['kind']).toBe('Video');
    const items = track['children'] as OtioItem[];
    const clips = items.filter((c) => c['OTIO_SCHEMA'] === 'Clip.2');
    const transitions = items.filter((c) => c['OTIO_SCHEMA'] === 'Transition.1');
    expect(clips.map((c) => c['name'])).toEqual(['shot-01', 'shot-02', 'shot-03', 'shot-04']);
    expect(
      transitions.map((t) => [t['transition_type'], t['in_offset'].value + t['out_offset'].value]),
    ).toEqual([
      ['SMPTE_Dissolve', 15],
      ['Custom_Transition', 12],
    ]);
    let total = 0;
    for (const clip of clips) {
      const range = clip['source_range'];
      expect(range.duration.rate).toBe(FPS);
      expect(range.start_time.rate).toBe(FPS);
      const media = clip.media_references[clip.active_media_reference_key]!;
      expect(media['OTIO_SCHEMA']).toBe('ExternalReference.1');
      expect((await stat(join(dir, media['target_url']))).isFile()).toBe(true);
      const available = media['available_range'];
      // The clip uses frames its still has, transition handles included.
      expect(range.start_time.value).toBeGreaterThanOrEqual(available.start_time.value);
      expect(range.start_time.value + range.duration.value).toBeLessThanOrEqual(available.duration.value);
      total += range.duration.value;
    }
    expect(total).toBe(TOTAL_FRAMES);
    // The dissolve's handles: the incoming clip has in_offset frames before its start, the outgoing one
    // out_offset frames after its end.
    const [c1, c2] = clips;
    const dissolve = transitions[0]!;
    expect(c2!['source_range'].start_time.value).toBeGreaterThanOrEqual(dissolve['in_offset'].value);
    const c1End = c1!['source_range'].start_time.value + c1!['source_range'].duration.value;
    expect(c1End + dissolve['out_offset'].value).toBeLessThanOrEqual(
      c1!.media_references['DEFAULT_MEDIA']!.available_range.duration.value,
    );
  });

  it('writes a CMX 3600 EDL with one event per shot whose timecodes match the durations', async () => {
    const edl = parseEdl(await readFile(join(dir, 'timeline.edl'), 'utf8'));
    expect(edl.title).toBe('Test sequence');
    expect([...new Set(edl.lines.map((l) => l.event))]).toEqual(['001', '002', '003', '004']);
    // The line of each event that lays the shot down (a dissolve's D line, else its only C line).
    const laid = ['001', '002', '003', '004'].map((n) => edl.lines.filter((l) => l.event === n).at(-1)!);
    expect(laid.map((l) => l.type)).toEqual(['C', 'D', 'C', 'C']);
    expect(laid[1]!.length).toBe(15);
    const start = 3600 * FPS;
    expect(laid[0]!.recIn).toBe(start);
    for (const [i, line] of laid.entries()) {
      expect(line.srcOut - line.srcIn, `event ${line.event}`).toBe(line.recOut - line.recIn);
      if (i > 0) expect(line.recIn).toBe(laid[i - 1]!.recOut);
    }
    expect(laid.at(-1)!.recOut - start).toBe(TOTAL_FRAMES);
    // The dissolve starts where shot 2 first shows: 9 frames in, as in the video.
    expect(laid[1]!.recIn - start).toBe(9);
  });
});

describe('the animatic step in the journal', () => {
  it.each<[string, { lastSeconds?: number }, number]>([
    ['a longer last shot', { lastSeconds: 2 }, 4.875],
    ['the original timings again (the folder no longer holds them)', {}, 3.875],
  ])(
    'after %s, a rerun executes only the animatic step',
    async (_what, overrides, duration) => {
      const again = await runOn(ws, timed(overrides));
      expect(again.error).toBeUndefined();
      expect(again.result!.executedSteps).toEqual(['animatic']);
      expect(again.result!.export!.dir).toBe(dir);
      const probe = await ffprobe(join(dir, 'animatic.mp4'));
      expect(Math.abs(seconds(probe.format.duration) - duration)).toBeLessThanOrEqual(1 / FPS);
      expect(await verifyExport(dir)).toEqual([]);
      const saved = JSON.parse(await readFile(join(dir, 'project.json'), 'utf8')) as Project;
      expect(saved.shots[3]!.durationSeconds).toBe(overrides.lastSeconds ?? 1);
    },
    60_000,
  );

  it('an unchanged rerun reuses it', async () => {
    const again = await runOn(ws, timed());
    expect(again.result!.executedSteps).toEqual([]);
  });

  it('is deterministic: a fresh run from scratch makes the same video bytes', async () => {
    const sha = async (d: string): Promise<string | undefined> =>
      (
        JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8')) as {
          files: Array<{ path: string; sha256: string }>;
        }
      ).files.find((f) => f.path === 'animatic.mp4')?.sha256;
    const fresh = await runOn(ws, timed(), { fresh: true, now: () => Date.parse('2031-01-01T00:00:00Z') });
    expect(fresh.error).toBeUndefined();
    expect(fresh.result!.export!.dir).not.toBe(dir);
    expect(await sha(fresh.result!.export!.dir)).toBe(await sha(dir));
  }, 60_000);
});

describe('the voice-over', () => {
  it.each([
    ['shorter than the picture is padded', 2],
    ['longer than the picture is trimmed', 6],
  ])(
    'a tone %s: the audio stream lasts as long as the picture',
    async (_what, toneSeconds) => {
      const tone = join(ws.root, `tone-${toneSeconds}.wav`);
      await writeTone(tone, toneSeconds);
      const project = projectSchema.parse({
        ...timedInput(),
        animatic: { audio: `tone-${toneSeconds}.wav` },
      });
      const run = await runOn(ws, project, { projectDir: ws.root });
      expect(run.error).toBeUndefined();
      expect(run.result!.executedSteps).toEqual(['animatic']);
      const probe = await ffprobe(join(run.result!.export!.dir, 'animatic.mp4'));
      const audio = probe.streams.find((s) => s.codec_type === 'audio');
      const video = probe.streams.find((s) => s.codec_type === 'video')!;
      expect(audio).toMatchObject({ codec_name: 'aac', sample_rate: '48000' });
      // One AAC frame (1024 samples at 48 kHz) is the container's granularity.
      expect(Math.abs(seconds(audio!.duration) - seconds(video.duration))).toBeLessThanOrEqual(
        1024 / 48000 + 1e-6,
      );
    },
    60_000,
  );

  it.each([
    ['missing', 'nowhere.wav', /animatic\.audio: .*nowhere\.wav does not exist/],
    ['not audio', 'notes.wav', /animatic\.audio: .*notes\.wav holds no audio/],
  ])('a voice-over that is %s is a clear error before any work', async (_what, file, message) => {
    await writeFile(join(ws.root, 'notes.wav'), 'these are notes, not a recording\n');
    const project = projectSchema.parse({ ...timedInput(), animatic: { audio: file } });
    const run = await runOn(ws, project, { projectDir: ws.root });
    expect(run.error).toBeInstanceOf(ValidationError);
    expect((run.error as Error).message).toMatch(message);
    expect(run.events).toEqual([]);
  });
});

describe('bad timings', () => {
  it.each([
    ['a zero duration', { durationSeconds: 0 }, 'shots.1.durationSeconds', /must be > 0/],
    ['an absurd duration', { durationSeconds: 601 }, 'shots.1.durationSeconds', /≤ 600 \(10 minutes\)/],
    [
      'an unknown transition',
      { transition: { type: 'wipe' } },
      'shots.1.transition.type',
      /cut.*dissolve.*fade-to-black/,
    ],
  ])('%s is named by its JSON path', (_what, patch, where, message) => {
    const input = timedInput();
    Object.assign(input.shots[1]!, patch);
    const parsed = projectSchema.safeParse(input);
    expect(parsed.success).toBe(false);
    const issue = parsed.error!.issues.find((i) => i.path.join('.') === where);
    expect(issue?.message).toMatch(message);
  });

  it('a transition longer than its shots is refused before any work, naming the shot', async () => {
    const input = timedInput();
    input.shots[0]!.transition = { type: 'dissolve', durationSeconds: 2 };
    expect(() => planAnimatic(projectSchema.parse(input))).toThrow(
      /shots\[0\] \("shot-01"\).*too short for its transitions/,
    );
    const run = await runOn(ws, projectSchema.parse(input));
    expect(run.error).toBeInstanceOf(ValidationError);
    expect(run.events).toEqual([]);
  });
});

describe('without ffmpeg', () => {
  it('the export completes with its timelines, says once why there is no video, and lists none', async () => {
    const own = await createTempWorkspace('storycore-animatic-noff-');
    try {
      const missing = 'no ffmpeg found (test)';
      const run = await runOn(own, timed(), { ffmpeg: { missing } });
      expect(run.error).toBeUndefined();
      const d = run.result!.export!.dir;
      const warnings = run.events.filter((e) => e.type === 'warning');
      expect(warnings).toEqual([
        { type: 'warning', stage: 'export', message: `no animatic.mp4 in the export: ${missing}` },
      ]);
      const names = await readdir(d);
      expect(names).not.toContain('animatic.mp4');
      expect(names).toEqual(expect.arrayContaining(['timeline.otio', 'timeline.edl']));
      expect(await verifyExport(d)).toEqual([]);
      expect(await readFile(join(d, 'qa_report.html'), 'utf8')).toContain(`No animatic video: ${missing}`);
    } finally {
      await own.dispose();
    }
  }, 60_000);
});

describe('cancelling while the animatic encodes', () => {
  it('kills ffmpeg, leaves no animatic.mp4 (nor a temporary) in the export, and a resume makes it', async () => {
    const own = await createTempWorkspace('storycore-animatic-cancel-');
    try {
      // Long enough that ffmpeg reports progress before it is done: 4 × 10 s at 640×360.
      const input = makeProjectInput({ id: 'animatic-cancel', shots: 4, width: 640, height: 360 });
      for (const shot of input.shots) shot.durationSeconds = 10;
      const project = projectSchema.parse(input);
      const run = await runOn(own, project, {
        cancelWhen: (e) => e.type === 'progress' && e.message === 'animatic',
      });
      expect(run.error).toBeInstanceOf(CancelledError);
      expect(run.settledAt - run.abortedAt!).toBeLessThan(1000);
      const [folder] = (await readdir(own.outDir, { withFileTypes: true })).filter((e) => e.isDirectory());
      const d = join(own.outDir, folder!.name);
      expect((await readdir(d)).filter((n) => n.includes('animatic') || n.startsWith('.'))).toEqual([]);
      expect(await verifyExport(d)).toEqual([]);
      expect(own.store().runs.getRun(run.runId!)?.status).toBe('cancelled');

      const resumed = await runOn(own, project, { runId: run.runId! });
      expect(resumed.error).toBeUndefined();
      expect(resumed.result!.executedSteps).toEqual(['animatic']);
      const probe = await ffprobe(join(d, 'animatic.mp4'));
      expect(Math.abs(seconds(probe.format.duration) - 40)).toBeLessThanOrEqual(1 / FPS);
    } finally {
      await own.dispose();
    }
  }, 120_000);
});

interface OtioTime {
  value: number;
  rate: number;
}
interface OtioRange {
  start_time: OtioTime;
  duration: OtioTime;
}
/** The fields of a track's children that the tests read (clips and transitions share the list). */
interface OtioItem {
  OTIO_SCHEMA: string;
  name: string;
  source_range: OtioRange;
  media_references: Record<string, { OTIO_SCHEMA: string; target_url: string; available_range: OtioRange }>;
  active_media_reference_key: string;
  transition_type: string;
  in_offset: OtioTime;
  out_offset: OtioTime;
}

describe('camera moves and slates', () => {
  it.each([
    ['slow push-in', 'zoom-in'],
    ['Dolly in on the keeper', 'zoom-in'],
    ['zoom in', 'zoom-in'],
    ['pan left across the bay', 'pan-left'],
    ['panning right', 'pan-right'],
    ['aerial establishing shot, slow descent', 'still'],
    ['dolly out', 'still'],
  ])('the camera words "%s" give the move %s', (camera, motion) => {
    expect(motionOf(camera)).toBe(motion);
  });

  it('with motion and slate on, a push-in ends 12 % closer, a pan left ends at the left edge, every shot is slated', async () => {
    const input = timedInput();
    input.shots[1]!.camera = 'slow push-in';
    input.shots[3]!.camera = 'pan left';
    const run = await runOn(ws, projectSchema.parse({ ...input, animatic: { motion: true, slate: true } }));
    expect(run.error).toBeUndefined();
    const d = run.result!.export!.dir;
    const mp4 = join(d, 'animatic.mp4');
    const still = (n: number): Promise<Buffer> => stillRgb(join(d, 'shots', `0${n}_shot-0${n}.png`));
    // The slate is a band along the bottom; the picture above it is compared with the still.
    const ABOVE = 150 * W * 3;
    const above = (b: Buffer): Buffer => b.subarray(0, ABOVE);
    const below = (b: Buffer): Buffer => b.subarray(ABOVE);
    /** The still seen 12 % closer, the window `left` px from its left edge, scaled back to the frame (independent of our code). */
    const closer = async (n: number, left: number): Promise<Buffer> =>
      loadSharp()(join(d, 'shots', `0${n}_shot-0${n}.png`))
        .removeAlpha()
        .extract({ left, top: 10, width: 286, height: 161 })
        .resize(W, H, { kernel: 'lanczos3' })
        .raw()
        .toBuffer();

    const shot1 = await videoFrame(mp4, 4, W, H);
    expect(meanAbsDiff(above(shot1), above(await still(1)))).toBeLessThan(6);
    expect(meanAbsDiff(below(shot1), below(await still(1)))).toBeGreaterThan(20);

    // Shot 2's last frame alone on screen (frame 44, the 36th of its 36) is the end of the push-in.
    const pushed = await videoFrame(mp4, 44, W, H);
    const pushedDiff = meanAbsDiff(above(pushed), above(await closer(2, 17)));
    expect(pushedDiff).toBeLessThan(6);
    expect(meanAbsDiff(above(pushed), above(await still(2)))).toBeGreaterThan(pushedDiff * 2);

    // Shot 4's last frame (92) is the end of the pan left: the window at the still's left edge.
    const panned = await videoFrame(mp4, 92, W, H);
    const pannedDiff = meanAbsDiff(above(panned), above(await closer(4, 0)));
    expect(pannedDiff).toBeLessThan(6);
    expect(meanAbsDiff(above(panned), above(await closer(4, 34)))).toBeGreaterThan(pannedDiff * 2);

    const manifest = JSON.parse(await readFile(join(d, 'manifest.json'), 'utf8')) as {
      animatic: { slate: boolean; shots: Array<{ motion: string }> };
    };
    expect(manifest.animatic.slate).toBe(true);
    expect(manifest.animatic.shots.map((s) => s.motion)).toEqual(['still', 'zoom-in', 'still', 'pan-left']);
  }, 60_000);
});

describe('storycore animatic <export-dir>', () => {
  it('re-renders just the animatic with the durations of an edited project file', async () => {
    assertCliBuilt();
    const edited = join(ws.root, 'edited.json');
    await writeFile(edited, JSON.stringify(timedInput({ lastSeconds: 3 })));
    const r = await runCli(['--json', 'animatic', dir, '--project', edited]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { video: string; animatic: { frames: number } };
    expect(out.video).toBe(join(dir, 'animatic.mp4'));
    expect(out.animatic.frames).toBe(TOTAL_FRAMES + 2 * FPS);
    const probe = await ffprobe(out.video);
    expect(Math.abs(seconds(probe.format.duration) - 5.875)).toBeLessThanOrEqual(1 / FPS);
    expect(await verifyExport(dir)).toEqual([]);
  }, 60_000);

  it('refuses a bad duration with exit 2, naming where it is, and leaves the export alone', async () => {
    const before = await readFile(join(dir, 'manifest.json'), 'utf8');
    const edited = join(ws.root, 'bad.json');
    const input = timedInput();
    input.shots[2]!.durationSeconds = -1;
    await writeFile(edited, JSON.stringify(input));
    const r = await runCli(['animatic', dir, '--project', edited]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/shots\[2\]\.durationSeconds|shots\.2\.durationSeconds/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await readFile(join(dir, 'manifest.json'), 'utf8')).toBe(before);
  });
});

/** Every object with an OTIO_SCHEMA is one we know, and every RationalTime is whole frames at 24 fps. */
function expectOtioShape(node: unknown): void {
  const known = new Set([
    'Timeline.1',
    'Stack.1',
    'Track.1',
    'Clip.2',
    'Transition.1',
    'ExternalReference.1',
    'TimeRange.1',
    'RationalTime.1',
  ]);
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (value === null || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if ('OTIO_SCHEMA' in record) {
      expect(known.has(record['OTIO_SCHEMA'] as string), String(record['OTIO_SCHEMA'])).toBe(true);
      if (record['OTIO_SCHEMA'] === 'RationalTime.1') {
        expect(record['rate']).toBe(FPS);
        expect(Number.isInteger(record['value'])).toBe(true);
      }
      if (record['OTIO_SCHEMA'] === 'TimeRange.1') {
        expect(Object.keys(record).sort()).toEqual(['OTIO_SCHEMA', 'duration', 'start_time']);
      }
    }
    Object.values(record).forEach(visit);
  };
  expect((node as Record<string, unknown>)['OTIO_SCHEMA']).toBe('Timeline.1');
  visit(node);
}

interface EdlLine {
  event: string;
  type: 'C' | 'D';
  length: number;
  srcIn: number;
  srcOut: number;
  recIn: number;
  recOut: number;
}

function parseEdl(text: string): { title: string; lines: EdlLine[] } {
  const toFrames = (tc: string): number => {
    const [h, m, s, f] = tc.split(':').map(Number) as [number, number, number, number];
    return ((h * 60 + m) * 60 + s) * FPS + f;
  };
  const lines: EdlLine[] = [];
  let title = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('TITLE: ')) title = line.slice(7);
    const m = /^(\d{3})\s+AX\s+V\s+(C|D)\s+(\d{3})?\s*(\S+) (\S+) (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    lines.push({
      event: m[1]!,
      type: m[2] as 'C' | 'D',
      length: m[3] ? Number(m[3]) : 0,
      srcIn: toFrames(m[4]!),
      srcOut: toFrames(m[5]!),
      recIn: toFrames(m[6]!),
      recOut: toFrames(m[7]!),
    });
  }
  return { title, lines };
}
