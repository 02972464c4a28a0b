import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import type { SequenceGenerationService } from '../pipeline/sequence-generation-service.js';
import { openService } from './engine.js';
import { ExitCode } from './errors.js';

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
  /** Raw text to stdout; silently dropped once the reader has gone away. */
  write(text: string): void;
  /** A line to stdout (same EPIPE rule as `write`). */
  out(line: string): void;
  /** A line to stderr. */
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

/** Builds the context over the given streams; `close` detaches from stdout once the command is over. */
export function openContext(io: {
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}): CliContext & { close(): void } {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  // A reader that goes away (`storycore runs | head -1`) is not an error: stop writing, let the command finish
  // (a generation keeps its results), instead of dying on an unhandled EPIPE with a stack trace.
  let stdoutGone = false;
  const onStdoutError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') stdoutGone = true;
    else throw error;
  };
  stdout.on('error', onStdoutError);
  const write = (text: string): void => {
    if (!stdoutGone) stdout.write(text);
  };
  return {
    write,
    out: (line) => write(`${line}\n`),
    err: (line) => void stderr.write(`${line}\n`),
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
    close: () => void stdout.off('error', onStdoutError),
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
