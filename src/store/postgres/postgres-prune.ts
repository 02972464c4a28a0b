import { keptRuns, memoScope, type PruneInput } from '../sqlite-prune.js';
import type { PruneRunsResult } from '../run-store.js';
import type { Sql } from './postgres-connection.js';

/**
 * The database half of `storycore gc` on PostgreSQL, inside the caller's transaction (rolled back for a dry run),
 * with the embedded store's rules (`../sqlite-prune.ts`): keep the newest `keepRuns` runs of each project, its
 * newest success and every run of a live project; drop the memo rows no kept run journaled, re-point the kept ones
 * to a kept run, drop the other runs (journal, executions and events cascade), and return every artifact still
 * referenced.
 */
export async function pruneRunsPg(sql: Sql, input: PruneInput): Promise<PruneRunsResult> {
  const runs = await sql.rows<{ id: string; project_id: string; status: string }>(
    'SELECT id, project_id, status FROM runs ORDER BY project_id, seq DESC FOR UPDATE',
  );
  // The same choice as the embedded store's (gc's rules, or exactly the runs a user deletes).
  const keptSet = keptRuns(runs, input);
  const kept = [...keptSet];
  const droppedRuns = runs.filter((r) => !keptSet.has(r.id)).map((r) => r.id);
  const live = [...input.liveProjects];
  // A memo row stays when a kept run of its project executed or reused it, or when its project is live.
  const journaledByKept = `
    SELECT rs.run_id FROM run_steps rs JOIN runs r ON r.id = rs.run_id
    WHERE rs.run_id = ANY($1) AND r.project_id = step_memo.project_id AND rs.step_id = step_memo.step_id
      AND rs.input_hash = step_memo.input_hash AND rs.status IN ('done', 'reused')`;
  const droppedMemo = await sql.run(
    `DELETE FROM step_memo WHERE NOT (project_id = ANY($2))
       AND ($3::text[] IS NULL OR project_id = ANY($3)) AND NOT EXISTS (${journaledByKept})`,
    [kept, live, memoScope(runs, keptSet, input)],
  );
  // Kept memo rows made by a dropped run now name the newest kept run that used them (the foreign key needs one).
  await sql.run(
    `UPDATE step_memo SET run_id = (${journaledByKept} ORDER BY r.seq DESC LIMIT 1) WHERE NOT (run_id = ANY($1))`,
    [kept],
  );
  await sql.run('DELETE FROM runs WHERE NOT (id = ANY($1))', [kept]);

  const referenced = new Set<string>();
  const rows = await sql.rows<{ artifacts: string }>(
    'SELECT artifacts FROM step_memo UNION SELECT artifacts FROM run_steps',
  );
  for (const row of rows) {
    for (const sha of Object.values(JSON.parse(row.artifacts) as Record<string, string>)) referenced.add(sha);
  }
  return { droppedRuns, droppedMemo, referenced, liveProjects: [...input.liveProjects].sort() };
}
