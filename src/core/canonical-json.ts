import { InternalError } from './errors.js';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code unit, as `Array.prototype.sort` does), no whitespace,
 * `undefined` properties left out. Two equal values always give the same string, whatever order their keys
 * were written in, so its hash can key cached step results.
 *
 * Unlike `JSON.stringify` it refuses what would silently change meaning: NaN and ±Infinity (stringify turns
 * them into `null`), bigint, functions and symbols as values, and cycles. `-0` is written as `0`, as
 * stringify does. Objects with `toJSON` (Date) are serialised through it.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$', new Set());
}

function write(value: unknown, path: string, ancestors: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw unsupported(path, String(value));
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw unsupported(path, typeof value);
  }
  const withToJson = value as { toJSON?: unknown };
  if (typeof withToJson.toJSON === 'function') {
    return write((withToJson.toJSON as () => unknown)(), path, ancestors);
  }
  if (ancestors.has(value)) throw new InternalError(`canonicalJson: cycle at ${path}`, { details: { path } });
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      // Holes and undefined become null, as in JSON.stringify, so array positions are kept.
      const items = Array.from(value, (item: unknown, i) =>
        item === undefined ? 'null' : write(item, `${path}[${i}]`, ancestors),
      );
      return `[${items.join(',')}]`;
    }
    const record = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const item = record[key];
      if (item === undefined) continue;
      parts.push(`${JSON.stringify(key)}:${write(item, `${path}.${key}`, ancestors)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}

function unsupported(path: string, what: string): InternalError {
  return new InternalError(`canonicalJson: ${what} at ${path} has no JSON form`, { details: { path } });
}
