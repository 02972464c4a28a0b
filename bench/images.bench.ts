import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRaster, decodeImage, encodePng } from '../src/image/raster.js';
import { measureVisualDna } from '../src/stages/coherence/index.js';
import { promoteFrame, promotePng } from '../src/stages/promote/index.js';
import { autofixFrame, measureFrame } from '../src/stages/qa/index.js';
import { timeRuns, WARMUP } from './timing.js';
import type { BenchRow } from './types.js';

/** Debian's interpreter, where python3-opencv and python3-pil are installed (not a pyenv one on PATH). */
const PYTHON = '/usr/bin/python3';
async function timeMedian(runs: number, fn: () => unknown): Promise<number> {
  return (await timeRuns(runs, fn)).median;
}

/**
 * Times PIL promotion and OpenCV Laplacian variance in-process in Python (warm-up + median, like ours) and prints
 * JSON. Each side is skipped, with the reason, when its module is missing.
 */
const PYTHON_BENCH = String.raw`
import json, sys, time
png, raw, out, w, h, runs, warmup, cv_runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
def timed(fn, runs=runs, best=None):
    for _ in range(warmup): fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1000)
    ts.sort(); n = len(ts)
    if best is not None: best['best'] = ts[0]
    return ts[n // 2] if n % 2 else (ts[n // 2 - 1] + ts[n // 2]) / 2
res = {}
try:
    from PIL import Image
    def promote():
        im = Image.open(png); im.load()
        W, H = im.size
        if W * 1080 > H * 1920:
            cw = round(H * 1920 / 1080); box = ((W - cw) // 2, 0, (W - cw) // 2 + cw, H)
        else:
            ch = round(W * 1080 / 1920); box = (0, (H - ch) // 2, W, (H - ch) // 2 + ch)
        im.crop(box).resize((1920, 1080), Image.LANCZOS).save(out, compress_level=6)
    res['pil'] = {'ms': timed(promote), 'version': Image.__version__}
except ImportError as e:
    res['pil'] = {'skip': 'python3-pil not installed (%s)' % e}
try:
    import cv2, numpy as np
    rgb = np.fromfile(raw, dtype=np.uint8).reshape(h, w, 3)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    best = {}
    res['opencv'] = {'ms': timed(lambda: cv2.Laplacian(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var(), cv_runs, best),
                     'best': best['best'],
                     'value': float(cv2.Laplacian(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()),
                     'version': cv2.__version__, 'threads': cv2.getNumThreads()}
except ImportError as e:
    res['opencv'] = {'skip': 'python3-opencv not installed (%s)' % e}
print(json.dumps(res))
`;

interface PythonSide {
  ms?: number;
  best?: number;
  skip?: string;
  version?: string;
  value?: number;
  threads?: number;
}

function runPython(args: string[]): Promise<{ pil: PythonSide; opencv: PythonSide } | { error: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, ['-c', PYTHON_BENCH, ...args], { timeout: 300_000 }, (error, stdout) => {
      if (error) {
        resolve({
          error:
            (error as NodeJS.ErrnoException).code === 'ENOENT'
              ? `${PYTHON} not found`
              : error.message.split('\n')[0]!,
        });
        return;
      }
      try {
        resolve(JSON.parse(stdout) as { pil: PythonSide; opencv: PythonSide });
      } catch {
        resolve({ error: `unreadable output from ${PYTHON}` });
      }
    });
  });
}

/** A textured 512² source: the committed photo-like QA fixture, Lanczos-resized, so both sides read the same PNG. */
async function sourcePng(): Promise<Buffer> {
  const fixture = join(import.meta.dirname, '..', 'test', 'fixtures', 'qa', 'photo-like-480x270.png');
  return sharp(fixture).resize(512, 512, { fit: 'fill', kernel: 'lanczos3' }).removeAlpha().png().toBuffer();
}

const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;
const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(2)} MB`;

/**
 * Image-stage speed, per frame: promotion (512² PNG → 1920x1080 PNG), the QA metric suite on an in-memory 1080p
 * frame, autofix of a failing (dark) 1080p frame; and, where Debian's python has them, the same promotion in PIL
 * and OpenCV's cvtColor + Laplacian variance on the same frame, both timed in-process with the same method.
 */
export async function benchImages(options: { runs?: number } = {}): Promise<BenchRow[]> {
  const runs = options.runs ?? 9;
  const dir = await mkdtemp(join(tmpdir(), 'storycore-bench-images-'));
  try {
    const png = await sourcePng();
    const pngPath = join(dir, 'source-512.png');
    await writeFile(pngPath, png);

    // File in, file out on both sides, as PIL does, each with its own default PNG encoding; the output sizes are
    // printed beside the times, so a speed-up bought with bigger files would show.
    const oursPath = join(dir, 'ours.png');
    const promoteMs = await timeMedian(runs, async () => {
      const { raster } = await promoteFrame(await decodeImage(pngPath), { width: 1920, height: 1080 });
      await writeFile(oursPath, await encodePng(raster));
    });
    const oursBytes = (await stat(oursPath)).size;
    // The same promotion as one streamed libvips pass (decode, then crop → Lanczos3 → PNG with the resize
    // overlapping zlib): what a promote step does with a frame from the store, and what a caller promoting files
    // gets from promotePng. Same bytes as the raster path (promote.test.ts).
    const streamedPath = join(dir, 'ours-streamed.png');
    const streamedMs = await timeMedian(runs, async () => {
      const { png: out } = await promotePng(pngPath, { width: 1920, height: 1080 });
      await writeFile(streamedPath, out);
    });
    const streamedBytes = (await stat(streamedPath)).size;
    const { raster: frame } = await promoteFrame(await decodeImage(png), { width: 1920, height: 1080 });
    const rawPath = join(dir, 'frame-1080p.rgb');
    await writeFile(rawPath, frame.data);

    const dna = measureVisualDna(frame);
    const qaRuns = runs * 2;
    const qa = await timeRuns(qaRuns, () => measureFrame(frame, dna));
    const qaMs = qa.median;
    const dark = createRaster(
      frame.width,
      frame.height,
      Buffer.from(frame.data.map((v) => Math.round(v * 0.3))),
    );
    let autofixNote = '';
    const autofixMs = await timeMedian(Math.max(3, Math.floor(runs / 3)), async () => {
      const result = await autofixFrame(dark, dna);
      autofixNote = `score ${result.initial.score} → ${result.final.score}, ${result.attempts.length} attempt(s)`;
    });

    const rows: BenchRow[] = [
      {
        group: 'images',
        name: 'promotion 512² PNG → 1920x1080 PNG (decode + crop + Lanczos3 + encode)',
        value: round(promoteMs),
        unit: 'ms',
        note: `file to file, ${mb(oursBytes)} (adaptive row filtering, zlib-ng level 3)`,
      },
      {
        group: 'images',
        name: 'promotion, streamed (promotePng: decode, then crop + Lanczos3 + encode in one pass)',
        value: round(streamedMs),
        unit: 'ms',
        note: `file to file, ${mb(streamedBytes)}, same encoding; ${round(promoteMs / streamedMs)}× the raster path`,
      },
      {
        group: 'images',
        name: 'QA metric suite, 1080p frame in memory (1 thread: luma, Laplacian, noise, exposure, palette)',
        value: round(qaMs),
        unit: 'ms',
        note: `median of ${qaRuns} after ${WARMUP} warm-ups; best ${round(qa.best)} ms`,
      },
      {
        group: 'images',
        name: 'autofix of a dark 1080p frame',
        value: round(autofixMs),
        unit: 'ms',
        note: autofixNote,
      },
    ];

    const py = await runPython([
      pngPath,
      rawPath,
      join(dir, 'pil-out.png'),
      '1920',
      '1080',
      String(runs),
      String(WARMUP),
      String(qaRuns),
    ]);
    if ('error' in py) {
      rows.push({
        group: 'images',
        name: 'python comparison',
        value: 0,
        unit: '',
        note: `skipped: ${py.error}`,
      });
      return rows;
    }
    if (py.pil.ms !== undefined) {
      const ratio = py.pil.ms / streamedMs;
      const pilBytes = (await stat(join(dir, 'pil-out.png'))).size;
      rows.push({
        group: 'images',
        name: `promotion with PIL ${py.pil.version ?? ''} (open + crop + LANCZOS + save)`,
        value: round(py.pil.ms),
        unit: 'ms',
        note: `file to file, ${mb(pilBytes)} (PIL's default filtering, zlib level 6)`,
      });
      rows.push({
        group: 'images',
        name: 'promotion speed-up vs PIL, streamed (target ≥ 4×)',
        value: round(ratio),
        unit: '×',
        note:
          `target ≥ 4×: ${ratio >= 4 ? 'met' : 'missed'}; ours ${mb(streamedBytes)} vs PIL ${mb(pilBytes)}; ` +
          `raster path (a frame just generated): ${round(py.pil.ms / promoteMs)}×`,
      });
    } else {
      rows.push({
        group: 'images',
        name: 'promotion speed-up vs PIL (target ≥ 4×)',
        value: 0,
        unit: '×',
        note: `skipped: ${py.pil.skip ?? 'unknown'}`,
      });
    }
    if (py.opencv.ms !== undefined) {
      const ratio = qaMs / py.opencv.ms;
      const ours = measureFrame(frame, dna).sharpness;
      rows.push({
        group: 'images',
        name: `OpenCV ${py.opencv.version ?? ''} cvtColor + Laplacian var, 1080p (cv2 threads: ${py.opencv.threads ?? '?'})`,
        value: round(py.opencv.ms),
        unit: 'ms',
        note: `median of ${qaRuns} after ${WARMUP} warm-ups; best ${round(py.opencv.best ?? NaN)} ms; value ${round(py.opencv.value ?? NaN, 3)}, ours ${round(ours, 3)}`,
      });
      rows.push({
        group: 'images',
        name: 'QA suite / OpenCV Laplacian var, medians (target ≤ 1×)',
        value: round(ratio),
        unit: '×',
        note: `target ≤ 1×: ${ratio <= 1 ? 'met' : 'missed'}; whole suite vs cvtColor + Laplacian + var() alone`,
      });
    } else {
      rows.push({
        group: 'images',
        name: 'QA suite / OpenCV Laplacian var (target ≤ 1×)',
        value: 0,
        unit: '×',
        note: `skipped: ${py.opencv.skip ?? 'unknown'}`,
      });
    }
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
