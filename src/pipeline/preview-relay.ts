import type { GenerationPreview } from '../backends/types.js';
import { makeThumbnail } from '../image/thumbnail.js';
import type { PipelineEvent } from './events.js';

export interface PreviewRelayOptions {
  /** Largest side of a preview sent on, px. @default 256 */
  maxSide?: number;
  /** Least time between two previews of the shot, ms. @default 500 (at most 2 a second) */
  minIntervalMs?: number;
  now?: () => number;
}

export interface PreviewRelay {
  /** Hands a backend preview over; cheap (the newest one waiting replaces an older one). */
  onPreview: (preview: GenerationPreview) => void;
  /** The request settled: nothing more is emitted, not even a preview being encoded now. */
  close: () => void;
}

/**
 * Turns a backend's live previews of one shot into `preview` events a browser can show as the shot's thumbnail.
 * A sampler sends one per step (tens a second); the relay keeps only the newest one waiting, encodes one at a time
 * (downscaled JPEG), and emits at most one per `minIntervalMs`, so a slow consumer or a fast sampler costs a bounded
 * amount of CPU. Closed when the request settles, so no preview of a shot follows the end of its generate step.
 * A preview that cannot be decoded is skipped: previews are a courtesy, never a reason for a step to fail.
 */
export function relayPreviews(
  shotId: string,
  stepId: string,
  emit: (event: PipelineEvent) => void,
  options: PreviewRelayOptions = {},
): PreviewRelay {
  const maxSide = options.maxSide ?? 256;
  const minIntervalMs = options.minIntervalMs ?? 500;
  const now = options.now ?? Date.now;
  let waiting: GenerationPreview | undefined;
  let encoding = false;
  let closed = false;
  let lastEmitAt = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;

  const pump = (): void => {
    if (closed || encoding || waiting === undefined || timer !== undefined) return;
    const wait = lastEmitAt + minIntervalMs - now();
    if (wait > 0) {
      timer = setTimeout(() => {
        timer = undefined;
        pump();
      }, wait);
      // A pending preview must never keep a process alive.
      timer.unref();
      return;
    }
    const preview = waiting;
    waiting = undefined;
    encoding = true;
    makeThumbnail(preview.bytes, maxSide)
      .then((thumb) => {
        if (closed) return;
        // Counted from the emit, so two previews are never closer than the interval, however long encoding took.
        lastEmitAt = now();
        emit({
          type: 'preview',
          shotId,
          stepId,
          mime: 'image/jpeg',
          width: thumb.width,
          height: thumb.height,
          data: thumb.jpeg.toString('base64'),
        });
      })
      .catch(() => undefined)
      .finally(() => {
        encoding = false;
        pump();
      });
  };

  return {
    onPreview(preview) {
      if (closed) return;
      waiting = preview;
      pump();
    },
    close() {
      closed = true;
      waiting = undefined;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
