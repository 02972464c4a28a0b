import { open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyExport, verifyPackage, verifyZip } from '../src/stages/export/index.js';
import { runOn } from './helpers/pipeline-harness.js';
import { makeProject } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

const project = makeProject({ id: 'reuse-export', shots: 3 });

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

async function firstExport(): Promise<{ dir: string; zipPath: string }> {
  ws = await createTempWorkspace();
  const run = await runOn(ws, project);
  expect(run.result?.status).toBe('succeeded');
  return run.result!.export!;
}

/** Flips one byte in the middle of a file: same size, other content. */
async function flipByte(file: string): Promise<void> {
  const { size } = await stat(file);
  const handle = await open(file, 'r+');
  const at = Math.floor(size / 2);
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, at);
  byte[0] = byte[0]! ^ 0xff;
  await handle.write(byte, 0, 1, at);
  await handle.close();
}

describe('a rerun whose export was damaged', () => {
  const damages: Array<[string, (e: { dir: string; zipPath: string }) => Promise<void>]> = [
    [
      'a frame deleted',
      async (e) => rm(path.join(e.dir, 'shots', (await readdir(path.join(e.dir, 'shots')))[1]!)),
    ],
    ['the zip truncated', async (e) => truncate(e.zipPath, (await stat(e.zipPath)).size - 100)],
    [
      'manifest.json overwritten',
      async (e) => writeFile(path.join(e.dir, 'manifest.json'), '{"files": []}\n'),
    ],
    ['qa_report.json cut short', async (e) => truncate(path.join(e.dir, 'qa_report.json'), 10)],
  ];
  for (const [what, damage] of damages) {
    it(`rewrites the export (${what}) instead of reporting the damaged one as success`, async () => {
      const before = await firstExport();
      await damage(before);
      const rerun = await runOn(ws!, project);
      expect(rerun.result?.status).toBe('succeeded');
      expect(rerun.result!.executedSteps).toEqual(['export', 'animatic']);
      const after = rerun.result!.export!;
      expect(after.dir).not.toBe(before.dir);
      expect(await verifyExport(after.dir)).toEqual([]);
      expect(await verifyZip(after.zipPath)).toEqual([]);
    });
  }

  it('reuses an intact export, and finds a same-size change only with verify (full hashes)', async () => {
    const before = await firstExport();
    expect((await runOn(ws!, project)).result!.reusedSteps).toContain('export');
    const frame = path.join(before.dir, 'shots', (await readdir(path.join(before.dir, 'shots')))[0]!);
    await flipByte(frame);
    const quick = await runOn(ws!, project);
    expect(quick.result!.executedSteps).toEqual([]); // sizes match: the cheap check cannot see it
    const verified = await runOn(ws!, project, { verify: true });
    expect(verified.result!.executedSteps).toEqual(['export', 'animatic']);
    expect(await verifyExport(verified.result!.export!.dir)).toEqual([]);
  });
});

describe('verifying a received package', () => {
  it('passes an intact folder and its zip, and lists each problem of a damaged one', async () => {
    const e = await firstExport();
    expect(await verifyPackage(e.dir)).toMatchObject({
      ok: true,
      checked: [{ kind: 'folder' }, { kind: 'zip' }],
    });
    expect(await verifyPackage(e.zipPath)).toMatchObject({ ok: true, checked: [{ kind: 'zip' }] });

    const frames = await readdir(path.join(e.dir, 'shots'));
    await flipByte(path.join(e.dir, 'shots', frames[0]!));
    await rm(path.join(e.dir, 'shots', frames[1]!));
    await writeFile(path.join(e.dir, 'notes.txt'), 'added later');
    const folder = await verifyPackage(e.dir);
    expect(folder.ok).toBe(false);
    expect(folder.checked[0]!.problems.map((p) => [p.kind, p.path])).toEqual([
      ['sha256', `shots/${frames[0]}`],
      ['missing', `shots/${frames[1]}`],
      ['unlisted', 'notes.txt'],
    ]);
    expect(folder.checked[1]!.problems).toEqual([]); // the zip beside it is intact
  });

  it('finds a flipped byte inside a stored zip entry by its CRC-32 and sha256, and a truncated zip', async () => {
    const e = await firstExport();
    const bytes = await readFile(e.zipPath);
    // The first frame's PNG data is stored (not deflated): find its IEND-free middle by the PNG signature.
    const png = bytes.indexOf(Buffer.from([0x89, 0x50, 0x4e, 0x47]), bytes.indexOf('shots/'));
    bytes[png + 200] = bytes[png + 200]! ^ 0xff;
    await writeFile(e.zipPath, bytes);
    const problems = await verifyZip(e.zipPath);
    expect(problems.map((p) => p.kind).sort()).toEqual(['crc32', 'sha256']);
    expect(problems[0]!.path).toMatch(/^shots\/\d\d_/);

    await truncate(e.zipPath, bytes.length - 30);
    expect(await verifyZip(e.zipPath)).toMatchObject([{ kind: 'zip', message: /the zip is damaged/ }]);
  });

  it('names the wrong thing given as bad input, not as a damaged package', async () => {
    ws = await createTempWorkspace();
    await expect(verifyPackage(path.join(ws.root, 'nope'))).rejects.toThrow(/no export at .*nope/);
    await writeFile(path.join(ws.root, 'project.json'), '{}');
    await expect(verifyPackage(path.join(ws.root, 'project.json'))).rejects.toThrow(
      /is not an export folder or a \.zip/,
    );
  });
});
