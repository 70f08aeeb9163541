import type { QueryRunner } from 'typeorm';
import type { Sql } from '../../database/sql';
import type { Statement } from './statements/statement';
import type { Outcome } from './statements/outcomes';
import { deleteEventsUpTo, type EventRow, insertEndEvent, insertEvents, oldestEvents } from './statements/task-events';

/** Rows of one INSERT: 7 placeholders each stays under every driver's limit. */
const MAX_ROWS = 1000;

/** Writes `rows` inside the caller's transaction (`runner`), a multi-row INSERT per MAX_ROWS. */
export async function writeEvents(sql: Sql, rows: readonly EventRow[], runner: QueryRunner): Promise<void> {
  for (let i = 0; i < rows.length; i += MAX_ROWS) {
    const { text, params } = insertEvents(sql, rows.slice(i, i + MAX_ROWS));
    await sql.rows(text, params, runner);
  }
}

/** A task's lifecycle events that have no outcome row to go with: `queued` (attempt 0) and `started` (its try). */
export function lifecycleRows(kind: 'queued' | 'started', tasks: ReadonlyArray<{ taskId: string; type: string; attempts?: number }>, at: number): EventRow[] {
  return tasks.map((t) => ({ taskId: t.taskId, type: t.type, kind, attempt: t.attempts ?? 0, at }));
}

/** `started` events of the tries a claim handed out, in a transaction of their own, before any of them can end. */
export function writeStarted(sql: Sql, tasks: ReadonlyArray<{ taskId: string; type: string; attempts: number }>): Promise<void> {
  return sql.transaction((runner) => writeEvents(sql, lifecycleRows('started', tasks, Date.now()), runner));
}

/**
 * A cancel's UPDATE (`statement`, of one task), and with cluster events on the
 * event it reports, in one transaction; `then`, when the UPDATE changed a row,
 * runs in that transaction too (a flow child's parent learns the cancel there:
 * apart, a crash between the two left the parent waiting for ever). Returns
 * the rows the UPDATE changed.
 */
export async function cancelWithEvent(sql: Sql, statement: Statement, taskId: string, events: boolean, then?: (runner: QueryRunner) => Promise<void>): Promise<number> {
  if (!events && then === undefined) return sql.affected(statement.text, statement.params);
  return sql.transaction(async (runner) => {
    const n = await sql.affected(statement.text, statement.params, runner);
    if (n > 0 && events) {
      const insert = insertEndEvent(sql, taskId, Date.now());
      await sql.rows(insert.text, insert.params, runner);
    }
    if (n > 0 && then !== undefined) await then(runner);
    return n;
  });
}

/** Rows a retention pass looks at per statement, and the most statements one pass runs. */
const PRUNE_PAGE = 1000;
const PRUNE_PAGES = 20;

/**
 * Deletes events recorded before `cutoff`, oldest first, in bounded batches
 * found through the primary key (ids grow with time, so the old ones are a
 * prefix); a pass stops at PRUNE_PAGES and the next sweep goes on. The newest
 * row is never deleted, however old: MAX(id) then stays the newest id the
 * table gave, which is how a reader knows an `after` past it is no id of ours
 * (and an empty table cannot give ids again from 1, as SQLite would).
 */
export async function pruneEvents(sql: Sql, cutoff: number): Promise<number> {
  let deleted = 0;
  for (let page = 0; page < PRUNE_PAGES; page++) {
    // one row more than is deleted: the last one read is the next page's first, or the newest
    const oldest = oldestEvents(PRUNE_PAGE + 1);
    const rows = await sql.rows<{ id: string | number; recorded_at: string | number }>(oldest.text, oldest.params);
    let last: string | number | undefined;
    let n = 0;
    for (const row of rows.slice(0, -1)) {
      if (Number(row.recorded_at) >= cutoff) break;
      last = row.id;
      n++;
    }
    if (last === undefined) break;
    const { text, params } = deleteEventsUpTo(last);
    await sql.rangeAffected(text, params);
    deleted += n;
    if (n < rows.length - 1 || rows.length <= PRUNE_PAGE) break;
  }
  return deleted;
}

/** The `task_event` rows of written outcomes. */
export function eventRows(written: ReadonlyArray<{ outcome: Outcome }>, at: number): EventRow[] {
  return written.map(({ outcome: o }) => ({
    taskId: o.task.taskId,
    type: o.task.type,
    kind: o.kind,
    attempt: o.task.attempts,
    at,
    error: o.kind === 'succeeded' ? undefined : o.error,
    durationMs: o.durationMs,
  }));
}
