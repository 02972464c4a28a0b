import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CancelledError,
  NotFoundError,
  StoreError,
  ValidationError,
  isStoryCoreError,
} from '../src/core/errors.js';
import { LocalArtifactStore, openWorkspaceStore } from '../src/store/index.js';

let dir: string;
let store: LocalArtifactStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storycore-artifacts-'));
  store = new LocalArtifactStore(join(dir, 'artifacts'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function png(seed: number): Promise<Buffer> {
  const pixels = Buffer.alloc(64 * 48 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + seed * 97) % 256;
  return sharp(pixels, { raw: { width: 64, height: 48, channels: 3 } })
    .png()
    .toBuffer();
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

describe('LocalArtifactStore', () => {
  it('stores bytes under their sha256 as ab/cdef… and gives the same bytes back', async () => {
    const bytes = await png(1);
    const sha = await store.put(bytes);
    expect(sha).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(store.localPath(sha)).toBe(join(dir, 'artifacts', sha.slice(0, 2), sha.slice(2)));
    expect(await readFile(store.localPath(sha))).toEqual(bytes);
    expect(await store.get(sha)).toEqual(bytes);
    expect(await store.has(sha)).toBe(true);
    expect(await store.sizeOf(sha)).toBe(bytes.length);
    expect(await store.verify(sha)).toBe(true);
    expect((await sharp(await store.get(sha)).metadata()).width).toBe(64);
  });

  it('stores identical bytes once and leaves no temp files behind', async () => {
    const a = await png(2);
    const b = await png(3);
    const shaA = await store.put(a);
    expect(await store.put(Buffer.from(a))).toBe(shaA);
    const shaB = await store.put(b);
    expect(shaB).not.toBe(shaA);
    expect(await filesUnder(store.root)).toEqual(
      [shaA, shaB].map((s) => join(s.slice(0, 2), s.slice(2))).sort(),
    );
  });

  it('stores a view into a larger buffer as exactly the viewed bytes', async () => {
    const backing = Buffer.from('xxxxhello artifactyyyy');
    const view = backing.subarray(4, 18);
    const sha = await store.put(view);
    expect((await store.get(sha)).toString()).toBe('hello artifact');
    expect(await store.put(new Uint8Array(view))).toBe(sha);
  });

  it('throws NotFoundError naming the hash for a missing artifact, and has() says false', async () => {
    const missing = 'a'.repeat(64);
    expect(await store.has(missing)).toBe(false);
    expect(await store.verify(missing)).toBe(false);
    expect(await store.sizeOf(missing)).toBeUndefined();
    await expect(store.get(missing)).rejects.toThrow(NotFoundError);
    await expect(store.get(missing)).rejects.toThrow(missing);
  });

  it('rejects anything but 64 lowercase hex digits, so no path can escape the folder', async () => {
    for (const bad of [
      '../x',
      `../${'a'.repeat(61)}`,
      'A'.repeat(64),
      'a'.repeat(63),
      `${'a'.repeat(62)}/b`,
      '',
    ]) {
      expect(() => store.localPath(bad)).toThrow(ValidationError);
      await expect(store.get(bad)).rejects.toThrow(ValidationError);
      await expect(store.has(bad)).rejects.toThrow(ValidationError);
      await expect(store.verify(bad)).rejects.toThrow(ValidationError);
    }
  });

  it('detects a truncated artifact: verify() is false and get() refuses the damaged bytes', async () => {
    const bytes = await png(4);
    const sha = await store.put(bytes);
    await truncate(store.localPath(sha), bytes.length - 10);
    expect(await store.has(sha)).toBe(true);
    expect(await store.verify(sha)).toBe(false);
    const error: unknown = await store.get(sha).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(isStoryCoreError(error) && error.details).toMatchObject({ sha256: sha, size: bytes.length - 10 });
    expect(String(error)).toContain('it has been removed, and the next run recomputes it');
    // Removed on detection, so the step that made it is no longer reused but recomputed.
    expect(await store.has(sha)).toBe(false);
  });

  it('removeDamaged() removes exactly the artifacts whose bytes no longer match their hash', async () => {
    const good = await store.put(await png(8));
    const bad = await store.put(await png(9));
    await writeFile(store.localPath(bad), Buffer.alloc((await store.sizeOf(bad))!, 7));
    expect(await store.removeDamaged([good, bad, bad])).toEqual([bad]);
    expect(await store.has(good)).toBe(true);
    expect(await store.has(bad)).toBe(false);
  });

  it('heals a damaged artifact when the same bytes are stored again', async () => {
    const bytes = await png(5);
    const sha = await store.put(bytes);
    await writeFile(store.localPath(sha), Buffer.alloc(bytes.length, 0)); // same size, wrong content
    expect(await store.verify(sha)).toBe(false);
    expect(await store.put(bytes)).toBe(sha);
    expect(await store.verify(sha)).toBe(true);
  });

  it('sweeps temporaries of writes killed mid-way, keeping those of live processes and every artifact', async () => {
    const sha = await store.put(await png(7));
    const shard = join(dir, 'artifacts', sha.slice(0, 2));
    const dead = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '']);
      child.on('exit', () => resolve(child.pid!));
    });
    const abandoned = `${sha.slice(2)}.tmp-${dead}-0badc0de`;
    const live = `${sha.slice(2)}.tmp-${process.pid}-0123abcd`;
    const recentDead = `${sha.slice(2)}.tmp-${dead}-00000001`;
    await writeFile(join(shard, abandoned), 'half written');
    await writeFile(join(shard, live), 'being written right now');
    await writeFile(join(shard, recentDead), 'maybe another host sharing the workspace, mid-write');
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(join(shard, abandoned), anHourAgo, anHourAgo);
    await utimes(join(shard, live), anHourAgo, anHourAgo);

    expect(await store.sweepAbandonedTemps()).toBe(1);
    expect((await readdir(shard)).sort()).toEqual([sha.slice(2), live, recentDead].sort());
    expect(await store.verify(sha)).toBe(true);
  });

  it('honours an aborted signal with CancelledError before touching the disk', async () => {
    const controller = new AbortController();
    controller.abort(new CancelledError('shutdown'));
    const bytes = await png(6);
    await expect(store.put(bytes, { signal: controller.signal })).rejects.toThrow(CancelledError);
    expect(await store.has(createHash('sha256').update(bytes).digest('hex'))).toBe(false);
    const sha = await store.put(bytes);
    await expect(store.get(sha, { signal: controller.signal })).rejects.toThrow(CancelledError);
    await expect(store.verify(sha, { signal: controller.signal })).rejects.toThrow(CancelledError);
  });

  it('lives in <workspace>/artifacts next to <workspace>/storycore.db when opened as a workspace', async () => {
    const ws = openWorkspaceStore(dir);
    try {
      const sha = await ws.artifacts.put(Buffer.from('sheet'));
      expect(ws.artifacts.localPath(sha).startsWith(join(dir, 'artifacts'))).toBe(true);
      expect(ws.dbPath).toBe(join(dir, 'storycore.db'));
      expect(ws.runs.listRuns()).toEqual([]);
    } finally {
      ws.close();
    }
  });
});
