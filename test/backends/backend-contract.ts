import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationProgress, GenerationRequest, ImageBackend } from '../../src/backends/types.js';
import { CancelledError, ValidationError } from '../../src/core/errors.js';

/**
 * The one contract every image backend is proven against (draft renderer, ComfyUI client behind its test double,
 * a pool…). A new backend passes this suite or it is not a backend.
 */

export interface BackendUnderTest {
  backend: ImageBackend;
  /** Releases whatever `make` started (servers, temp dirs); called once after the suite. */
  cleanup: () => Promise<void>;
}

export interface BackendSuiteOptions {
  /** Size of the requests the suite sends; small keeps the suite fast. @default 160x96 */
  width?: number;
  height?: number;
  /** How long after an abort the rejection may arrive. @default 2000 */
  abortLatencyMs?: number;
}

function pixelHash(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function runBackendSuite(
  name: string,
  make: () => Promise<BackendUnderTest>,
  options: BackendSuiteOptions = {},
): void {
  const width = options.width ?? 160;
  const height = options.height ?? 96;
  const abortLatencyMs = options.abortLatencyMs ?? 2000;
  const request = (overrides: Partial<GenerationRequest> = {}): GenerationRequest => ({
    prompt: 'a lighthouse on a cliff at dusk, storm clouds gathering over the sea',
    width,
    height,
    seed: 1234567,
    purpose: 'shot',
    camera: 'wide establishing',
    shotNumber: 1,
    ...overrides,
  });

  describe(`image backend contract: ${name}`, () => {
    let subject: BackendUnderTest;
    let backend: ImageBackend;
    beforeAll(async () => {
      subject = await make();
      backend = subject.backend;
    });
    afterAll(async () => {
      await subject?.cleanup();
    });

    it('describes itself with a name, a version, a positive capacity and a regenerate flag', () => {
      expect(backend.name).toMatch(/\S/);
      expect(backend.version).toMatch(/\S/);
      expect(Number.isInteger(backend.capacity)).toBe(true);
      expect(backend.capacity).toBeGreaterThanOrEqual(1);
      expect(typeof backend.canRegenerate).toBe('boolean');
    });

    it('returns an RGB raster of exactly the requested size', async () => {
      const { raster } = await backend.generate(request({ width: width + 3, height: height + 1 }));
      expect(raster.width).toBe(width + 3);
      expect(raster.height).toBe(height + 1);
      expect(raster.channels).toBe(3);
      expect(raster.data.length).toBe((width + 3) * (height + 1) * 3);
    });

    it('gives identical pixels for the same request', async () => {
      const a = await backend.generate(request());
      const b = await backend.generate(request());
      expect(pixelHash(a.raster.data)).toBe(pixelHash(b.raster.data));
    });

    it('gives different pixels for a different seed', async () => {
      const a = await backend.generate(request({ seed: 1 }));
      const b = await backend.generate(request({ seed: 2 }));
      expect(pixelHash(a.raster.data)).not.toBe(pixelHash(b.raster.data));
    });

    it('reports progress fractions that never go back, stay within 0–1 and end at 1', async () => {
      const seen: GenerationProgress[] = [];
      await backend.generate(request(), { onProgress: (p) => seen.push(p) });
      expect(seen.length).toBeGreaterThan(0);
      const fractions = seen.map((p) => p.fraction);
      for (let i = 1; i < fractions.length; i++)
        expect(fractions[i]!).toBeGreaterThanOrEqual(fractions[i - 1]!);
      for (const f of fractions) {
        expect(f).toBeGreaterThanOrEqual(0);
        expect(f).toBeLessThanOrEqual(1);
      }
      expect(fractions.at(-1)).toBe(1);
    });

    it('rejects an already-aborted signal with CancelledError without doing any work', async () => {
      const controller = new AbortController();
      controller.abort(new CancelledError('user'));
      const seen: GenerationProgress[] = [];
      await expect(
        backend.generate(request(), { signal: controller.signal, onProgress: (p) => seen.push(p) }),
      ).rejects.toBeInstanceOf(CancelledError);
      expect(seen).toEqual([]);
    });

    it('turns a platform abort (no typed reason) into CancelledError too', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(backend.generate(request(), { signal: controller.signal })).rejects.toBeInstanceOf(
        CancelledError,
      );
    });

    it('rejects with CancelledError soon after the signal aborts mid-request', async () => {
      const controller = new AbortController();
      let abortedAt = 0;
      const started = backend.generate(request({ seed: 99 }), {
        signal: controller.signal,
        onProgress: (p) => {
          // Abort at the first sign of work in progress: the request is then truly mid-flight.
          if (abortedAt === 0 && p.fraction < 1) {
            abortedAt = performance.now();
            controller.abort(new CancelledError('user'));
          }
        },
      });
      const error = await started.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(abortedAt).toBeGreaterThan(0);
      expect(error).toBeInstanceOf(CancelledError);
      expect(performance.now() - abortedAt).toBeLessThan(abortLatencyMs);
    });

    it('rejects with CancelledError when aborted while the backend is busy, without waiting for the work', async () => {
      // Aborted from a timer, not from inside a callback: the backend must be listening to the signal while its
      // own work (a render, a server round trip) is in flight, not only check it between phases. "Without waiting"
      // is measured against the same request's own duration.
      // 4K: long enough (≈ 4× a 1080p frame) that scheduling noise on a loaded machine stays small beside half of it.
      const big = (): GenerationRequest => request({ seed: 7, width: 3840, height: 2160 });
      const durations: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        await backend.generate(big());
        durations.push(performance.now() - t);
      }
      const whole = durations.sort((a, b) => a - b)[1]!;
      const controller = new AbortController();
      const started = performance.now();
      const pending = backend.generate(big(), { signal: controller.signal });
      setTimeout(() => controller.abort(new CancelledError('user')), 0);
      const error = await pending.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CancelledError);
      expect(performance.now() - started).toBeLessThan(Math.min(abortLatencyMs, whole / 2));
    });

    it('rejects a zero width with ValidationError', async () => {
      await expect(backend.generate(request({ width: 0 }))).rejects.toBeInstanceOf(ValidationError);
    });

    it('rejects a NaN seed with ValidationError', async () => {
      await expect(backend.generate(request({ seed: Number.NaN }))).rejects.toBeInstanceOf(ValidationError);
    });

    it('rejects a negative or fractional size with ValidationError', async () => {
      await expect(backend.generate(request({ height: -5 }))).rejects.toBeInstanceOf(ValidationError);
      await expect(backend.generate(request({ width: 10.5 }))).rejects.toBeInstanceOf(ValidationError);
    });

    it('serves as many concurrent requests as its capacity, each with its own image', async () => {
      const n = Math.max(1, Math.min(backend.capacity, 8));
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => backend.generate(request({ seed: 500 + i }))),
      );
      expect(results).toHaveLength(n);
      results.forEach((r, i) => {
        expect(r.raster.width).toBe(width);
        expect(r.raster.height).toBe(height);
        expect(r.metadata.seed).toBe(500 + i);
      });
      if (n > 1) expect(new Set(results.map((r) => pixelHash(r.raster.data))).size).toBe(n);
    });

    it('names the backend and the seed in the metadata', async () => {
      const { metadata } = await backend.generate(request({ seed: 4242 }));
      expect(metadata.backend).toBe(backend.name);
      expect(metadata.seed).toBe(4242);
      expect(typeof metadata.draft).toBe('boolean');
    });
  });
}
