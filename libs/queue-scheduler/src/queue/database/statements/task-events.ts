import type { Sql } from '../../../database/sql';
import type { ClusterEventKind } from '../../../interfaces/task.interface';
import type { Statement } from './statement';

/** One row of `task_event` to write. */
export interface EventRow {
  readonly taskId: string;
  readonly type: string;
  readonly kind: ClusterEventKind;
  readonly attempt: number;
  readonly at: number;
  readonly error?: string;
  readonly durationMs?: number;
}

/** A row as read back (bigint columns come back as strings from PostgreSQL and MySQL). */
export interface StoredEventRow {
  id: string | number;
  task_id: string;
  task_type: string;
  kind: ClusterEventKind;
  attempt: number;
  recorded_at: string | number;
  error: string | null;
  duration_ms: number | null;
}

/** What listeners LISTEN to on PostgreSQL; the payload is the highest id written. */
export const EVENTS_CHANNEL = 'qs_task_event';

/**
 * One multi-row INSERT for a batch's events. On PostgreSQL it also sends a
 * NOTIFY carrying the highest id, which the server delivers on commit, so a
 * listener never hears of a row it cannot read yet.
 */
export function insertEvents(sql: Sql, rows: readonly EventRow[]): Statement {
  const params: unknown[] = [];
  const values = rows.map((r) => {
    params.push(r.taskId, r.type, r.kind, r.attempt, r.at, r.error ?? null, r.durationMs === undefined ? null : Math.round(r.durationMs));
    return '(?, ?, ?, ?, ?, ?, ?)';
  });
  const insert = `INSERT INTO task_event (task_id, task_type, kind, attempt, recorded_at, error, duration_ms) VALUES ${values.join(', ')}`;
  if (sql.dialect !== 'postgres') return { text: insert, params };
  return { text: `WITH ins AS (${insert} RETURNING id) SELECT pg_notify('${EVENTS_CHANNEL}', max(id)::text) FROM ins`, params };
}

/**
 * An end written by a statement that names only the id (a cancel, a flow
 * parent dying of its child), read from the row it just changed, in the
 * same transaction: the row has the type, the attempts and the error.
 */
export function insertEndEvent(sql: Sql, taskId: string, at: number, kind: 'cancelled' | 'dead' = 'cancelled'): Statement {
  const error = kind === 'dead' ? 'error_message' : 'NULL';
  const insert = `INSERT INTO task_event (task_id, task_type, kind, attempt, recorded_at, error, duration_ms) SELECT task_id, task_type, '${kind}', attempts, ?, ${error}, NULL FROM task_queue WHERE task_id = ?`;
  if (sql.dialect !== 'postgres') return { text: insert, params: [at, taskId] };
  return { text: `WITH ins AS (${insert} RETURNING id) SELECT pg_notify('${EVENTS_CHANNEL}', max(id)::text) FROM ins`, params: [at, taskId] };
}

/** The next page after `after`, on the primary key alone. */
export function readEvents(after: number, limit: number): Statement {
  return { text: `SELECT id, task_id, task_type, kind, attempt, recorded_at, error, duration_ms FROM task_event WHERE id > ? ORDER BY id LIMIT ${limit}`, params: [after] };
}

/** The newest id this table gave (the sweep never deletes the newest row): what an `after` is checked against. */
export const LATEST_EVENT = 'SELECT MAX(id) AS id FROM task_event';

/** How many of the newest events a fresh subscriber looks over for ones recorded since it subscribed. */
const LOOK_BACK = 1000;

/**
 * Where a subscriber without `after` starts: after the newest event recorded before it subscribed (`since`, ms) among
 * the last LOOK_BACK (`anchor`); before the lowest of them (`lowest`) when all are newer. Its first read may come
 * after a push awaited right after subscribing (a new pooled connection takes longer than that push's commit), and
 * such a push's events came after the subscription. Both null: no event yet.
 */
export function streamStart(since: number): Statement {
  return {
    text: `SELECT MAX(CASE WHEN recorded_at < ? THEN id END) AS anchor, MIN(id) AS lowest FROM task_event WHERE id > (SELECT COALESCE(MAX(id), 0) - ${LOOK_BACK} FROM task_event)`,
    params: [since],
  };
}

/** The oldest events, to find how far a retention pass may delete (by id: the primary key is the only index). */
export function oldestEvents(limit: number): Statement {
  return { text: `SELECT id, recorded_at FROM task_event ORDER BY id LIMIT ${limit}`, params: [] };
}

export function deleteEventsUpTo(id: string | number): Statement {
  return { text: 'DELETE FROM task_event WHERE id <= ?', params: [id] };
}
