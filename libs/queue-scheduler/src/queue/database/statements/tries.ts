import type { Sql } from '../../../database/sql';
import { MAX_TRIES_KEPT } from '../../task-tries';

/** A try's fields as SQL expressions (columns of the row, or placeholders typed by the caller on PostgreSQL). */
export interface TryFields {
  attempt: string;
  startedAt: string;
  finishedAt: string;
  outcome: string;
  error: string;
  stack: string;
  instance: string;
}

/**
 * The row's stored tries with one more at the end, the oldest
 * dropped past MAX_TRIES_KEPT, in one expression of each dialect's JSON
 * functions, so a failure or a reclaim appends with the UPDATE it already
 * makes (no read first). It reads attempts, started_at, lease_owner and the
 * like as they were: on MySQL, which gives later assignments the values set
 * before them, `tries = …` must come before any assignment to those.
 */
export function appendedTries(sql: Sql, f: TryFields): string {
  const pairs = (Object.keys(f) as Array<keyof TryFields>).map((k) => `'${k}', ${f[k]}`).join(', ');
  if (sql.dialect === 'postgres') {
    const cur = "COALESCE(tries::jsonb, '[]'::jsonb)";
    return `((CASE WHEN jsonb_array_length(${cur}) >= ${MAX_TRIES_KEPT} THEN ${cur} - 0 ELSE ${cur} END) || jsonb_build_array(jsonb_build_object(${pairs})))::json`;
  }
  if (sql.dialect === 'mysql') {
    const cur = 'COALESCE(tries, JSON_ARRAY())';
    return `JSON_ARRAY_APPEND(CASE WHEN JSON_LENGTH(${cur}) >= ${MAX_TRIES_KEPT} THEN JSON_REMOVE(${cur}, '$[0]') ELSE ${cur} END, '$', JSON_OBJECT(${pairs}))`;
  }
  const cur = "COALESCE(tries, '[]')";
  return `json_insert(CASE WHEN json_array_length(${cur}) >= ${MAX_TRIES_KEPT} THEN json_remove(${cur}, '$[0]') ELSE ${cur} END, '$[#]', json_object(${pairs}))`;
}

/** A text literal that PostgreSQL's json builders take without guessing its type. */
export function textLiteral(sql: Sql, value: string): string {
  return sql.dialect === 'postgres' ? `CAST('${value}' AS text)` : `'${value}'`;
}

/** A placeholder typed for PostgreSQL's json builders (which cannot infer a parameter's type). */
export function typed(sql: Sql, type: string): string {
  return sql.dialect === 'postgres' ? `CAST(? AS ${type})` : '?';
}

/**
 * A failed try's outcome read from its stored stack (see failureOutcome):
 * a dead task's last try, stored when `retryTask` starts its count again.
 */
export const OUTCOME_OF_STACK = "CASE WHEN error_stack LIKE 'TaskTimeoutError%' THEN 'timed_out' WHEN error_stack LIKE 'TaskLostError%' THEN 'lost' ELSE 'failed' END";
