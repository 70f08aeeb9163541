import type { Sql } from '../../../database/sql';
import { taskColumns } from '../task-rows';
import type { Statement } from './statement';

/** What a claim writes on each row it takes: params started_at, lease_owner, lease_expires_at. */
/** A cancel request is for one try: a new try starts without it. */
const SET_RUNNING = "SET status = 'running', attempts = attempts + 1, started_at = ?, lease_owner = ?, lease_expires_at = ?, cancel_requested = 0";

/** The due rows of `types` in claim order, at most `limit`: params run_at bound, ...types. */
function due(sql: Sql, types: number, limit: number): string {
  return `FROM task_queue WHERE status = 'pending' AND run_at <= ? AND task_type IN (${sql.list(types)}) ORDER BY priority, run_at, seq LIMIT ${limit}`;
}

/** MySQL, first of the claim's two statements: locks the due rows and reads them whole. */
export function lockDue(sql: Sql, now: number, types: readonly string[], limit: number): Statement {
  return { text: `SELECT ${taskColumns(sql)} ${due(sql, types.length, limit)} FOR UPDATE SKIP LOCKED`, params: [now, ...types] };
}

/** MySQL, second of the claim's two statements: marks the locked rows running under this instance's lease. */
export function markRunning(sql: Sql, now: number, owner: string, lease: number, ids: string[]): Statement {
  return { text: `UPDATE task_queue ${SET_RUNNING} WHERE task_id IN (${sql.list(ids.length)})`, params: [now, owner, lease, ...ids] };
}

/**
 * PostgreSQL and SQLite: the claim in one UPDATE … RETURNING. On PostgreSQL
 * ANY(ARRAY(…)) rather than IN (…): once the planner knew a backlog, IN became a hash join over the whole table.
 */
export function claimDue(sql: Sql, now: number, owner: string, lease: number, types: readonly string[], limit: number): Statement {
  const rows = sql.dialect === 'postgres'
    ? `= ANY(ARRAY(SELECT task_id ${due(sql, types.length, limit)} FOR UPDATE SKIP LOCKED))`
    : `IN (SELECT task_id ${due(sql, types.length, limit)})`;
  return { text: `UPDATE task_queue ${SET_RUNNING} WHERE task_id ${rows} RETURNING ${taskColumns(sql)}`, params: [now, owner, lease, now, ...types] };
}

/** PostgreSQL, inside the claim's transaction while a backlog lasts: no sort plan (see DatabaseConsumer.claim). */
export const NO_SORT = 'SET LOCAL enable_sort = off';
