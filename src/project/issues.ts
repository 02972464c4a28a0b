import { z } from 'zod';
import type { ValidationIssue } from '../core/errors.js';

/** Validation issues as paths a person can find in the file (`$.shots[3].prompt`) and messages they can act on. */

type PathSegment = PropertyKey;

/** `["shots", 3, "prompt"]` → `$.shots[3].prompt`; keys that are not identifiers are quoted: `$["a b"]`. */
export function formatJsonPath(segments: readonly PathSegment[]): string {
  let out = '$';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'symbol') out += `[${String(segment)}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

export { formatValidationIssues } from '../core/errors.js';

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
    case 'number':
      return `a number (${value})`;
    case 'boolean':
      return `a boolean (${value})`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

const article = (type: string): string => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/**
 * Per-parse error map: zod's defaults ("Invalid input: expected string, received undefined") become
 * "missing required field" and "expected a string, got a number (5)". Messages set on the schema win.
 */
export const issueMessages: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') {
    const field = issue.path?.[issue.path.length - 1];
    if (issue.input === undefined) {
      return typeof field === 'string' ? `missing required field "${field}"` : 'missing required value';
    }
    // JSON has no Infinity or NaN; a literal like 1e309 overflows to Infinity when parsed. "Expected a number, got
    // a number (Infinity)" read as nonsense: say what is wrong with it.
    if (typeof issue.input === 'number' && !Number.isFinite(issue.input)) {
      return Number.isNaN(issue.input)
        ? 'expected a finite number, got NaN'
        : `expected a finite number, got ${issue.input} (a literal too large for a 64-bit float, e.g. 1e309)`;
    }
    return `expected ${article(String(issue.expected))}, got ${describeValue(issue.input)}`;
  }
  if (issue.code === 'invalid_union') {
    // When every branch failed on the type, say which types would do rather than zod's bare "Invalid input".
    const expected = issue.errors.map((branch) => {
      const first = branch[0];
      return branch.length === 1 && first?.code === 'invalid_type' && first.path.length === 0
        ? first.expected
        : undefined;
    });
    if (expected.length > 0 && expected.every((e) => e !== undefined)) {
      const field = issue.path?.[issue.path.length - 1];
      if (issue.input === undefined)
        return typeof field === 'string' ? `missing required field "${field}"` : 'missing required value';
      return `expected ${expected.map((e) => article(String(e))).join(' or ')}, got ${describeValue(issue.input)}`;
    }
  }
  return undefined;
};

/** Converts zod issues to ours; an unknown key becomes one issue at its own path, with a suggestion. */
export function toValidationIssues(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        out.push({ path: formatJsonPath([...issue.path, key]), message: unknownKeyMessage(key, known) });
      }
      continue;
    }
    out.push({ path: formatJsonPath(issue.path), message: issue.message });
  }
  return out;
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const suggestion = closestKey(key, known);
  if (suggestion !== undefined) return `unknown key "${key}" (did you mean "${suggestion}"?)`;
  return known.length > 0 ? `unknown key "${key}" (allowed: ${known.join(', ')})` : `unknown key "${key}"`;
}

/** A key that differs only in case/separators (snake_case vs camelCase) or by at most two edits. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const squash = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');
  const exact = known.find((k) => squash(k) === squash(key));
  if (exact !== undefined) return exact;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(squash(key), squash(candidate));
    if (
      distance <= 2 &&
      distance < Math.max(3, candidate.length / 2) &&
      (best === undefined || distance < best.distance)
    ) {
      best = { key: candidate, distance };
    }
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The keys the schema allows for the object at `path`, found by walking wrappers, arrays and objects. */
function knownKeysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let node: unknown = schema;
  for (let depth = 0; depth <= path.length; depth++) {
    node = unwrap(node);
    if (depth === path.length) break;
    const segment = path[depth];
    if (node instanceof z.ZodArray && typeof segment === 'number') node = node.element;
    else if (node instanceof z.ZodObject && typeof segment === 'string')
      node = (node.shape as Record<string, unknown>)[segment];
    else return [];
  }
  return node instanceof z.ZodObject ? Object.keys(node.shape as Record<string, unknown>) : [];
}

function unwrap(node: unknown): unknown {
  let current = node;
  for (let guard = 0; guard < 16; guard++) {
    if (
      current instanceof z.ZodOptional ||
      current instanceof z.ZodDefault ||
      current instanceof z.ZodNullable
    ) {
      current = current.unwrap();
    } else if (current instanceof z.ZodPipe) {
      current = current.in;
    } else {
      break;
    }
  }
  return current;
}
