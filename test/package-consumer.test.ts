import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from './helpers/cli.js';
import { unexportedPublicTypes } from './helpers/public-types.js';

/**
 * A library user's first day, for real: `npm pack`, the tarball unpacked into a fresh project's node_modules, the
 * package's runtime dependencies linked from this checkout (no network: what `npm install` would fetch), then a
 * strict TypeScript file — no skipLibCheck, no DOM lib, no @types/better-sqlite3 — compiled against the public
 * declarations and run, plus `require('storycore')` from CommonJS.
 */

const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
let consumer = '';
let cleanup: () => Promise<void> = async () => {};
let packed: string[] = [];

function run(command: string, args: string[], cwd: string): { code: number | null; out: string } {
  const child = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: child.status, out: `${child.stdout}${child.stderr}` };
}

beforeAll(async () => {
  const dir = await tempDir('consumer');
  cleanup = dir.remove;
  consumer = dir.path;
  // --ignore-scripts: dist/ is already fresh (test/global-setup.ts rebuilds it when src/ changed).
  const json = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', consumer], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  const [info] = JSON.parse(json) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = info!.files.map((f) => f.path);
  const modules = join(consumer, 'node_modules');
  mkdirSync(modules, { recursive: true });
  execFileSync('tar', ['-xzf', join(consumer, info!.filename), '-C', modules]);
  renameSync(join(modules, 'package'), join(modules, 'storycore'));
  const manifest = JSON.parse(readFileSync(join(modules, 'storycore', 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  // What `npm install storycore` brings: its dependencies (here from this checkout), plus the consumer's own
  // @types/node. Nothing else — in particular none of storycore's devDependencies.
  for (const dep of [...Object.keys(manifest.dependencies), '@types/node']) {
    const link = join(modules, dep);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules', dep), link, 'dir');
  }
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        types: ['node'],
        outDir: 'out',
      },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(join(consumer, 'consumer.ts'), CONSUMER_SOURCE);
}, 120_000);

afterAll(async () => {
  await cleanup();
});

describe('the packed package', () => {
  it('ships a LICENSE, the declarations, and the sources its source maps point at', () => {
    expect(packed).toContain('LICENSE');
    expect(readFileSync(join(consumer, 'node_modules', 'storycore', 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} StoryCore contributors/,
    );
    expect(packed).toContain('dist/index.d.ts');
    const maps = packed.filter((p) => p.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    const unresolved: string[] = [];
    for (const map of maps) {
      const file = join(consumer, 'node_modules', 'storycore', map);
      const { sources } = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[] };
      for (const source of sources)
        if (!existsSync(resolve(dirname(file), source))) unresolved.push(`${map} → ${source}`);
    }
    expect(unresolved).toEqual([]);
    expect(packed.filter((p) => p.startsWith('test/'))).toEqual([]);
  });

  it('names every type used in a public signature', () => {
    expect(unexportedPublicTypes(join(consumer, 'node_modules', 'storycore', 'dist', 'index.d.ts'))).toEqual(
      [],
    );
  });

  it('compiles a strict consumer without skipLibCheck, and runs it: a custom backend through the whole pipeline', () => {
    const compiled = run(process.execPath, [TSC, '-p', 'tsconfig.json'], consumer);
    expect(compiled.out).toBe('');
    expect(compiled.code).toBe(0);
    const ran = run(process.execPath, [join('out', 'consumer.js')], consumer);
    expect(ran.code, ran.out).toBe(0);
    const report = JSON.parse(ran.out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(report).toEqual({
      success: true,
      shots: 2,
      backendCalls: 11,
      exportExists: true,
      badBytes: 'BackendFailedError',
      overallScoreIsNumber: true,
    });
  }, 120_000);

  it("works with require('storycore') from CommonJS", () => {
    writeFileSync(
      join(consumer, 'require.cjs'),
      "const sc = require('storycore');\n" +
        'console.log(typeof sc.SequenceGenerationService, typeof sc.rasterFromImage, sc.SCHEMA_VERSION);\n',
    );
    const ran = run(process.execPath, ['require.cjs'], consumer);
    expect(ran.code, ran.out).toBe(0);
    expect(ran.out.trim().split('\n').at(-1)).toMatch(/^function function \d+$/);
  });

  it('lists no file of this checkout outside bin, dist, src, examples and the package basics', () => {
    const tops = [...new Set(packed.map((p) => p.split('/')[0]))].sort();
    expect(tops).toEqual(['LICENSE', 'README.md', 'bin', 'dist', 'examples', 'package.json', 'src']);
    expect(readdirSync(join(consumer, 'node_modules', 'storycore', 'src')).length).toBeGreaterThan(0);
  });
});

/** The consumer: typed with the package's own exports only (Raster, GenerationRequest, ImageBackend…). */
const CONSUMER_SOURCE = `
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import {
  SequenceGenerationService,
  createDraftBackend,
  rasterFromImage,
  withRetry,
  isStoryCoreError,
  QaIssue,
  type GeneratedImage,
  type GenerateOptions,
  type GenerationPurpose,
  type GenerationRequest,
  type ImageBackend,
  type PartialShotRecord,
  type ProjectInput,
  type QaReport,
  type Raster,
  type ReferenceImage,
  type WithRetryOptions,
} from 'storycore';

/** What a GPU server would send: PNG bytes (8-bit RGB, no filtering), encoded here with node:zlib alone. */
function toPng(raster: Raster): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(raster.width, 0);
  header.writeUInt32BE(raster.height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const stride = raster.width * 3;
  const rows = Buffer.alloc((stride + 1) * raster.height);
  for (let y = 0; y < raster.height; y++) raster.data.copy(rows, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A custom backend: asks "the server" (the draft renderer standing in) and decodes the PNG it answers. */
class MyBackend implements ImageBackend {
  readonly name = 'my-backend';
  readonly version = '1.0.0';
  readonly capacity = 2;
  readonly canRegenerate = false;
  calls = 0;
  private readonly server = createDraftBackend();
  async generate(request: GenerationRequest, options?: GenerateOptions): Promise<GeneratedImage> {
    this.calls++;
    const purpose: GenerationPurpose = request.purpose;
    const reference: ReferenceImage | undefined = request.reference;
    const drawn = await this.server.generate(request, options?.signal ? { signal: options.signal } : {});
    const raster: Raster = await rasterFromImage(toPng(drawn.raster));
    return {
      raster,
      metadata: { backend: this.name, draft: true, seed: request.seed, purpose, hasReference: !!reference },
    };
  }
}

const root = mkdtempSync(join(tmpdir(), 'consumer-run-'));
const backend = new MyBackend();
const service = new SequenceGenerationService(backend, { workspace: join(root, 'ws'), outDir: join(root, 'out') });
const project: ProjectInput = {
  schemaVersion: 1,
  id: 'consumer',
  name: 'A consumer project',
  style: { prompt: 'ink and wash storyboard, muted blue palette' },
  output: { width: 320, height: 180 },
  shots: [
    { id: 'one', prompt: 'A fishing boat leaves the harbour at dawn' },
    { id: 'two', prompt: 'The boat rounds the lighthouse in a rising swell' },
  ],
};
const retryOptions: WithRetryOptions = { onRetry: () => undefined };
void retryOptions;
void withRetry;
const record: PartialShotRecord = { shotId: 'one' };
void record;
const results = await service.generateSequence(project, { retryAttempts: 1 });
service.close();
const report: QaReport | undefined = results?.qaReport;
const issues: QaIssue[] = report?.shotScores.flatMap((s) => s.issues) ?? [];
void issues;
let badBytes = 'accepted';
try {
  await rasterFromImage(Buffer.from('<html>502 Bad Gateway</html>'));
} catch (error) {
  badBytes = isStoryCoreError(error) ? error.name : 'other';
}
console.log(
  JSON.stringify({
    success: results?.success ?? false,
    shots: results?.generatedShots.length ?? 0,
    backendCalls: backend.calls,
    exportExists: !!results?.exportDir && existsSync(results.exportDir),
    badBytes,
    overallScoreIsNumber: typeof report?.overallScore === 'number',
  }),
);
`;
