import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRaster, decodeImage } from '../src/image/raster.js';
import { measureVisualDna } from '../src/stages/coherence/index.js';
import { promoteFrame } from '../src/stages/promote/index.js';
import { benchPromotionVsPil } from './promotion-vs-pil.js';
import { autofixFrame, measureFrame } from '../src/stages/qa/index.js';
import { timeRuns, WARMUP } from './timing.js';
import type { BenchRow } from './types.js';

/** Debian's interpreter, where python3-opencv and python3-pil are installed (not a pyenv one on PATH). */
const PYTHON = '/usr/bin/python3';
async function timeMedian(runs: number, fn: () => unknown): Promise<number> {
  return (await timeRuns(runs, fn)).median;
}

/**
 * Times OpenCV's Laplacian variance in-process in Python (warm-up + median, like ours) and prints JSON; skipped, with
 * the reason, when the module is missing. PIL's promotion is timed in turns with ours (promotion-vs-pil.ts).
 */
const PYTHON_BENCH = String.raw`
import json, sys, time
raw, w, h, warmup, cv_runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def timed(fn, runs, best=None):
    for _ in range(warmup): fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1000)
    ts.sort(); n = len(ts)
    if best is not None: best['best'] = ts[0]
    return ts[n // 2] if n % 2 else (ts[n // 2 - 1] + ts[n // 2]) / 2
res = {}
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

function runPython(args: string[]): Promise<{ opencv: PythonSide } | { error: string }> {
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
        resolve(JSON.parse(stdout) as { opencv: PythonSide });
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

    const promotionRows = await benchPromotionVsPil(dir, pngPath, runs);
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
      ...promotionRows,
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

    const py = await runPython([rawPath, '1920', '1080', String(WARMUP), String(qaRuns)]);
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
