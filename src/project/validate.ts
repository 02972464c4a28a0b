import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { formatValidationIssues, issueMessages, toValidationIssues } from './issues.js';
import { excerptAt, parseJsonText } from './json-syntax.js';
import { projectSchema, type Project } from './schema.js';

export type ValidateProjectResult = { ok: true; project: Project } | { ok: false; issues: ValidationIssue[] };

/**
 * Checks any value against the project contract and lists every problem, each with its JSON path.
 * Never throws for bad input: whatever JSON can hold gives either a project or a list of issues.
 */
export function validateProject(doc: unknown): ValidateProjectResult {
  const result = projectSchema.safeParse(doc, { error: issueMessages });
  if (result.success) return { ok: true, project: result.data };
  return { ok: false, issues: toValidationIssues(result.error.issues, projectSchema) };
}

/** `source` has N problems: and the list; the one message a CLI prints. */
export function validationMessage(source: string, issues: readonly ValidationIssue[]): string {
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return `${source} is not a valid StoryCore project (${count}):\n${formatValidationIssues(issues)}`;
}

/**
 * Parses JSON text as a document, throwing ValidationError with line, column and the offending line when it
 * is not JSON. A leading byte-order mark (Windows editors write one) is ignored.
 */
export function parseJsonDocument(text: string, source: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const parsed = parseJsonText(body);
  if (parsed.ok) return parsed.value;
  const { line, column, offset, reason } = parsed.problem;
  const issue: ValidationIssue = {
    path: '$',
    message: `invalid JSON at line ${line}, column ${column}: ${reason}`,
  };
  throw new ValidationError(`${source}: ${issue.message}\n${excerptAt(body, line, column)}`, [issue], {
    details: { source, line, column, offset },
  });
}

/** Parses and validates a project file's text; `source` names the file in every message. */
export function parseProjectJson(text: string, source: string): Project {
  const result = validateProject(parseJsonDocument(text, source));
  if (result.ok) return result.project;
  throw new ValidationError(validationMessage(source, result.issues), result.issues, { details: { source } });
}
