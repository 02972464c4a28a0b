import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { abortWith } from '../src/core/abort.js';
import { hostTag } from '../src/core/process-liveness.js';
import { CancelledError, ExportFailedError, ValidationError } from '../src/core/errors.js';
import { extractPalette } from '../src/image/palette.js';
import { createRaster, decodeImage, encodePng, type Raster } from '../src/image/raster.js';
import { rgbToLab } from '../src/image/color.js';
import { projectSchema, type Project } from '../src/project/schema.js';
import type { VisualDna } from '../src/stages/coherence/types.js';
import {
  exportPackage,
  stableManifestView,
  verifyExport,
  type ExportFrame,
  type ExportInput,
  type PngFile,
  type PngSource,
} from '../src/stages/export/index.js';
import type { FrameMetrics, QaReport, ShotQaResult } from '../src/stages/qa/types.js';
import { writeZip } from '../src/stages/export/zip.js';

const FRAME_W = 256;
const FRAME_H = 144;
const CREATED_AT = new Date('2026-11-25T21:30:00.000Z');
const SCRIPT_PROMPT = 'A keeper climbs the stairs <script>alert("x")</script> & looks out';

/** Deterministic xorshift noise so fixtures are identical on every run. */
function noiseGenerator(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0xffffffff;
  };
}

/** A diagonal gradient between two colours plus noise: enough structure for thumbnails and palettes to differ. */
function gradientRaster(
  width: number,
  height: number,
  from: [number, number, number],
  to: [number, number, number],
  seed: number,
): Raster {
  const raster = createRaster(width, height);
  const rnd = noiseGenerator(seed);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x / width + y / height) / 2;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = from[c]! + (to[c]! - from[c]!) * t + (rnd() - 0.5) * 24;
        raster.data[o + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return raster;
}

const hue = (i: number): [number, number, number] => [
  (i * 67) % 256,
  (i * 131 + 60) % 256,
  (i * 29 + 120) % 256,
];

async function lumaStats(png: Buffer): Promise<{ mean: number; std: number }> {
  const { data } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  let sum = 0;
  for (const v of data) sum += v;
  const mean = sum / data.length;
  let sq = 0;
  for (const v of data) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / data.length) };
}

async function makeDna(sheetPng: Buffer): Promise<VisualDna> {
  const raster = await decodeImage(sheetPng);
  const palette = extractPalette(raster, { k: 6 });
  const { mean, std } = await lumaStats(sheetPng);
  const stats = await sharp(sheetPng).stats();
  const [r, g, b] = stats.channels.map((c) => c.mean) as [number, number, number];
  return {
    palette,
    luminance: { mean, stdDev: std },
    contrastRms: std / 255,
    colorTemperatureK: 6500,
    meanLab: rgbToLab(r, g, b),
    stdLab: [10, 5, 5],
  };
}

async function metricsOf(png: Buffer, drift: number): Promise<FrameMetrics> {
  const { mean, std } = await lumaStats(png);
  return {
    sharpness: 120 + drift * 10,
    sharpnessNormalized: 110 + drift * 10,
    exposure: { meanLuma: mean, clippedHighlightsPct: 0, clippedShadowsPct: 0 },
    contrastRms: std / 255,
    noiseSigma: 3.5,
    paletteDrift: drift,
  };
}

interface Fixture {
  input: ExportInput;
  outDir: string;
  /** Each frame's PNG bytes, whatever kind of source the input passes them as. */
  pngs: Buffer[];
}

/** How the fixture hands frames over: 'mixed' cycles file, loader, Buffer, so every test covers all three. */
type SourceKind = 'buffer' | 'file' | 'loader' | 'mixed';

async function asSource(png: Buffer, kind: Exclude<SourceKind, 'mixed'>, file: string): Promise<PngSource> {
  if (kind === 'buffer') return png;
  if (kind === 'loader') return () => Promise.resolve(png);
  await writeFile(file, png);
  return { path: file, sha256: sha256(png), bytes: png.length };
}

async function makeFixture(
  outDir: string,
  options: {
    shots?: number;
    draft?: boolean;
    createdAt?: Date;
    sources?: SourceKind;
    mutate?: (frames: ExportFrame[]) => void;
  } = {},
): Promise<Fixture> {
  const kinds = ['file', 'loader', 'buffer'] as const;
  const kindOf = (i: number): Exclude<SourceKind, 'mixed'> =>
    !options.sources || options.sources === 'mixed' ? kinds[i % 3]! : options.sources;
  // Outside `work`, which some tests expect to hold nothing but what the export wrote.
  const sourceDir = await mkdtemp(path.join(sourcesRoot, 'fixture-'));
  const count = options.shots ?? 12;
  const ids = Array.from({ length: count }, (_, i) => `shot-${String(i + 1).padStart(2, '0')}`);
  const project: Project = projectSchema.parse({
    schemaVersion: 1,
    id: 'lighthouse',
    name: 'Lighthouse <night> & storm',
    globalSeed: 4242,
    style: { prompt: 'moody ink wash, teal and amber' },
    output: { width: FRAME_W, height: FRAME_H },
    shots: ids.map((id, i) => ({
      id,
      prompt: i === 2 ? SCRIPT_PROMPT : `Shot ${i + 1}: the lighthouse beam sweeps the sea`,
    })),
  });
  const sheetPng = await encodePng(gradientRaster(288, 288, [20, 60, 80], [230, 170, 60], 7));
  const dna = await makeDna(sheetPng);
  const frames: ExportFrame[] = [];
  const pngs: Buffer[] = [];
  const shots: ShotQaResult[] = [];
  for (const [i, id] of ids.entries()) {
    const png = await encodePng(gradientRaster(FRAME_W, FRAME_H, hue(i), hue(i + 5), 100 + i));
    const beforePng =
      i % 3 === 0 ? await encodePng(gradientRaster(FRAME_W, FRAME_H, hue(i), [0, 0, 0], 200 + i)) : undefined;
    const metrics = await metricsOf(png, 2 + i / 4);
    const score = 60 + i * 3.25;
    const passed = score >= 70;
    const issues = passed ? [] : (['style_drift'] as const);
    const assessment = { metrics, score, issues: [...issues], passed };
    shots.push({
      shotId: id,
      score,
      issues: [...issues],
      passed,
      metrics,
      initial: beforePng ? { ...assessment, score: score - 10 } : assessment,
      attempts: beforePng
        ? [
            {
              attempt: 1,
              kind: 'fix',
              actions: ['unsharp', 'colour-transfer'],
              before: { ...assessment, score: score - 10 },
              after: assessment,
              delta: 10,
              kept: true,
            },
          ]
        : [],
      autofixApplied: beforePng !== undefined,
    });
    pngs.push(png);
    frames.push({
      shotId: id,
      index: i,
      png: await asSource(png, kindOf(i), path.join(sourceDir, `${id}.png`)),
      width: FRAME_W,
      height: FRAME_H,
      seed: 1000 + i,
      prompt: project.shots[i]!.prompt,
      ...(i === 4 ? { negativePrompt: 'blurry, <b>text</b>' } : {}),
      backend: options.draft === false ? 'comfyui' : 'draft',
      draft: options.draft ?? true,
      ...(beforePng
        ? { beforePng: await asSource(beforePng, kindOf(i + 1), path.join(sourceDir, `${id}-before.png`)) }
        : {}),
      promotion: {
        original: { width: 512, height: 512 },
        cropped: { width: 512, height: 288 },
        final: { width: FRAME_W, height: FRAME_H },
      },
      timings: { generateMs: 10 + i, qaMs: 3 },
    });
  }
  options.mutate?.(frames);
  const qaReport: QaReport = {
    overallScore: shots.reduce((s, x) => s + x.score, 0) / shots.length,
    shotScores: shots.map((s) => ({ shotId: s.shotId, score: s.score, issues: s.issues, passed: s.passed })),
    autofixApplied: shots.some((s) => s.autofixApplied),
    passed: shots.every((s) => s.passed),
    shots,
    shotsWithoutFrame: [],
    thresholds: { minScore: 70, maxPaletteDrift: 12 },
  };
  return {
    outDir,
    pngs,
    input: {
      project,
      outDir,
      sheet: { png: await asSource(sheetPng, kindOf(1), path.join(sourceDir, 'sheet.png')), dna },
      frames,
      qaReport,
      backend: { name: options.draft === false ? 'comfyui' : 'draft', version: '1.0.0' },
      // Keys deliberately out of order: the manifest must store them canonically.
      parameters: { width: FRAME_W, height: FRAME_H, qa: { minScore: 70, autofix: true }, alpha: 1 },
      timings: { coherenceMs: 12, generateMs: 340 },
      createdAt: options.createdAt ?? CREATED_AT,
    },
  };
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface ZipEntryData {
  name: string;
  data: Buffer;
  compressionMethod: number;
  mtime: Date;
}

async function readZip(zipPath: string): Promise<ZipEntryData[]> {
  const zip = await yauzl.openPromise(zipPath, { lazyEntries: true });
  const out: ZipEntryData[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      out.push({
        name: entry.fileName,
        data: Buffer.concat(chunks),
        compressionMethod: entry.compressionMethod,
        mtime: entry.getLastModDate(),
      });
    }
  } finally {
    zip.close();
  }
  return out;
}

async function listRecursive(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

let work: string;
let sourcesRoot: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'storycore-export-'));
  sourcesRoot = await mkdtemp(path.join(tmpdir(), 'storycore-export-sources-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
  await rm(sourcesRoot, { recursive: true, force: true });
});

describe('exportPackage', () => {
  it('writes a folder and a zip whose every file matches the manifest sha256 and size', async () => {
    const { input, outDir, pngs } = await makeFixture(path.join(work, 'out'));
    const progress: Array<[number, number]> = [];
    const result = await exportPackage(input, { onProgress: (d, t) => progress.push([d, t]) });

    expect(path.basename(result.dir)).toBe('lighthouse-20261125T213000Z');
    expect(result.zipPath).toBe(`${result.dir}.zip`);
    expect((await readdir(outDir)).sort()).toEqual([
      'lighthouse-20261125T213000Z',
      'lighthouse-20261125T213000Z.zip',
    ]);

    const listed = result.manifest.files.map((f) => f.path);
    expect(listed).toEqual([...listed].sort());
    expect(listed).toContain('shots/01_shot-01.png');
    expect(listed).toContain('shots/12_shot-12.png');
    for (const name of [
      'master_coherence_sheet.png',
      'visual_dna.json',
      'qa_report.json',
      'qa_report.html',
      'contact_sheet.png',
      'project.json',
    ]) {
      expect(listed).toContain(name);
    }
    expect(listed).not.toContain('manifest.json');
    expect(await listRecursive(result.dir)).toEqual([...listed, 'manifest.json'].sort());
    expect(await verifyExport(result.dir)).toEqual([]);

    const shot = result.manifest.files.find((f) => f.path === 'shots/03_shot-03.png')!;
    expect(shot).toMatchObject({
      width: FRAME_W,
      height: FRAME_H,
      sha256: sha256(pngs[2]!),
      bytes: pngs[2]!.length,
    });

    const entries = await readZip(result.zipPath);
    expect(entries.map((e) => e.name)).toEqual([...listed, 'manifest.json'].sort());
    const byPath = new Map(result.manifest.files.map((f) => [f.path, f]));
    for (const entry of entries) {
      expect(entry.mtime.getTime()).toBe(CREATED_AT.getTime());
      if (entry.name === 'manifest.json') {
        expect(entry.data.equals(await readFile(path.join(result.dir, 'manifest.json')))).toBe(true);
        expect(entry.compressionMethod).toBe(8);
        continue;
      }
      const listedFile = byPath.get(entry.name)!;
      expect(sha256(entry.data)).toBe(listedFile.sha256);
      expect(entry.data.length).toBe(listedFile.bytes);
      expect(entry.compressionMethod).toBe(entry.name.endsWith('.png') ? 0 : 8);
    }

    expect(progress.at(-1)).toEqual([progress[0]![1], progress[0]![1]]);
    expect(progress.map(([d]) => d)).toEqual(progress.map((_, i) => i + 1));
  });

  it('records seeds, backend, canonical parameters, tool versions and QA per frame in the manifest', async () => {
    const { input } = await makeFixture(path.join(work, 'out'));
    const { manifest, dir } = await exportPackage(input);
    const onDisk = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as typeof manifest;
    expect(onDisk).toEqual(manifest);
    const pkg = JSON.parse(await readFile(path.resolve('package.json'), 'utf8')) as { version: string };

    expect(manifest.project).toEqual({
      id: 'lighthouse',
      name: 'Lighthouse <night> & storm',
      schemaVersion: 1,
    });
    expect(manifest.seeds.global).toBe(4242);
    expect(manifest.seeds.shots).toEqual(input.frames.map((f) => ({ shotId: f.shotId, seed: f.seed })));
    expect(manifest.backend).toEqual({ name: 'draft', version: '1.0.0' });
    expect(manifest.draft).toBe(true);
    expect(Object.keys(manifest.parameters as object)).toEqual(['alpha', 'height', 'qa', 'width']);
    expect(manifest.tools).toMatchObject({
      storycore: pkg.version,
      node: process.versions.node,
      sharp: sharp.versions.sharp,
      libvips: sharp.versions.vips,
    });
    expect(manifest.frames[0]).toMatchObject({
      shotId: 'shot-01',
      file: 'shots/01_shot-01.png',
      seed: 1000,
      qa: { score: 60, passed: false, issues: ['style_drift'] },
    });
    expect(manifest.createdAt).toBe('2026-11-25T21:30:00.000Z');
    expect(manifest.timings).toEqual({
      run: { coherenceMs: 12, generateMs: 340 },
      shots: Object.fromEntries(
        input.frames.map((f) => [f.shotId, { generateMs: f.timings!.generateMs, qaMs: 3 }]),
      ),
    });
    const sheet = manifest.files.find((f) => f.path === 'master_coherence_sheet.png');
    expect(sheet).toMatchObject({ width: 288, height: 288 });
    expect(JSON.parse(await readFile(path.join(dir, 'project.json'), 'utf8'))).toEqual(input.project);
    expect(JSON.parse(await readFile(path.join(dir, 'qa_report.json'), 'utf8'))).toEqual(input.qaReport);
  });

  it('gives two exports of the same inputs at different times the same stable manifest and zip entry list', async () => {
    const out = path.join(work, 'out');
    const a = await makeFixture(out);
    const b = await makeFixture(out, { createdAt: new Date('2026-11-26T08:00:05.000Z') });
    b.input.timings = { generateMs: 999, coherenceMs: 1 };
    const first = await exportPackage(a.input);
    const second = await exportPackage(b.input);
    expect(second.dir).not.toBe(first.dir);
    expect(JSON.stringify(stableManifestView(second.manifest))).toBe(
      JSON.stringify(stableManifestView(first.manifest)),
    );
    expect(stableManifestView(first.manifest)).not.toHaveProperty('createdAt');
    expect(second.manifest.createdAt).not.toBe(first.manifest.createdAt);
    const [za, zb] = [await readZip(first.zipPath), await readZip(second.zipPath)];
    expect(zb.map((e) => e.name)).toEqual(za.map((e) => e.name));
    for (const [i, entry] of za.entries()) {
      if (entry.name !== 'manifest.json') expect(zb[i]!.data.equals(entry.data)).toBe(true);
    }
  });

  it('adds -2 to the folder name when an export with the same timestamp already exists', async () => {
    const out = path.join(work, 'out');
    const first = await exportPackage((await makeFixture(out)).input);
    const second = await exportPackage((await makeFixture(out)).input);
    expect(path.basename(first.dir)).toBe('lighthouse-20261125T213000Z');
    expect(path.basename(second.dir)).toBe('lighthouse-20261125T213000Z-2');
    expect(path.basename(second.zipPath)).toBe('lighthouse-20261125T213000Z-2.zip');
    expect(await verifyExport(first.dir)).toEqual([]);
  });

  it('sweeps temporaries left by a killed export, but never those of a live process', async () => {
    const out = path.join(work, 'out');
    await mkdir(out, { recursive: true });
    const dead = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '']);
      child.on('exit', () => resolve(child.pid!));
    });
    const abandoned = [`.tmp-${dead}-0123456789abcdef`, `.tmp-${dead}-0123456789abcdef.zip`];
    const live = `.tmp-${process.pid}-fedcba9876543210`;
    await mkdir(path.join(out, abandoned[0]!, 'shots'), { recursive: true });
    await writeFile(path.join(out, abandoned[1]!), 'half a zip');
    await mkdir(path.join(out, live));
    await writeFile(path.join(out, '.tmp-not-ours'), 'left alone: not our pattern');
    const anHourAgo = new Date(Date.now() - 3_600_000);
    for (const name of [...abandoned, live]) await utimes(path.join(out, name), anHourAgo, anHourAgo);
    const recentDead = `.tmp-${dead}-00000000deadbeef`; // maybe another host's live export: too recent to judge
    await mkdir(path.join(out, recentDead));

    const result = await exportPackage((await makeFixture(out)).input);
    const left = (await readdir(out)).sort();
    expect(left).toEqual(
      ['.tmp-not-ours', live, recentDead, path.basename(result.dir), path.basename(result.zipPath)].sort(),
    );
  });

  it("sweeps this host's temporaries of a dead export at once, whatever their age; another host's only when old", async () => {
    const out = path.join(work, 'out');
    await mkdir(out, { recursive: true });
    const dead = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '']);
      child.on('exit', () => resolve(child.pid!));
    });
    // What a kill -9 a second ago leaves: this host's tag, a dead pid, files written just now.
    const justKilled = [
      `.tmp-${hostTag()}-${dead}-0123456789abcdef`,
      `.tmp-${hostTag()}-${dead}-0123456789abcdef.zip`,
    ];
    await mkdir(path.join(out, justKilled[0]!, 'shots'), { recursive: true });
    await writeFile(path.join(out, justKilled[0]!, 'shots', '01_a.png'), Buffer.alloc(4096));
    await writeFile(path.join(out, justKilled[1]!), 'half a zip');
    const liveHere = `.tmp-${hostTag()}-${process.pid}-fedcba9876543210`;
    const otherHost = `.tmp-0000abcd-${dead}-00000000deadbeef`; // its pid means nothing here
    for (const name of [liveHere, otherHost]) await mkdir(path.join(out, name));

    const result = await exportPackage((await makeFixture(out)).input);
    expect((await readdir(out)).sort()).toEqual(
      [liveHere, otherHost, path.basename(result.dir), path.basename(result.zipPath)].sort(),
    );
  });

  it('exports a project whose name holds characters XML cannot carry (a control character, markup)', async () => {
    const out = path.join(work, 'out');
    const fixture = await makeFixture(out, { shots: 2 });
    const input = {
      ...fixture.input,
      project: { ...fixture.input.project, name: 'Bell \u0007 <night> & "day"' },
    };
    const result = await exportPackage(input);
    expect(await verifyExport(result.dir)).toEqual([]);
  });

  it('rejects a shot id that would escape the export folder and writes nothing outside outDir', async () => {
    const outDir = path.join(work, 'nest', 'out');
    for (const evil of ['../evil', '../../evil', '/tmp/evil', 'a/../../evil', '..']) {
      const { input } = await makeFixture(outDir, {
        shots: 3,
        mutate: (frames) => void (frames[1]!.shotId = evil),
      });
      await expect(exportPackage(input)).rejects.toBeInstanceOf(ValidationError);
    }
    expect(await readdir(work)).toEqual([]);
    const { input } = await makeFixture(outDir, { shots: 2 });
    input.project = { ...input.project, id: '../escape' };
    await expect(exportPackage(input)).rejects.toBeInstanceOf(ValidationError);
    expect(await readdir(work)).toEqual([]);
  });

  it('fails with ExportFailedError when a frame mid-sequence is not a PNG, leaving no folder, zip or temp dir', async () => {
    const outDir = path.join(work, 'out');
    const jpeg = await sharp({
      create: { width: FRAME_W, height: FRAME_H, channels: 3, background: '#336699' },
    })
      .jpeg()
      .toBuffer();
    const { input } = await makeFixture(outDir, { mutate: (frames) => void (frames[6]!.png = jpeg) });
    let progressed = 0;
    const error = await exportPackage(input, { onProgress: (d) => (progressed = d) }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ExportFailedError);
    expect((error as ExportFailedError).message).toContain('shots/07_shot-07.png');
    expect((error as ExportFailedError).cause).toBeInstanceOf(ValidationError);
    expect(progressed).toBe(7); // the sheet and six frames were written before the failure
    expect(await readdir(outDir)).toEqual([]);

    const garbage = await makeFixture(outDir, {
      mutate: (frames) => void (frames[3]!.png = Buffer.from('not an image at all')),
    });
    const error2 = await exportPackage(garbage.input).catch((e: unknown) => e);
    expect(error2).toBeInstanceOf(ExportFailedError);
    expect((error2 as ExportFailedError).cause).toBeInstanceOf(Error);
    expect(await readdir(outDir)).toEqual([]);
  });

  it('refuses a frame file whose bytes do not match its sha256 or size, leaving nothing behind', async () => {
    const outDir = path.join(work, 'out');
    const { input, pngs } = await makeFixture(outDir, { shots: 4, sources: 'file' });
    const damaged = input.frames[2]!.png as PngFile;
    const bytes = Buffer.from(pngs[2]!);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0xff;
    await writeFile(damaged.path, bytes);
    const error = await exportPackage(input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExportFailedError);
    expect((error as ExportFailedError).message).toContain('shots/03_shot-03.png');
    expect((error as ExportFailedError).message).toContain('expected');
    expect((error as ExportFailedError).cause).toBeInstanceOf(ValidationError);
    expect(await readdir(outDir)).toEqual([]);

    await writeFile(damaged.path, pngs[2]!);
    input.frames[2]!.png = { path: damaged.path, bytes: pngs[2]!.length + 1 };
    const sizeError = await exportPackage(input).catch((e: unknown) => e);
    expect((sizeError as ExportFailedError).cause).toBeInstanceOf(ValidationError);
    expect((sizeError as ExportFailedError).message).toMatch(/holds \d+ bytes, expected \d+/);
    expect(await readdir(outDir)).toEqual([]);

    // The source file is copied, not moved or changed.
    input.frames[2]!.png = damaged;
    const { dir } = await exportPackage(input);
    expect(await readFile(damaged.path)).toEqual(pngs[2]);
    expect(await verifyExport(dir)).toEqual([]);
  });

  it('loads each frame only when the export reaches it, one at a time, in sequence order', async () => {
    const { input, pngs } = await makeFixture(path.join(work, 'out'), { shots: 6, sources: 'loader' });
    let done = 0;
    let loading = 0;
    const calls: Array<{ index: number; done: number; concurrent: number }> = [];
    // Shuffled input order: the export still goes through the sequence in order.
    input.frames = [...input.frames].reverse().map((frame) => ({
      ...frame,
      png: async () => {
        loading += 1;
        calls.push({ index: frame.index, done, concurrent: loading });
        await new Promise((resolve) => setTimeout(resolve, 5));
        loading -= 1;
        return pngs[frame.index]!;
      },
    }));
    await exportPackage(input, { onProgress: (d) => (done = d) });
    // Frame k is loaded after the sheet and frames 0..k-1 are written, and never alongside another.
    expect(calls).toEqual(pngs.map((_, k) => ({ index: k, done: 1 + k, concurrent: 1 })));
  });

  it('stops with CancelledError when aborted mid-export and removes everything it wrote', async () => {
    const outDir = path.join(work, 'out');
    const { input } = await makeFixture(outDir);
    for (const abortAt of [5, 15, 18, 19, 20]) {
      const controller = new AbortController();
      const error = await exportPackage(input, {
        signal: controller.signal,
        onProgress: (done) => {
          if (done === abortAt) abortWith(controller, 'user');
        },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CancelledError);
      expect(await readdir(outDir)).toEqual([]);
    }
    const aborted = new AbortController();
    abortWith(aborted, 'shutdown');
    await expect(exportPackage(input, { signal: aborted.signal })).rejects.toMatchObject({
      reason: 'shutdown',
    });
  });

  it('writes a self-contained HTML report with each shot id and score, the draft banner, and escaped user text', async () => {
    const { input } = await makeFixture(path.join(work, 'out'));
    const { dir } = await exportPackage(input);
    const html = await readFile(path.join(dir, 'qa_report.html'), 'utf8');
    expect(html).toContain('DRAFT — storyboard frames from the embedded renderer, not AI images');
    for (const shot of input.qaReport.shots) {
      expect(html).toContain(`id="shot-${shot.shotId}"`);
      expect(html).toContain(`score ${shot.score.toFixed(1)}`);
    }
    expect(html).not.toContain('<script');
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;');
    expect(html).toContain('Lighthouse &#60;night&#62; &#38; storm');
    expect(html).toContain('blurry, &#60;b&#62;text&#60;/b&#62;');
    // Self-contained: images inline, no external fetches.
    expect(html).not.toMatch(/(src|href)="(https?:|\/\/|file:)/);
    const images = html.match(/src="data:image\/jpeg;base64,[A-Za-z0-9+/=]+"/g) ?? [];
    // Sheet + 12 frames + 4 before-autofix frames (shots 1, 4, 7, 10).
    expect(images).toHaveLength(1 + 12 + 4);
    expect(html.match(/<figcaption>before autofix/g)).toHaveLength(4);
    const thumb = Buffer.from(images[1]!.slice('src="data:image/jpeg;base64,'.length, -1), 'base64');
    expect(await sharp(thumb).metadata()).toMatchObject({ format: 'jpeg', width: FRAME_W });

    const real = await makeFixture(path.join(work, 'out2'), { draft: false, shots: 2 });
    const realHtml = await readFile(
      path.join((await exportPackage(real.input)).dir, 'qa_report.html'),
      'utf8',
    );
    expect(realHtml).not.toContain('DRAFT');
  });

  it('draws a 4x3 contact sheet of 320x180 thumbnails for 12 frames, in sequence order', async () => {
    const { input, pngs } = await makeFixture(path.join(work, 'out'));
    const { dir, manifest } = await exportPackage(input);
    const png = await readFile(path.join(dir, 'contact_sheet.png'));
    // 24 margin + 4 × 320 + 3 × 16 gap + 24 margin; 24 + 48 header + 3 × (180 + 28 label) + 2 × 16 + 24.
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 1376, height: 752 });
    expect(manifest.files.find((f) => f.path === 'contact_sheet.png')).toMatchObject({
      width: 1376,
      height: 752,
    });

    // Each cell shows its own frame: the cell's mean colour is close to that frame's, far from the others'.
    const meanOf = async (img: Sharp): Promise<number[]> =>
      (await img.stats()).channels.slice(0, 3).map((c) => c.mean);
    for (const [i, frame] of pngs.entries()) {
      const left = 24 + (i % 4) * 336;
      const top = 72 + Math.floor(i / 4) * 224;
      const cell = await meanOf(
        sharp(await sharp(png).extract({ left, top, width: 320, height: 180 }).png().toBuffer()),
      );
      const own = await meanOf(sharp(frame));
      const distances = await Promise.all(
        pngs.map(async (f) => Math.hypot(...(await meanOf(sharp(f))).map((v, c) => v - cell[c]!))),
      );
      expect(Math.hypot(...own.map((v, c) => v - cell[c]!))).toBeLessThan(4);
      expect(distances.indexOf(Math.min(...distances))).toBe(i);
    }
    // The label band under the first cell holds light text on the dark background.
    const label = await sharp(
      await sharp(png)
        .extract({ left: 24, top: 72 + 180, width: 120, height: 28 })
        .greyscale()
        .png()
        .toBuffer(),
    ).stats();
    expect(label.channels[0]!.max).toBeGreaterThan(180);
  });

  it('streams a contact sheet whose last row is partly empty, with each frame in its own cell', async () => {
    const { input, pngs } = await makeFixture(path.join(work, 'out'), { shots: 5 });
    const { dir } = await exportPackage(input);
    const png = await readFile(path.join(dir, 'contact_sheet.png'));
    // 3 columns × 2 rows: 24 + 3 × 320 + 2 × 16 + 24 wide; 24 + 48 + 2 × 208 + 16 + 24 high.
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ width: 1040, height: 528, channels: 3 });
    const pixel = (x: number, y: number): number[] => [
      ...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3),
    ];
    // The sixth cell (row 2, column 3) is background; the fifth holds frame 5.
    expect(pixel(24 + 2 * 336 + 160, 72 + 224 + 90)).toEqual([30, 30, 32]);
    // stats() reads its input, not the pipeline, so the crop is encoded first.
    const cell = await sharp(
      await sharp(png)
        .extract({ left: 24 + 336, top: 72 + 224, width: 320, height: 180 })
        .png()
        .toBuffer(),
    ).stats();
    const own = await sharp(pngs[4]!).stats();
    for (const c of [0, 1, 2])
      expect(Math.abs(cell.channels[c]!.mean - own.channels[c]!.mean)).toBeLessThan(4);
  });
});

describe('writeZip', () => {
  it('rejects (instead of crashing the process) when an entry cannot be read, and leaves no partial zip', async () => {
    const present = path.join(work, 'present.txt');
    await writeFile(present, 'hello');
    const zipPath = path.join(work, 'broken.zip');
    await expect(
      writeZip(
        [
          { name: 'a.txt', file: present },
          { name: 'b.txt', file: path.join(work, 'missing.txt') },
        ],
        zipPath,
        { mtime: CREATED_AT },
      ),
    ).rejects.toThrow(/ENOENT/);
    expect(await readdir(work)).not.toContain('broken.zip');
  });
});

describe('verifyExport', () => {
  it('reports a changed file, a missing file and an unlisted file', async () => {
    const { input } = await makeFixture(path.join(work, 'out'), { shots: 3 });
    const { dir } = await exportPackage(input);
    await writeFile(path.join(dir, 'visual_dna.json'), '{}\n');
    const project = await readFile(path.join(dir, 'project.json'));
    project[10] = project[10]! ^ 1;
    await writeFile(path.join(dir, 'project.json'), project);
    await unlink(path.join(dir, 'shots', '02_shot-02.png'));
    await writeFile(path.join(dir, 'shots', 'extra.txt'), 'hi');
    const problems = await verifyExport(dir);
    expect(problems.map((p) => [p.kind, p.path]).sort()).toEqual([
      ['missing', 'shots/02_shot-02.png'],
      ['sha256', 'project.json'],
      ['size', 'visual_dna.json'],
      ['unlisted', 'shots/extra.txt'],
    ]);
  });

  it('refuses manifest paths that point outside the export folder', async () => {
    const { input } = await makeFixture(path.join(work, 'out'), { shots: 1 });
    const { dir } = await exportPackage(input);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
      files: Array<{ path: string; bytes: number; sha256: string }>;
    };
    manifest.files.push({ path: '../lighthouse-20261125T213000Z.zip', bytes: 1, sha256: 'x' });
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    expect(await verifyExport(dir)).toEqual([
      expect.objectContaining({ kind: 'unsafe-path', path: '../lighthouse-20261125T213000Z.zip' }),
    ]);
    await writeFile(path.join(dir, 'manifest.json'), 'not json');
    expect((await verifyExport(dir))[0]).toMatchObject({ kind: 'manifest' });
  });
});
