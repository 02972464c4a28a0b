import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { issueMessages, toValidationIssues } from './issues.js';
import type { Project, ProjectInput } from './schema.js';
import { validateProject, validationMessage } from './validate.js';

/** What every importer does with its sources and its result, once. */

/** Checks one source document against its schema; its problems join `issues`, prefixed with the file's name. */
export function checkDocument<T extends z.ZodType>(
  schema: T,
  doc: unknown,
  file: string,
  issues: ValidationIssue[],
): z.output<T> | undefined {
  const result = schema.safeParse(doc, { error: issueMessages });
  if (result.success) return result.data;
  for (const issue of toValidationIssues(result.error.issues, schema))
    issues.push({ path: `${file}: ${issue.path}`, message: issue.message });
  return undefined;
}

/**
 * Validates the converted project. Its paths point into the converted project, not the source: failing here means a
 * case the importer's mapping misses, and the error says which conversion produced it.
 */
export function validateConverted(
  input: ProjectInput,
  what: string,
  details: Record<string, unknown>,
): Project {
  const result = validateProject(input);
  if (!result.ok)
    throw new ValidationError(validationMessage(what, result.issues), result.issues, { details });
  return result.project;
}
