import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { abortWith } from '../src/core/abort.js';
import { CancelledError, ValidationError } from '../src/core/errors.js';
import { writeFileAtomic } from '../src/core/fs-atomic.js';
import { isInside, safeJoin } from '../src/core/safe-path.js';
import { SHOT_ID_PATTERN } from '../src/project/schema.js';
import {
  assertSafeId,
  compactTimestamp,
  exportFolderName,
  shotFilePath,
} from '../src/stages/export/safe-path.js';

const root = path.resolve('/srv/exports/run');

describe('safeJoin', () => {
  it('joins ordinary segments under the root', () => {
    expect(safeJoin(root, 'shots', '01_a.png')).toBe(path.join(root, 'shots', '01_a.png'));
    expect(safeJoin(root, 'a/./b/../c.json')).toBe(path.join(root, 'a', 'c.json'));
    expect(safeJoin(root)).toBe(root);
    expect(safeJoin(root, '.')).toBe(root);
  });

  it('throws ValidationError for segments that climb out, are absolute or hold a NUL byte', () => {
    for (const bad of [
      ['..'],
      ['../evil'],
      ['shots', '../../evil'],
      ['/etc/passwd'],
      ['a\0b'],
      ['a', '..', '..', 'run2'],
    ]) {
      expect(() => safeJoin(root, ...bad), bad.join(' ')).toThrow(ValidationError);
    }
  });

  it('does not mistake a sibling that shares the root as a prefix for the inside', () => {
    expect(() => safeJoin(root, '../run-2/file')).toThrow(ValidationError);
    expect(isInside(root, `${root}-2/file`)).toBe(false);
    expect(isInside(root, `${root}/file`)).toBe(true);
  });

  it('for any segments, either throws ValidationError or returns a path inside the root', () => {
    const segment = fc.oneof(
      fc.constantFrom('..', '.', '/', '../', 'a', '/abs', 'x/../..', ''),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), (segments) => {
        let joined: string;
        try {
          joined = safeJoin(root, ...segments);
        } catch (error) {
          return error instanceof ValidationError;
        }
        const rel = path.relative(root, joined);
        return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
      }),
      { numRuns: 500 },
    );
  });
});

describe('export names', () => {
  it('numbers shot files from 1, padded to two digits or to the width of the shot count', () => {
    expect(shotFilePath(0, 'opening', 12)).toBe('shots/01_opening.png');
    expect(shotFilePath(11, 'end', 12)).toBe('shots/12_end.png');
    expect(shotFilePath(4, 'x', 150)).toBe('shots/005_x.png');
  });

  it('rejects unsafe shot ids and project ids even when they bypassed the schema', () => {
    for (const id of ['../evil', '..', 'a/b', '.hidden', '', 'a\\b', 'x'.repeat(65)]) {
      expect(() => shotFilePath(0, id, 1), id).toThrow(ValidationError);
      expect(() => exportFolderName(id, new Date(0)), id).toThrow(ValidationError);
    }
    expect(() => shotFilePath(-1, 'ok', 1)).toThrow(ValidationError);
  });

  it('rejects ids holding ".." although the character rules alone would let them through', () => {
    // Each starts with a letter and uses only [A-Za-z0-9._-]: only the explicit ".." rule stops them.
    for (const id of ['a..b', 'v1..2', 'x..']) {
      expect(SHOT_ID_PATTERN.test(id), id).toBe(true);
      expect(() => assertSafeId(id, 'shot id'), id).toThrow(/is not safe as a file name .*no "\.\."/);
      expect(() => shotFilePath(0, id, 1), id).toThrow(ValidationError);
      expect(() => exportFolderName(id, new Date(0)), id).toThrow(ValidationError);
    }
    expect(() => assertSafeId('a.b-c_d', 'shot id')).not.toThrow();
  });

  it('names the folder <projectId>-<UTC basic timestamp>, with -N for later attempts', () => {
    const at = new Date('2026-11-25T21:30:00.456Z');
    expect(compactTimestamp(at)).toBe('20261125T213000Z');
    expect(exportFolderName('lighthouse', at)).toBe('lighthouse-20261125T213000Z');
    expect(exportFolderName('lighthouse', at, 3)).toBe('lighthouse-20261125T213000Z-3');
    expect(() => compactTimestamp(new Date(Number.NaN))).toThrow(ValidationError);
  });
});

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'storycore-atomic-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces the file with the new bytes and leaves no temporary file behind', async () => {
    const file = path.join(dir, 'state.json');
    await writeFile(file, 'old');
    await writeFileAtomic(file, '{"new":true}');
    expect(await readFile(file, 'utf8')).toBe('{"new":true}');
    await writeFileAtomic(file, Buffer.from([1, 2, 3]));
    expect([...(await readFile(file))]).toEqual([1, 2, 3]);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('keeps the old file intact and cleans up when the write cannot complete', async () => {
    const file = path.join(dir, 'state.json');
    await writeFile(file, 'old');
    // The target is a directory: rename fails after the temp file was fully written.
    const blocked = path.join(dir, 'blocked');
    await mkdir(path.join(blocked, 'child'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'new')).rejects.toThrow();
    expect(await readFile(file, 'utf8')).toBe('old');
    expect((await readdir(dir)).sort()).toEqual(['blocked', 'state.json']);
  });

  it('throws CancelledError without touching the file when the signal is already aborted', async () => {
    const file = path.join(dir, 'state.json');
    await writeFile(file, 'old');
    const controller = new AbortController();
    abortWith(controller);
    await expect(writeFileAtomic(file, 'new', { signal: controller.signal })).rejects.toBeInstanceOf(
      CancelledError,
    );
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['state.json']);
  });
});
