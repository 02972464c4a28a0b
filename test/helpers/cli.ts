import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/**
 * Spawning the real `storycore` executable (bin/storycore.js → dist/cli/main.js), as a user or CI would. The CLI
 * runs from the compiled dist/; vitest's global setup (test/global-setup.ts) rebuilds it when src/ changed since.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_BIN = join(REPO_ROOT, 'bin', 'storycore.js');
export const COMPILED_MAIN = join(REPO_ROOT, 'dist', 'cli', 'main.js');

/** When anything under src/ last changed (ms since the epoch): a dist/ older than this is stale. */
export function newestSourceChange(dir = join(REPO_ROOT, 'src')): number {
  let newest = statSync(dir).mtimeMs; // a deleted file changes its folder's mtime
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Fails with an actionable message when the CLI was never compiled, or compiled before the last change to src/. */
export function assertCliBuilt(): void {
  if (!existsSync(COMPILED_MAIN)) {
    throw new Error(`${COMPILED_MAIN} is missing: run \`npm run build\` before the CLI tests`);
  }
  if (statSync(COMPILED_MAIN).mtimeMs < newestSourceChange()) {
    throw new Error(
      `${COMPILED_MAIN} is older than src/: run \`npm run build\` (the tests would check stale code)`,
    );
  }
}

export interface CliResult {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface CliOptions {
  cwd?: string;
  /** Kill -9 the child when it runs longer than this. @default 60000 */
  timeoutMs?: number;
}

/** The child's environment: no colour codes, no debug stacks, whatever the developer's shell has set. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env['STORYCORE_DEBUG'];
  return env;
}

/** Runs `storycore <args>` to completion with stdout and stderr piped (so stdout is not a TTY). */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const cli = startCli(args, options);
  const exit = await cli.exited;
  return { ...exit, stdout: cli.stdout(), stderr: cli.stderr() };
}

export interface RunningCli {
  child: ChildProcessByStdio<null, Readable, Readable>;
  startedAt: number;
  /** stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Complete stdout lines so far, in order. */
  lines(): string[];
  /** For each complete line, when it arrived: ms since the spawn. */
  lineTimes(): number[];
  /** Resolves with the first complete stdout line (already received or future) that satisfies `match`. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<Omit<CliResult, 'stdout' | 'stderr'>>;
}

/** Starts `storycore <args>` and returns at once, for tests that signal or kill it mid-run. */
export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  const startedAt = performance.now();
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errText = '';
  const complete: string[] = [];
  const arrivals: number[] = [];
  let partial = '';
  const waiters = new Set<{ match: (line: string) => boolean; resolve: (line: string) => void }>();
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      complete.push(line);
      arrivals.push(performance.now() - startedAt);
      for (const w of waiters) {
        if (w.match(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr.on('data', (chunk: string) => {
    errText += chunk;
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<Omit<CliResult, 'stdout' | 'stderr'>>((resolveExit, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': by then every byte the child wrote has been read.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolveExit({ code, signal, durationMs: performance.now() - startedAt });
    });
  });
  return {
    child,
    startedAt,
    stdout: () => out,
    stderr: () => errText,
    lines: () => [...complete],
    lineTimes: () => [...arrivals],
    waitForLine(match, waitMs = timeoutMs) {
      const seen = complete.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolveLine, reject) => {
        const waiter = {
          match,
          resolve: (line: string) => {
            clearTimeout(t);
            resolveLine(line);
          },
        };
        const t = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no stdout line matched within ${waitMs} ms; stderr:\n${errText}`));
        }, waitMs);
        waiters.add(waiter);
        void exited.then(() => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(t);
          reject(new Error(`the CLI exited before a matching line; stderr:\n${errText}`));
        });
      });
    },
    exited,
  };
}

/** One parsed JSON line of the CLI's piped output (pipeline events, notes, the final result). */
export interface CliJsonLine {
  type: string;
  [key: string]: unknown;
}

/** Parses every non-empty stdout line as JSON; throws naming the line that is not JSON. */
export function parseJsonLines(stdout: string): CliJsonLine[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as CliJsonLine;
      } catch (error) {
        throw new Error(`stdout line ${i + 1} is not JSON: ${line}`, { cause: error });
      }
    });
}

/** True for a line that is a JSON object of the given event type (cheap enough to run on every line). */
export function isEvent(line: string, type: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    return (JSON.parse(line) as { type?: unknown }).type === type;
  } catch {
    return false;
  }
}

export interface TestProjectOptions {
  id?: string;
  shots: number;
  width: number;
  height: number;
  /** @default 1234 */
  globalSeed?: number;
}

/** A valid v1 project with `shots` shots; varied cameras so the draft renderer draws varied frames. */
export function testProject(options: TestProjectOptions): Record<string, unknown> {
  const cameras = ['wide establishing shot', 'medium shot, eye level', 'close-up, shallow depth of field'];
  const moods = ['calm', 'tense', 'hopeful'];
  return {
    schemaVersion: 1,
    id: options.id ?? 'cli-test',
    name: 'CLI test storyboard',
    globalSeed: options.globalSeed ?? 1234,
    style: {
      prompt: 'moody cinematic illustration, deep teal and amber palette, volumetric light',
      negativePrompt: 'text, watermark',
    },
    output: { width: options.width, height: options.height },
    shots: Array.from({ length: options.shots }, (_, i) => ({
      id: `shot-${String(i + 1).padStart(2, '0')}`,
      prompt: `A harbour at night, lanterns on the fishing boats, scene ${i + 1} of the storm`,
      camera: cameras[i % cameras.length],
      mood: moods[i % moods.length],
    })),
  };
}

/** Writes `project` as `<dir>/project.json` and returns that path. */
export async function writeTestProject(dir: string, project: unknown): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'project.json');
  await writeFile(file, `${JSON.stringify(project, null, 2)}\n`);
  return file;
}

/** A fresh temp folder and its removal. */
export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `storycore-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
