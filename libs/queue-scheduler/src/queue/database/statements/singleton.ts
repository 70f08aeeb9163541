import type { Sql } from '../../../database/sql';
import type { Statement } from './statement';

/**
 * Makes sure the key has its `task_singleton` row ('' for no task yet), so
 * there is always a row to lock. MySQL's ON DUPLICATE KEY UPDATE takes the
 * existing row's exclusive lock at once: INSERT IGNORE would take a shared
 * one, and two pushes upgrading theirs would deadlock. PostgreSQL and SQLite
 * wait for a concurrent insert of the key and then skip; `lockSlot` locks.
 */
export function ensureSlot(sql: Sql, key: string): Statement {
  const insert = "INSERT INTO task_singleton (singleton_key, task_id, accepted_at) VALUES (?, '', 0)";
  return { text: sql.dialect === 'mysql' ? `${insert} ON DUPLICATE KEY UPDATE task_id = task_id` : `${insert} ON CONFLICT (singleton_key) DO NOTHING`, params: [key] };
}

/** The key's standing task id and acceptance time, its row locked until the push's transaction ends (SQLite: the transaction is the lock). */
export function lockSlot(sql: Sql, key: string): Statement {
  return { text: `SELECT task_id, accepted_at FROM task_singleton WHERE singleton_key = ?${forUpdate(sql)}`, params: [key] };
}

/** Gives the key to a task just queued. */
export function takeSlot(key: string, taskId: string, acceptedAt: number): Statement {
  return { text: 'UPDATE task_singleton SET task_id = ?, accepted_at = ? WHERE singleton_key = ?', params: [taskId, acceptedAt, key] };
}

/**
 * The standing task's state, its row locked: a claim (SKIP LOCKED) passes it
 * by until the push commits, so a task seen pending here is still pending
 * when a debounce rewrites it.
 */
export function lockStanding(sql: Sql, taskId: string): Statement {
  return { text: `SELECT status, retry_count, singleton_key FROM task_queue WHERE task_id = ?${forUpdate(sql)}`, params: [taskId] };
}

/** A debounced push folded into the pending task: its params, and its start moved back. */
export function debounceStanding(taskId: string, params: unknown, runAtMs: number): Statement {
  return { text: 'UPDATE task_queue SET params = ?, run_at = ? WHERE task_id = ?', params: [JSON.stringify(params), runAtMs, taskId] };
}

const forUpdate = (sql: Sql): string => (sql.dialect === 'sqlite' ? '' : ' FOR UPDATE');
