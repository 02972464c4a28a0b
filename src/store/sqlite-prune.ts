import type { PruneRunsOptions, PruneRunsResult } from './run-store.js';
import type { SqliteConnection } from './sqlite-connection.js';

export interface PruneInput extends PruneRunsOptions {
  /** Projects with a live run: their runs and memo rows all stay (the live run may reuse any of them). */
  liveProjects: ReadonlySet<string>;
  liveRuns: ReadonlySet<string>;
}

/**
 * The database half of `storycore gc`, run inside the caller's write transaction: decides which runs stay (the
 * newest `keepRuns` of each project, its newest success, every run of a project being generated), drops the memo
 * rows no kept run journaled (a rerun recomputes those), re-points the memo rows kept to a kept run, drops the
 * other runs (their journal, executions and events go with them), and returns every artifact still referenced.
 * A dry run does all of it inside a savepoint that is rolled back, so it reports exactly what a real run would do.
 */
export function pruneRuns(db: SqliteConnection, input: PruneInput): PruneRunsResult {
  const runs = db
    .sql('SELECT id, project_id, status FROM runs ORDER BY project_id, seq DESC')
    .all() as Array<{
    id: string;
    project_id: string;
    status: string;
  }>;
  const kept = keptRuns(runs, input);
  const droppedRuns = runs.filter((r) => !kept.has(r.id)).map((r) => r.id);

  db.sql('SAVEPOINT gc').run();
  try {
    db.sql('CREATE TEMP TABLE IF NOT EXISTS gc_kept (id TEXT PRIMARY KEY)').run();
    db.sql('DELETE FROM gc_kept').run();
    const keep = db.sql('INSERT INTO gc_kept (id) VALUES (?)');
    for (const id of kept) keep.run(id);
    const live = JSON.stringify([...input.liveProjects]);
    // Deleting named runs touches only their projects' memo rows; gc considers every project.
    const scope = memoScope(runs, kept, input);
    const scopeJson = scope ? JSON.stringify(scope) : null;
    // A memo row stays when a kept run of its project executed or reused it, or when its project is live.
    const journaledByKept = `
      SELECT rs.run_id FROM run_steps rs JOIN gc_kept k ON k.id = rs.run_id JOIN runs r ON r.id = rs.run_id
      WHERE r.project_id = step_memo.project_id AND rs.step_id = step_memo.step_id
        AND rs.input_hash = step_memo.input_hash AND rs.status IN ('done', 'reused')`;
    const { changes: droppedMemo } = db
      .sql(
        `DELETE FROM step_memo WHERE project_id NOT IN (SELECT value FROM json_each(?))
           AND (? IS NULL OR project_id IN (SELECT value FROM json_each(?)))
           AND NOT EXISTS (${journaledByKept})`,
      )
      .run(live, scopeJson, scopeJson);
    // Kept memo rows made by a dropped run now name the newest kept run that used them (the foreign key needs one).
    db.sql(
      `UPDATE step_memo SET run_id = (${journaledByKept} ORDER BY r.seq DESC LIMIT 1)
       WHERE run_id NOT IN (SELECT id FROM gc_kept)`,
    ).run();
    db.sql('DELETE FROM runs WHERE id NOT IN (SELECT id FROM gc_kept)').run();

    const referenced = new Set<string>();
    const rows = db
      .sql('SELECT artifacts FROM step_memo UNION SELECT artifacts FROM run_steps')
      .all() as Array<{ artifacts: string }>;
    for (const row of rows) {
      for (const sha of Object.values(JSON.parse(row.artifacts) as Record<string, string>))
        referenced.add(sha);
    }
    db.sql('DROP TABLE gc_kept').run();
    if (input.dryRun) db.sql('ROLLBACK TO gc').run();
    db.sql('RELEASE gc').run();
    return { droppedRuns, droppedMemo, referenced, liveProjects: [...input.liveProjects].sort() };
  } catch (error) {
    db.sql('ROLLBACK TO gc').run();
    db.sql('RELEASE gc').run();
    throw error;
  }
}

/**
 * Which runs stay, for both stores: gc keeps the newest `keepRuns` of each project, its newest success and every run
 * of a live project; `dropRuns` (a user deleting runs) keeps everything but the runs named, live ones included.
 */
export function keptRuns(
  runs: ReadonlyArray<{ id: string; project_id: string; status: string }>,
  input: PruneInput,
): Set<string> {
  const kept = new Set<string>();
  const isLive = (run: { id: string; project_id: string }): boolean =>
    input.liveProjects.has(run.project_id) || input.liveRuns.has(run.id);
  if (input.dropRuns !== undefined) {
    const named = new Set(input.dropRuns);
    for (const run of runs) if (!named.has(run.id) || isLive(run)) kept.add(run.id);
    return kept;
  }
  const seen = new Map<string, { count: number; succeeded: boolean }>();
  for (const run of runs) {
    const project = seen.get(run.project_id) ?? { count: 0, succeeded: false };
    seen.set(run.project_id, project);
    const newest = project.count < input.keepRuns;
    // The newest success is what makes an unchanged rerun a no-op: dropping it would make gc cost a full rerun.
    const lastSuccess = run.status === 'succeeded' && !project.succeeded;
    if (newest || lastSuccess || isLive(run)) kept.add(run.id);
    project.count++;
    if (run.status === 'succeeded') project.succeeded = true;
  }
  return kept;
}

/** The projects whose memo rows may be dropped: all (`null`) for gc, only the dropped runs' ones for `dropRuns`. */
export function memoScope(
  runs: ReadonlyArray<{ id: string; project_id: string }>,
  kept: ReadonlySet<string>,
  input: PruneInput,
): string[] | null {
  if (input.dropRuns === undefined) return null;
  return [...new Set(runs.filter((r) => !kept.has(r.id)).map((r) => r.project_id))];
}
