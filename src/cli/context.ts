import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import type { SequenceGenerationService } from '../pipeline/sequence-generation-service.js';
import { openService } from './engine.js';
import { ExitCode } from './errors.js';
import { escapeTerminalText } from './terminal-text.js';

/** The options every command sees (declared on the program itself). */
export interface GlobalOptions {
  workspace: string;
  json?: boolean;
}

/**
 * What the commands share: where output goes, which format to print, the service they drive, and the exit code
 * a command sets when it finishes without throwing (generate and resume report failures that way).
 */
export interface CliContext {
  /** Raw text to stdout (JSON lines, help); silently dropped once the reader has gone away. */
  write(text: string): void;
  /** A line to stdout, control characters shown escaped (same EPIPE rule as `write`). */
  out(line: string): void;
  /** A line to stderr, control characters shown escaped. */
  err(line: string): void;
  readonly stderr: NodeJS.WriteStream;
  /** One-shot commands (validate, runs, status) print text people grep unless --json asks for JSON. */
  jsonMode(opts: GlobalOptions): boolean;
  /** Progress is for a person at a terminal; a pipe gets machine-readable events. */
  streamJson(opts: GlobalOptions): boolean;
  /** A service over the workspace; `out` (run commands only) is where exports go. The caller closes it. */
  service(opts: GlobalOptions & { out?: string }): Promise<SequenceGenerationService>;
  exitCode: number;
}

/** Streams whose reader has gone away (EPIPE): nothing more is written to them, and the process ends quietly. */
const closedStreams = new WeakSet<NodeJS.WritableStream>();
const guardedStreams = new WeakSet<NodeJS.WritableStream>();

/**
 * A reader that goes away (`storycore runs | head -1`) is a normal end for a CLI, not an error. The EPIPE arrives
 * as an 'error' event, often after the command has returned, so the guard is installed once per stream for the
 * life of the process (a listener removed at the end of the command let late EPIPEs crash with a stack trace).
 */
function guardClosedPipe(stream: NodeJS.WritableStream): void {
  if (guardedStreams.has(stream)) return;
  guardedStreams.add(stream);
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') closedStreams.add(stream);
    else throw error;
  });
}

/** Builds the context over the given streams. */
export function openContext(io: {
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}): CliContext & { close(): void } {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  // Stop writing once the reader has gone, and let the command finish (a generation keeps its results).
  guardClosedPipe(stdout);
  guardClosedPipe(stderr);
  const write = (text: string): void => {
    if (!closedStreams.has(stdout)) stdout.write(text);
  };
  return {
    write,
    out: (line) => write(`${escapeTerminalText(line)}\n`),
    err: (line) => {
      if (!closedStreams.has(stderr)) stderr.write(`${escapeTerminalText(line)}\n`);
    },
    stderr,
    jsonMode: (opts) => opts.json === true,
    streamJson: (opts) => opts.json === true || !stdout.isTTY,
    service: (opts) =>
      openService({
        workspace: opts.workspace,
        ...(opts.out !== undefined ? { outDir: opts.out } : {}),
        onWarning: (message) => void stderr.write(`warning: ${message}\n`),
      }),
    exitCode: ExitCode.OK,
    // Nothing to detach: the closed-pipe guard stays for the process's life on purpose (see guardClosedPipe).
    close: () => undefined,
  };
}

/** Option parser for counts; commander reports the thrown message as a usage error (exit 2). */
export function intAtLeast(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return n;
  };
}

/** The installed package's root (from dist/cli/ or src/cli/ alike): package.json and examples/ live there. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Option parser for paths: an empty one (`--workspace=`) would silently mean the current folder. */
export function nonEmptyPath(name: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`${name} must not be empty`);
    return value;
  };
}
