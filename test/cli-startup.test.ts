import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findFfmpeg } from '../src/stages/animatic/ffmpeg.js';
import { REPO_ROOT, tempDir, testProject, writeTestProject } from './helpers/cli.js';

/**
 * Issue 7, start-up: a command loads only what it uses. `--version` and `--help` must not pay for sharp, zod,
 * better-sqlite3 or the pipeline, and an unchanged rerun must not load sharp (it touches no pixel), zod (the
 * workspace remembers the validated project) or the ffmpeg package, nor run ffmpeg (the lookup is remembered). Checked by the
 * modules the process resolves (a module hook writes each URL to a file), not by a clock: the figures are in
 * `npm run bench startup`.
 */

const run = promisify(execFile);
const RECORDER = join(REPO_ROOT, 'test', 'helpers', 'record-imports.mjs');
const MAIN = join(REPO_ROOT, 'src', 'cli', 'main.ts');
// The CLI from source (through tsx), so this checks the code as it is now, never a stale dist/.
const ENTRY = `const { main } = await import(${JSON.stringify(MAIN)});
process.exitCode = await main(['node', 'storycore', ...process.argv.slice(1)]);`;

let tmp: { path: string; remove: () => Promise<void> };
let runs = 0;
beforeEach(async () => {
  tmp = await tempDir('cli-startup');
});
afterEach(async () => {
  await tmp.remove();
});

/** Runs `storycore <args>` and returns the modules it resolved: package names, and repo files as `src/...`. */
async function modulesLoadedBy(
  args: string[],
  entry = ENTRY,
  env: Record<string, string> = {},
): Promise<{ packages: Set<string>; files: Set<string> }> {
  const log = join(tmp.path, `imports-${++runs}.log`);
  await run(
    process.execPath,
    ['--import', 'tsx', '--import', RECORDER, '--input-type=module', '-e', entry, '--', ...args],
    { cwd: REPO_ROOT, env: { ...process.env, ...env, STORYCORE_IMPORT_LOG: log }, timeout: 60_000 },
  );
  const packages = new Set<string>();
  const files = new Set<string>();
  for (const url of (await readFile(log, 'utf8')).split('\n')) {
    if (!url.startsWith('file:')) continue;
    const path = fileURLToPath(url);
    const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (inPackage) packages.add(inPackage[1]!);
    else files.add(relative(REPO_ROOT, path));
  }
  return { packages, files };
}

// pg loads only for a PostgreSQL store or queue, the S3 SDK only for an s3:// artifact store, bullmq and ioredis
// only for a queue.
const HEAVY = [
  'sharp',
  'zod',
  'better-sqlite3',
  'yazl',
  'cli-progress',
  'pg',
  '@aws-sdk/client-s3',
  'bullmq',
  'ioredis',
];

describe('storycore start-up loads only what a command uses', () => {
  it.each([['--version'], ['--help']])(
    '`storycore %s` loads commander and none of sharp, zod, better-sqlite3, yazl, cli-progress, pg, the S3 SDK, bullmq, ioredis or the pipeline',
    async (flag) => {
      const { packages, files } = await modulesLoadedBy([flag]);
      // The recorder saw the CLI itself, so an empty log cannot pass for a light one.
      expect(packages).toContain('commander');
      expect(files).toContain('src/cli/main.ts');
      expect(HEAVY.filter((p) => packages.has(p))).toEqual([]);
      expect([...files].filter((f) => /^src\/(pipeline|store|stages|backends|project)\//.test(f))).toEqual(
        [],
      );
    },
  );

  it('`storycore validate` loads zod to check the project, and neither sharp nor better-sqlite3', async () => {
    const project = await writeTestProject(tmp.path, testProject({ shots: 2, width: 128, height: 72 }));
    const { packages } = await modulesLoadedBy(['validate', project]);
    expect(packages).toContain('zod');
    expect(packages).not.toContain('sharp');
    expect(packages).not.toContain('better-sqlite3');
  });

  it('importing the library names PostgresRunStore without loading the PostgreSQL driver', async () => {
    const index = join(REPO_ROOT, 'src', 'index.ts');
    const { packages, files } = await modulesLoadedBy(
      [],
      `const lib = await import(${JSON.stringify(index)}); if (typeof lib.PostgresRunStore.open !== 'function') process.exit(1);`,
    );
    expect(files).toContain('src/store/postgres/postgres-run-store.ts');
    expect(packages).not.toContain('pg');
  });

  it('importing the library names runOnQueue and runWorker without loading bullmq, ioredis or pg', async () => {
    const index = join(REPO_ROOT, 'src', 'index.ts');
    const { packages, files } = await modulesLoadedBy(
      [],
      `const lib = await import(${JSON.stringify(index)}); if (typeof lib.runOnQueue !== 'function' || typeof lib.runWorker !== 'function') process.exit(1);`,
    );
    expect(files).toContain('src/distributed/coordinator.ts');
    expect(files).not.toContain('src/distributed/worker.ts');
    expect(['bullmq', 'ioredis', 'pg'].filter((p) => packages.has(p))).toEqual([]);
  });

  it('an unchanged rerun loads neither sharp nor zod nor the ffmpeg package, and runs no ffmpeg (the first run did all four)', async () => {
    const project = await writeTestProject(tmp.path, testProject({ shots: 2, width: 128, height: 72 }));
    // FFMPEG_PATH comes first in the lookup: a wrapper that notes every call, then runs the real binary.
    const calls = join(tmp.path, 'ffmpeg-calls.log');
    const wrapper = join(tmp.path, 'ffmpeg');
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >> '${calls}'\nexec '${await realFfmpeg()}' "$@"\n`);
    await chmod(wrapper, 0o755);
    const env = { FFMPEG_PATH: wrapper };
    const args = ['generate', project, '-w', join(tmp.path, 'ws'), '-o', join(tmp.path, 'out'), '--json'];
    const first = await modulesLoadedBy(args, ENTRY, env);
    expect(['sharp', 'zod'].filter((p) => !first.packages.has(p))).toEqual([]);
    expect(first.packages).not.toContain('pg');
    // An embedded run keeps its artifacts in a folder: the S3 SDK stays unloaded.
    expect(first.packages).not.toContain('@aws-sdk/client-s3');
    const firstCalls = (await readFile(calls, 'utf8')).split('\n').filter(Boolean);
    expect(firstCalls.some((c) => c.includes('-version'))).toBe(true);

    const rerun = await modulesLoadedBy(args, ENTRY, env);
    expect(rerun.packages).toContain('better-sqlite3');
    expect(['sharp', 'zod', '@ffmpeg-installer/ffmpeg'].filter((p) => rerun.packages.has(p))).toEqual([]);
    expect((await readFile(calls, 'utf8')).split('\n').filter(Boolean)).toEqual(firstCalls);

    // Editing the project validates it again (zod loads), reusing what is unchanged.
    await writeTestProject(tmp.path, {
      ...testProject({ shots: 2, width: 128, height: 72 }),
      name: 'CLI test storyboard, renamed',
    });
    expect((await modulesLoadedBy(args, ENTRY, env)).packages).toContain('zod');
  });
});

/** The ffmpeg the lookup would find without FFMPEG_PATH (the npm package's, else PATH's). */
async function realFfmpeg(): Promise<string> {
  const found = await findFfmpeg({ PATH: process.env['PATH'] ?? '' });
  if ('missing' in found) throw new Error(`this test needs an ffmpeg: ${found.missing}`);
  return found.path;
}
