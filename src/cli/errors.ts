import { CommanderError } from 'commander';
import {
  ErrorCode,
  ValidationError,
  errorMessage,
  formatValidationIssues,
  isCancellation,
  isStoryCoreError,
  rootCause,
} from '../core/errors.js';

/** Exit codes, as documented in the README. */
export const ExitCode = { OK: 0, FAILED: 1, INVALID_INPUT: 2, CANCELLED: 130, TERMINATED: 143 } as const;

/** Maps a failure to its exit code and prints it for a person: the message, the issues, never a stack trace. */
export function reportError(error: unknown, err: (line: string) => void): number {
  if (error instanceof CommanderError) {
    // Help and version are successes; everything else commander rejects is a usage error.
    return error.exitCode === 0 ? ExitCode.OK : ExitCode.INVALID_INPUT;
  }
  if (isCancellation(error)) return ExitCode.CANCELLED;
  if (error instanceof ValidationError) {
    const headline = error.message.split('\n')[0] ?? '';
    err(`✖ ${headline}`);
    // A lone issue the headline already states (e.g. a JSON syntax error) is not printed twice.
    const repeated = error.issues.length === 1 && headline.includes(error.issues[0]!.message);
    if (error.issues.length > 0 && !repeated) err(formatValidationIssues(error.issues));
    return ExitCode.INVALID_INPUT;
  }
  if (isStoryCoreError(error) && error.code === ErrorCode.NOT_FOUND) {
    err(`✖ ${error.message}`);
    return ExitCode.INVALID_INPUT;
  }
  const root = rootCause(error);
  const message = errorMessage(error);
  const rootMessage = errorMessage(root);
  err(`✖ ${message}${root !== error && !message.includes(rootMessage) ? ` (cause: ${rootMessage})` : ''}`);
  if (process.env['STORYCORE_DEBUG'] && error instanceof Error) err(error.stack ?? '');
  return ExitCode.FAILED;
}
