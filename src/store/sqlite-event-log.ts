import { NotFoundError } from '../core/errors.js';
import { eventFromRow, toJson } from './rows.js';
import type { EventRow } from './rows.js';
import type { EventRecord, ListEventsOptions, NewEvent } from './run-store.js';
import type { SqliteConnection } from './sqlite-connection.js';

/** Per-run event log: appends are batched into few transactions (`writeSoon`), on prepared statements. */
export class SqliteEventLog {
  readonly #db: SqliteConnection;

  constructor(db: SqliteConnection) {
    this.#db = db;
  }

  append(runId: string, events: readonly NewEvent[]): number[] {
    return this.#db.writeSoon('appendEvents', () => {
      // The counter lives on the run row, so seqs stay monotonic even after pruning deleted the newest events.
      const bumped = this.#db
        .sql('UPDATE runs SET last_event_seq = last_event_seq + ? WHERE id = ? RETURNING last_event_seq')
        .get(events.length, runId) as { last_event_seq: number } | undefined;
      if (bumped === undefined) {
        throw new NotFoundError(`run ${runId} not found in ${this.#db.path}`, { details: { runId } });
      }
      const first = bumped.last_event_seq - events.length + 1;
      const at = new Date().toISOString();
      const insert = this.#db.sql(
        'INSERT INTO events (run_id, seq, type, payload, at) VALUES (?, ?, ?, ?, ?)',
      );
      return events.map((event, i) => {
        insert.run(runId, first + i, event.type, toJson(event.payload), at);
        return first + i;
      });
    });
  }

  list(runId: string, options: ListEventsOptions = {}): EventRecord[] {
    return this.#db.read('listEvents', () => {
      const rows = this.#db
        .sql('SELECT * FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?')
        .all(runId, options.afterSeq ?? 0, options.limit ?? 1000) as EventRow[];
      return rows.map(eventFromRow);
    });
  }

  prune(runId: string, keepLast: number): number {
    const keep = Math.max(0, Math.floor(keepLast));
    return this.#db.write('pruneEvents', () => {
      const sql =
        'DELETE FROM events WHERE run_id = ? AND seq <= (SELECT last_event_seq FROM runs WHERE id = ?) - ?';
      return this.#db.sql(sql).run(runId, runId, keep).changes;
    });
  }
}
