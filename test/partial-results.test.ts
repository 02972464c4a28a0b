import fc from 'fast-check';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BackendUnreachableError,
  FilePartialResultsStorage,
  GenerationErrorHandler,
  LocalStoragePartialResultsStorage,
  MemoryPartialResultsStorage,
  PartialResultsStore,
  StoreError,
  ValidationError,
  createGenerationError,
  defaultPartialResultsStorage,
} from '../src/core/index.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'storycore-partial-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The Web Storage contract over a Map, standing in for the browser's localStorage (absent in Node 20). */
class WebStorage {
  readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, String(value));
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

describe('file-backed partial results', () => {
  it('round-trips a record through a JSON file named after the project', () => {
    const store = new PartialResultsStore(new FilePartialResultsStorage(dir), () => 1234);
    const saved = store.save(
      'lighthouse',
      ['grid', 'comfyui'],
      [{ shotId: 'shot-1', file: 'shot-1.png', seed: 42 }],
      'sheet.png',
    );
    expect(saved).toEqual({
      projectId: 'lighthouse',
      completedStages: ['grid', 'comfyui'],
      generatedShots: [{ shotId: 'shot-1', file: 'shot-1.png', seed: 42 }],
      masterCoherenceSheetUrl: 'sheet.png',
      savedAt: 1234,
    });
    expect(readdirSync(dir)).toEqual(['lighthouse.json']);
    expect(JSON.parse(readFileSync(join(dir, 'lighthouse.json'), 'utf8'))).toEqual(saved);
    expect(store.load('lighthouse')).toEqual(saved);
    store.clear('lighthouse');
    expect(existsSync(join(dir, 'lighthouse.json'))).toBe(false);
    expect(store.load('lighthouse')).toBeNull();
  });

  it('writes atomically, leaving no temp files behind', () => {
    const store = new PartialResultsStore(new FilePartialResultsStorage(dir));
    for (let i = 0; i < 20; i++) store.save('p', ['grid'], [{ shotId: `s${i}` }]);
    expect(readdirSync(dir)).toEqual(['p.json']);
    expect(store.load('p')?.generatedShots).toHaveLength(20);
  });

  it.each([
    '../evil',
    '..',
    '.',
    'a/b',
    '..\\..\\win',
    '/etc/passwd',
    'C:\\x',
    'nul\u0000byte',
    'Project',
    'ünïcødé',
  ])('project id %j stays inside the folder', (id) => {
    const storage = new FilePartialResultsStorage(dir);
    const file = storage.pathFor(id);
    expect(dirname(file)).toBe(dir);
    expect(basename(file)).not.toMatch(/^\.\.?$/);
    const store = new PartialResultsStore(storage);
    store.save(id, ['grid'], []);
    expect(readdirSync(dir)).toEqual([basename(file)]);
    expect(store.load(id)?.projectId).toBe(id);
  });

  it('maps distinct ids to distinct files, also where case-insensitive file systems would fold them', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 300 }), { minLength: 2, maxLength: 20 }),
        (ids) => {
          const storage = new FilePartialResultsStorage(dir);
          const names = ids.map((id) => basename(storage.pathFor(id)));
          for (const id of ids) expect(dirname(storage.pathFor(id))).toBe(dir);
          expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(ids.length);
          for (const n of names) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(255);
        },
      ),
    );
  });

  it('refuses an empty project id', () => {
    const store = new PartialResultsStore(new FilePartialResultsStorage(dir));
    expect(() => store.save('', ['grid'], [])).toThrow(ValidationError);
  });

  it('reports an unreadable record as a StoreError naming the project, and a new save replaces it', () => {
    writeFileSync(join(dir, 'broken.json'), '{ not json');
    const store = new PartialResultsStore(new FilePartialResultsStorage(dir));
    expect(() => store.load('broken')).toThrow(StoreError);
    expect(() => store.load('broken')).toThrow(/Partial results for project "broken" are not valid JSON/);
    store.save('broken', ['grid'], []);
    expect(store.load('broken')?.completedStages).toEqual(['grid']);
  });

  it('rejects a record of another shape', () => {
    writeFileSync(join(dir, 'odd.json'), JSON.stringify({ projectId: 'odd', completedStages: 'grid' }));
    const store = new PartialResultsStore(new FilePartialResultsStorage(dir));
    expect(() => store.load('odd')).toThrow(
      'Partial results for project "odd" do not have the expected shape',
    );
  });
});

describe('a failure never erases saved recovery data', () => {
  it('a later save with fewer stages and shots merges instead of replacing', () => {
    let t = 100;
    const store = new PartialResultsStore(new FilePartialResultsStorage(dir), () => t++);
    store.save(
      'p',
      ['grid', 'comfyui'],
      [
        { shotId: 's1', file: 'a.png' },
        { shotId: 's2', file: 'b.png' },
      ],
      'sheet.png',
    );
    const failure = createGenerationError(new BackendUnreachableError('ComfyUI at 127.0.0.1:8188 refused'), {
      stage: 'promotion',
      shotId: 's2',
      attemptNumber: 3,
    });
    const after = store.save('p', [], [], undefined, failure);
    expect(after).toEqual({
      projectId: 'p',
      completedStages: ['grid', 'comfyui'],
      generatedShots: [
        { shotId: 's1', file: 'a.png' },
        { shotId: 's2', file: 'b.png' },
      ],
      masterCoherenceSheetUrl: 'sheet.png',
      lastError: {
        message: 'ComfyUI at 127.0.0.1:8188 refused',
        code: 'backend-unreachable',
        name: 'Error',
        stage: 'promotion',
        shotId: 's2',
      },
      savedAt: 101,
    });
    expect(store.load('p')).toEqual(after);
  });

  it('newer shot fields win, stages keep pipeline order, an Error becomes JSON-safe facts', () => {
    const store = new PartialResultsStore(new MemoryPartialResultsStorage());
    store.save('p', ['comfyui'], [{ shotId: 's1', file: 'old.png', seed: 1 }]);
    const merged = store.save(
      'p',
      ['qa', 'grid'],
      [{ shotId: 's1', file: 'new.png' }, { shotId: 's3' }],
      'sheet-2.png',
      new Error('boom'),
    );
    expect(merged.completedStages).toEqual(['grid', 'comfyui', 'qa']);
    expect(merged.generatedShots).toEqual([{ shotId: 's1', file: 'new.png', seed: 1 }, { shotId: 's3' }]);
    expect(merged.masterCoherenceSheetUrl).toBe('sheet-2.png');
    expect(merged.lastError).toEqual({ message: 'boom', code: 'internal', name: 'Error' });
  });

  it('the handler keeps a crash-time save from wiping an earlier, richer one', () => {
    const handler = new GenerationErrorHandler({ storage: new FilePartialResultsStorage(dir) });
    handler.savePartialResults('p', ['grid'], [{ shotId: 's1' }], 'sheet.png');
    handler.savePartialResults('p', [], [], undefined, new Error('socket hang up'));
    const loaded = handler.loadPartialResults('p');
    expect(loaded?.completedStages).toEqual(['grid']);
    expect(loaded?.generatedShots).toEqual([{ shotId: 's1' }]);
    expect(loaded?.masterCoherenceSheetUrl).toBe('sheet.png');
    expect(loaded?.lastError?.message).toBe('socket hang up');
  });
});

describe('storage choice', () => {
  it('the localStorage adapter namespaces its keys', () => {
    const web = new WebStorage();
    const store = new PartialResultsStore(new LocalStoragePartialResultsStorage(web));
    store.save('p1', ['grid'], []);
    expect([...web.map.keys()]).toEqual(['storycore:partial-results:p1']);
    expect(store.load('p1')?.completedStages).toEqual(['grid']);
    store.clear('p1');
    expect(web.map.size).toBe(0);
  });

  it("uses globalThis.localStorage when there is one, else the workspace's partial-results folder", () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const files = defaultPartialResultsStorage();
      expect(files).toBeInstanceOf(FilePartialResultsStorage);
      // The default service's workspace, in the working directory: the folder getPartialResults reads.
      expect((files as FilePartialResultsStorage).dir).toBe(
        join(realpathSync(dir), '.storycore', 'partial-results'),
      );
      const other = defaultPartialResultsStorage(join(dir, 'ws'));
      expect((other as FilePartialResultsStorage).dir).toBe(join(dir, 'ws', 'partial-results'));
      (globalThis as { localStorage?: unknown }).localStorage = new WebStorage();
      expect(defaultPartialResultsStorage()).toBeInstanceOf(LocalStoragePartialResultsStorage);
    } finally {
      delete (globalThis as { localStorage?: unknown }).localStorage;
      process.chdir(cwd);
    }
  });

  it('the in-memory storage keeps records for the life of the process', () => {
    const storage = new MemoryPartialResultsStorage();
    new PartialResultsStore(storage).save('p', ['grid'], []);
    expect(new PartialResultsStore(storage).load('p')?.completedStages).toEqual(['grid']);
  });
});
