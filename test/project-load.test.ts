import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError, StoreError, ValidationError } from '../src/core/errors.js';
import { loadProjectFile, writeProjectFile } from '../src/project/index.js';
import type { ProjectInput } from '../src/project/index.js';
import { validatedProjectsFolder } from '../src/project/validated-cache.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'storycore-project-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const project: ProjectInput = {
  schemaVersion: 1,
  id: 'harbour',
  name: 'Harbour',
  style: { prompt: 'ink and wash' },
  output: { width: 1280, height: 720 },
  shots: [
    { id: 'one', prompt: 'boats at their moorings' },
    { id: 'two', prompt: 'a lamp swings in the wind', camera: 'close-up' },
  ],
};

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('loadProjectFile', () => {
  it('loads a project file, applying defaults', async () => {
    const file = join(dir, 'p.json');
    await writeFile(file, JSON.stringify({ ...project, output: undefined }));
    const loaded = await loadProjectFile(file);
    expect(loaded.id).toBe('harbour');
    expect(loaded.output).toEqual({ width: 1920, height: 1080, fps: 24 });
  });

  it('loads the project.json inside a folder', async () => {
    await writeFile(join(dir, 'project.json'), JSON.stringify(project));
    expect((await loadProjectFile(dir)).shots.map((s) => s.id)).toEqual(['one', 'two']);
  });

  it('loads the README demo', async () => {
    expect((await loadProjectFile('examples/lighthouse')).shots).toHaveLength(12);
  });

  it('a missing file is a ValidationError naming the file and the system error', async () => {
    const file = join(dir, 'nope.json');
    const error = await caught(loadProjectFile(file));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(
      new RegExp(`^cannot read project file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`),
    );
    expect((error as Error).cause).toMatchObject({ code: 'ENOENT' });
  });

  it('a folder without project.json names the project.json it looked for', async () => {
    const error = await caught(loadProjectFile(dir));
    expect((error as Error).message).toContain(
      `cannot read project file ${join(dir, 'project.json')}: ENOENT`,
    );
  });

  it('refuses a file over the size limit before reading it', async () => {
    const file = join(dir, 'big.json');
    await writeFile(file, ' '.repeat(2048));
    const error = await caught(loadProjectFile(file, { maxBytes: 1024 }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      `project file ${file} is 2.0 KiB, larger than the 1.0 KiB limit; is it the right file?`,
    );
  });

  it('refuses bytes that are not UTF-8', async () => {
    const file = join(dir, 'latin1.json');
    await writeFile(file, Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x7d]));
    expect(((await caught(loadProjectFile(file))) as Error).message).toBe(
      `project file ${file} is not UTF-8 text`,
    );
  });

  it('a JSON syntax error names the file, line and column', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{\n  "schemaVersion": 1,\n  "id": "x",\n}\n');
    const error = (await caught(loadProjectFile(file))) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message.split('\n')[0]).toBe(
      `${file}: invalid JSON at line 4, column 1: Expected double-quoted property name`,
    );
  });

  it('an invalid project names the file and lists every issue with its path', async () => {
    const file = join(dir, 'invalid.json');
    const bad = structuredClone(project) as unknown as {
      shots: Array<Record<string, unknown>>;
      name: string;
    };
    bad.name = '  ';
    bad.shots[1]!.id = '../escape';
    bad.shots[0]!.prompt = 'tiny';
    await writeFile(file, JSON.stringify(bad));
    const error = (await caught(loadProjectFile(file))) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain(`${file} is not a valid StoryCore project (3 problems):`);
    expect(error.message).toContain('  - $.name: name must not be empty');
    expect(error.message).toContain(
      '  - $.shots[0].prompt: prompt must be at least 10 characters after trimming',
    );
    expect(error.message).toContain('  - $.shots[1].id: shot id must not contain ".."');
    expect(error.issues.map((i) => i.path)).toEqual(['$.name', '$.shots[0].prompt', '$.shots[1].id']);
  });

  it('stops with CancelledError when the signal is already aborted', async () => {
    await writeFile(join(dir, 'project.json'), JSON.stringify(project));
    const controller = new AbortController();
    controller.abort(new CancelledError('shutdown'));
    const error = await caught(loadProjectFile(dir, { signal: controller.signal }));
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).reason).toBe('shutdown');
  });
});

describe('loadProjectFile with a workspace that remembers validated projects', () => {
  const entries = async (workspace: string): Promise<string[]> =>
    (await readdir(validatedProjectsFolder(workspace))).filter((n) => n.endsWith('.json'));

  it('validates a file once; the same document again comes from its entry, as validation gave it', async () => {
    const file = join(dir, 'project.json');
    const workspace = join(dir, 'ws');
    await writeFile(file, JSON.stringify(project));
    const first = await loadProjectFile(file, { validatedCache: workspace });
    const [entry, ...more] = await entries(workspace);
    expect(more).toEqual([]);
    expect(JSON.parse(await readFile(join(validatedProjectsFolder(workspace), entry!), 'utf8'))).toEqual(
      first,
    );
    // The entry is what a hit returns (no schema run): a marker written into it comes back.
    await writeFile(
      join(validatedProjectsFolder(workspace), entry!),
      JSON.stringify({ ...first, name: 'from the entry' }),
    );
    expect((await loadProjectFile(file, { validatedCache: workspace })).name).toBe('from the entry');
    // Reformatting the file changes its bytes, not its document: still the same entry.
    await writeFile(file, JSON.stringify(project, null, 4));
    expect((await loadProjectFile(file, { validatedCache: workspace })).name).toBe('from the entry');
  });

  it('an edited document is validated again into an entry of its own', async () => {
    const file = join(dir, 'project.json');
    const workspace = join(dir, 'ws');
    await writeFile(file, JSON.stringify(project));
    await loadProjectFile(file, { validatedCache: workspace });
    await writeFile(file, JSON.stringify({ ...project, name: 'Harbour at night' }));
    expect((await loadProjectFile(file, { validatedCache: workspace })).name).toBe('Harbour at night');
    expect(await entries(workspace)).toHaveLength(2);
  });

  it('an invalid project is never remembered: every load lists its problems', async () => {
    const file = join(dir, 'project.json');
    const workspace = join(dir, 'ws');
    await writeFile(file, JSON.stringify({ ...project, shots: [] }));
    for (let i = 0; i < 2; i++) {
      await expect(loadProjectFile(file, { validatedCache: workspace })).rejects.toBeInstanceOf(
        ValidationError,
      );
    }
    await expect(readdir(validatedProjectsFolder(workspace))).rejects.toThrow(/ENOENT/);
  });

  it('an unreadable entry is a miss: the file is validated again and the entry rewritten', async () => {
    const file = join(dir, 'project.json');
    const workspace = join(dir, 'ws');
    await writeFile(file, JSON.stringify(project));
    const first = await loadProjectFile(file, { validatedCache: workspace });
    const [entry] = await entries(workspace);
    await writeFile(join(validatedProjectsFolder(workspace), entry!), '{ cut sho');
    expect(await loadProjectFile(file, { validatedCache: workspace })).toEqual(first);
    expect(JSON.parse(await readFile(join(validatedProjectsFolder(workspace), entry!), 'utf8'))).toEqual(
      first,
    );
  });

  it('a workspace that cannot be written only means no entry: the project still loads', async () => {
    const file = join(dir, 'project.json');
    const blocker = join(dir, 'a-file');
    await writeFile(file, JSON.stringify(project));
    await writeFile(blocker, 'not a folder');
    expect((await loadProjectFile(file, { validatedCache: join(blocker, 'ws') })).id).toBe('harbour');
  });
});

describe('writeProjectFile', () => {
  it('writes pretty JSON that loads back to the same project, leaving no temp file', async () => {
    const file = join(dir, 'project.json');
    const written = await writeProjectFile(file, project);
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^\{\n {2}"schemaVersion": 1,\n/);
    expect(text.endsWith('}\n')).toBe(true);
    expect(await loadProjectFile(file)).toEqual(written);
    expect(await readdir(dir)).toEqual(['project.json']);
  });

  it('replaces an existing file whole', async () => {
    const file = join(dir, 'project.json');
    await writeFile(file, 'old content that is much longer than nothing '.repeat(100));
    await writeProjectFile(file, { ...project, name: 'Renamed' });
    expect((await loadProjectFile(file)).name).toBe('Renamed');
  });

  it('refuses an invalid project, writing nothing', async () => {
    const file = join(dir, 'project.json');
    const error = await caught(writeProjectFile(file, { ...project, shots: [] }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: '$.shots', message: 'a project needs at least one shot' },
    ]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a folder that does not exist is a StoreError naming the file, and leaves nothing behind', async () => {
    const file = join(dir, 'missing', 'project.json');
    const error = await caught(writeProjectFile(file, project));
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain(`cannot write project file ${file}: ENOENT`);
    await mkdir(join(dir, 'missing'));
    expect(await readdir(join(dir, 'missing'))).toEqual([]);
  });
});
