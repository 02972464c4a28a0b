const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Whether a parsed JSON document is a Creative Studio project rather than a v1 project: it holds shots (or their
 * `storyboard` alias) and one of the studio's own markers, and not our numeric `schemaVersion`.
 */
export function isCreativeStudioProject(doc: unknown): doc is Record<string, unknown> {
  if (!isRecord(doc) || typeof doc['schemaVersion'] === 'number') return false;
  const hasShots = Array.isArray(doc['shots']) || Array.isArray(doc['storyboard']);
  const marked =
    'schema_version' in doc ||
    'project_name' in doc ||
    typeof doc['schemaVersion'] === 'string' ||
    'capabilities' in doc ||
    'generation_status' in doc;
  return hasShots && marked;
}
