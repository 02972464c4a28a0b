import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { formatValidationIssues, issueMessages, toValidationIssues } from './issues.js';
import { parseJsonDocument } from './json-syntax.js';
import { projectSchema, type Project } from './schema.js';

// Lives with the JSON parser (no zod); re-exported here where callers have always found it.
export { parseJsonDocument };

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

/** Parses and validates a project file's text; `source` names the file in every message. */
export function parseProjectJson(text: string, source: string): Project {
  const result = validateProject(parseJsonDocument(text, source));
  if (result.ok) return result.project;
  throw new ValidationError(validationMessage(source, result.issues), result.issues, { details: { source } });
}
