import { spawn } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { decodeImage } from '../src/image/raster.js';
import { encodePromoted, promoteFrame, promotePng } from '../src/stages/promote/index.js';
import { median, WARMUP } from './timing.js';
import type { BenchRow } from './types.js';

/** Debian's interpreter, where python3-pil is installed (not a pyenv one on PATH). */
const PYTHON = '/usr/bin/python3';

/**
 * PIL's promotion as a server: prints its version, then times one promotion (open + crop + LANCZOS + save, file to
 * file, as ours) per line read from stdin and prints the milliseconds. Kept alive for the whole benchmark, so its
 * runs can take turns with ours.
 */
const PIL_SERVER = String.raw`
import json, sys, time
png, out = sys.argv[1], sys.argv[2]
try:
    from PIL import Image
except ImportError as e:
    print(json.dumps({'skip': 'python3-pil not installed (%s)' % e}), flush=True); sys.exit(0)
def promote():
    im = Image.open(png); im.load()
    W, H = im.size
    if W * 1080 > H * 1920:
        cw = int(H * 1920 / 1080 + 0.5); box = ((W - cw) // 2, 0, (W - cw) // 2 + cw, H)
    else:
        ch = int(W * 1080 / 1920 + 0.5); box = (0, (H - ch) // 2, W, (H - ch) // 2 + ch)
    im.crop(box).resize((1920, 1080), Image.LANCZOS).save(out, compress_level=6)
print(json.dumps({'version': Image.__version__}), flush=True)
for _ in sys.stdin:
    t = time.perf_counter(); promote(); print((time.perf_counter() - t) * 1000, flush=True)
`;

interface PilServer {
  version: string;
  time: () => Promise<number>;
  close: () => void;
}

async function startPil(pngPath: string, outPath: string): Promise<PilServer | { skip: string }> {
  const child = spawn(PYTHON, ['-c', PIL_SERVER, pngPath, outPath], { stdio: ['pipe', 'pipe', 'inherit'] });
  const failed = new Promise<{ skip: string }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      resolve({ skip: error.code === 'ENOENT' ? `${PYTHON} not found` : error.message }),
    );
    child.once('exit', (code) => resolve({ skip: `${PYTHON} exited (${code ?? 'signal'})` }));
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string | { skip: string }> => {
    const line = await Promise.race([lines.next(), failed]);
    if ('skip' in line) return line;
    if (line.done === true) return { skip: `${PYTHON} closed its output` };
    return line.value;
  };
  const hello = await next();
  if (typeof hello !== 'string') return hello;
  const info = JSON.parse(hello) as { version?: string; skip?: string };
  if (info.skip !== undefined) return { skip: info.skip };
  return {
    version: info.version ?? '?',
    time: async () => {
      child.stdin.write('promote\n');
      const line = await next();
      if (typeof line !== 'string') throw new Error(`PIL promotion failed: ${line.skip}`);
      return Number(line);
    },
    close: () => child.stdin.end(),
  };
}

const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;
const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(3)} MB`;

/**
 * Promotion, 512² PNG → 1920×1080 PNG file to file, ours against PIL's LANCZOS, in turns within each round (ours
 * from a raster, ours through promotePng, PIL), so a burst of load from other processes on this shared 2-core
 * machine hits all three alike. Medians after WARMUP rounds, output sizes side by side: a speed-up bought with
 * bigger files would show.
 */
export async function benchPromotionVsPil(dir: string, pngPath: string, runs: number): Promise<BenchRow[]> {
  const oursPath = join(dir, 'ours.png');
  const streamedPath = join(dir, 'ours-streamed.png');
  const pilPath = join(dir, 'pil-out.png');
  const target = { width: 1920, height: 1080 };
  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const raster = () =>
    timed(async () => {
      const { raster: frame, record } = await promoteFrame(await decodeImage(pngPath), target);
      await writeFile(oursPath, await encodePromoted(frame, record));
    });
  const streamed = () =>
    timed(async () => {
      const { png } = await promotePng(pngPath, target);
      await writeFile(streamedPath, png);
    });
  const pil = await startPil(pngPath, pilPath);
  const times = { raster: [] as number[], streamed: [] as number[], pil: [] as number[] };
  try {
    for (let round = -WARMUP; round < runs; round++) {
      const r = await raster();
      const s = await streamed();
      const p = 'skip' in pil ? NaN : await pil.time();
      if (round < 0) continue;
      times.raster.push(r);
      times.streamed.push(s);
      times.pil.push(p);
    }
  } finally {
    if (!('skip' in pil)) pil.close();
  }
  const oursBytes = (await stat(oursPath)).size;
  const streamedBytes = (await stat(streamedPath)).size;
  const rasterMs = median(times.raster);
  const streamedMs = median(times.streamed);
  const g = 'images';
  const rows: BenchRow[] = [
    {
      group: g,
      name: 'promotion 512² PNG → 1920x1080 PNG (decode + crop + Lanczos3 + encode)',
      value: round(rasterMs),
      unit: 'ms',
      note: `file to file, ${mb(oursBytes)} (Paeth rows in WebAssembly SIMD, RLE deflate in 120-row strips on the thread pool)`,
    },
    {
      group: g,
      name: 'promotion through promotePng (a frame from the store)',
      value: round(streamedMs),
      unit: 'ms',
      note: `file to file, ${mb(streamedBytes)}, same bytes as the raster path`,
    },
  ];
  if ('skip' in pil) {
    rows.push({
      group: g,
      name: 'promotion speed-up vs PIL (target ≥ 4×)',
      value: 0,
      unit: '×',
      note: `skipped: ${pil.skip}`,
    });
    return rows;
  }
  const pilMs = median(times.pil);
  const pilBytes = (await stat(pilPath)).size;
  const ratio = pilMs / rasterMs;
  const perRound = times.pil.map((p, i) => p / times.raster[i]!).sort((a, b) => a - b);
  rows.push(
    {
      group: g,
      name: `promotion with PIL ${pil.version} (open + crop + LANCZOS + save)`,
      value: round(pilMs),
      unit: 'ms',
      note: `file to file, ${mb(pilBytes)} (PIL's default filtering, zlib level 6); in turns with ours, median of ${runs}`,
    },
    {
      group: g,
      name: 'promotion speed-up vs PIL (target ≥ 4×)',
      value: round(ratio),
      unit: '×',
      note:
        `target ≥ 4×: ${ratio >= 4 ? 'met' : 'missed'}; output ours ${mb(oursBytes)} vs PIL ${mb(pilBytes)} ` +
        `(${oursBytes <= pilBytes ? 'ours no larger' : `ours ${round((100 * (oursBytes - pilBytes)) / pilBytes, 1)} % larger`}); ` +
        `per-round ratios ${round(perRound[0]!)}–${round(perRound[perRound.length - 1]!)}×; ` +
        `via promotePng ${round(pilMs / streamedMs)}×`,
    },
  );
  return rows;
}
