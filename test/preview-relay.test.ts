import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { relayPreviews } from '../src/pipeline/preview-relay.js';

type Preview = Extract<PipelineEvent, { type: 'preview' }>;

/** A real PNG of the given size, a solid colour per `shade` so the test can tell previews apart. */
const png = (width: number, height: number, shade: number): Promise<Buffer> =>
  sharp({ create: { width, height, channels: 3, background: { r: shade, g: 40, b: 200 - shade } } })
    .png()
    .toBuffer();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('live previews of a shot', () => {
  it('become JPEGs no larger than 256 px a side, keeping the aspect ratio, never enlarged', async () => {
    const events: Preview[] = [];
    const relay = relayPreviews('shot-01', 'generate:shot-01', (e) => events.push(e as Preview));
    relay.onPreview({ format: 'png', bytes: await png(1024, 576, 10) });
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toMatchObject({
      type: 'preview',
      shotId: 'shot-01',
      stepId: 'generate:shot-01',
      mime: 'image/jpeg',
      width: 256,
      height: 144,
    });
    const jpeg = Buffer.from(events[0]!.data, 'base64');
    expect(await sharp(jpeg).metadata()).toMatchObject({ format: 'jpeg', width: 256, height: 144 });

    // A small preview (a latent preview of 64 px) stays small; relays are per shot, so no wait for this one.
    const small: Preview[] = [];
    const other = relayPreviews('shot-02', 'generate:shot-02', (e) => small.push(e as Preview));
    other.onPreview({ format: 'png', bytes: await png(64, 36, 10) });
    await expect.poll(() => small.length).toBe(1);
    expect(small[0]).toMatchObject({ width: 64, height: 36 });
    relay.close();
    other.close();
  });

  it('are throttled to one per interval, the newest waiting one winning, and stop at close', async () => {
    const events: Array<Preview & { at: number }> = [];
    const relay = relayPreviews(
      'shot-01',
      'generate:shot-01',
      (e) => events.push({ ...(e as Preview), at: Date.now() }),
      {
        minIntervalMs: 300,
      },
    );
    const frames = await Promise.all(Array.from({ length: 40 }, (_, i) => png(96, 54, i * 5)));
    const started = Date.now();
    // A sampler's pace: one preview every 20 ms for 800 ms.
    for (const bytes of frames) {
      relay.onPreview({ format: 'png', bytes });
      await sleep(20);
    }
    const fedFor = Date.now() - started;
    await sleep(400);
    // At most one per 300 ms over the feeding time, plus the newest left waiting at the end.
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.length).toBeLessThanOrEqual(Math.floor(fedFor / 300) + 2);
    for (let i = 1; i < events.length; i++)
      expect(events[i]!.at - events[i - 1]!.at).toBeGreaterThanOrEqual(299);
    // The last one emitted is the last one fed (the newest waiting preview replaces older ones).
    const last = await sharp(Buffer.from(events.at(-1)!.data, 'base64')).stats();
    expect(last.channels[0]!.mean).toBeGreaterThan(180); // shade 195: the 40th frame

    const before = events.length;
    relay.onPreview({ format: 'png', bytes: frames[0]! });
    relay.close();
    relay.onPreview({ format: 'png', bytes: frames[1]! });
    await sleep(400);
    expect(events.length).toBe(before);
  });

  it('skip a preview that cannot be decoded and carry on with the next', async () => {
    const events: Preview[] = [];
    const relay = relayPreviews('shot-01', 'generate:shot-01', (e) => events.push(e as Preview), {
      minIntervalMs: 0,
    });
    relay.onPreview({ format: 'jpeg', bytes: Buffer.from('not an image') });
    await sleep(50);
    relay.onPreview({ format: 'png', bytes: await png(32, 32, 0) });
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toMatchObject({ width: 32, height: 32 });
    relay.close();
  });
});
