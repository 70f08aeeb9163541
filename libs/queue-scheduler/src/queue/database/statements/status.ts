import type { Sql } from '../../../database/sql';
import type { ListTasksFilter } from '../../task-queue';
import type { PageRequest } from '../../task-pages';
import { taskColumns } from '../task-rows';
import type { Statement } from './statement';

/** Tasks waiting (ready or delayed, retries included), not counting running ones. */
export const COUNT_PENDING = "SELECT COUNT(*) AS n FROM task_queue WHERE status = 'pending'";

/** Tasks pending or running, on any instance; a count per status, each through the partial index that holds it (TASK_INDEX_WHERE). */
export const COUNT_UNFINISHED = `SELECT ${['pending', 'running', 'waiting'].map((s) => `(SELECT COUNT(*) FROM task_queue WHERE status = '${s}')`).join(' + ')} AS n`;

/** The statuses a page can filter by in SQL text: SQLite uses a partial index only for a literal its predicate names. */
const LISTED = new Set(['running', 'succeeded', 'dead', 'cancelled', 'waiting']);

/**
 * Whether schedule ? has a task pending (retries included) or running, or a
 * flow root waiting for its children (a flow schedule's run is unfinished until its root ends). Read
 * through uq_task_queue_occurrence (scheduler_task_id, scheduled_at): a range
 * over that schedule's rows only, never the whole table.
 */
export const SCHEDULE_UNFINISHED = "SELECT 1 AS n FROM task_queue WHERE scheduler_task_id = ? AND status IN ('pending', 'running', 'waiting') LIMIT 1";

/** Tasks by status, a retry waiting for its time (pending with a recorded failure) apart from the others. */
export const COUNT_BY_STATUS =
  "SELECT status, CASE WHEN status = 'pending' AND retry_count > 0 THEN 1 ELSE 0 END AS retry_count, COUNT(*) AS n FROM task_queue GROUP BY status, CASE WHEN status = 'pending' AND retry_count > 0 THEN 1 ELSE 0 END";

/**
 * Running tasks per instance holding their lease. Read through
 * idx_task_queue_lease (status, lease_expires_at): a range over the running
 * rows only (as many as the instances' workers), however many tasks the table keeps.
 */
export const RUNNING_BY_OWNER = "SELECT lease_owner, COUNT(*) AS n FROM task_queue WHERE status = 'running' GROUP BY lease_owner";

/** One task's row, with what only a single task's read shows: its stack, its stored tries and who runs it. */
export function selectTask(sql: Sql, taskId: string): Statement {
  return { text: `SELECT ${taskColumns(sql)}, error_stack, ${sql.json('tries')} AS tries, lease_owner FROM task_queue WHERE task_id = ?`, params: [taskId] };
}

/** A page of `filter`'s tasks, newest first, from before push order `before`; one row more than `limit` tells whether more follow. */
export function listTasks(sql: Sql, filter: ListTasksFilter, { limit, before, beforeId }: PageRequest): Statement {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.status === 'failed' || filter.status === 'pending') {
    where.push(`status = 'pending' AND retry_count ${filter.status === 'failed' ? '>' : '='} 0`);
  } else if (filter.status && LISTED.has(filter.status)) {
    where.push(`status = '${filter.status}'`);
  } else if (filter.status) {
    where.push('status = ?');
    params.push(filter.status);
  }
  if (filter.type) {
    where.push('task_type = ?');
    params.push(filter.type);
  }
  // instances make push orders from their own clocks, so two can share one: the id orders those, and the cursor carries it
  if (before !== undefined && beforeId !== undefined) {
    where.push('seq <= ? AND (seq < ? OR task_id < ?)');
    params.push(before, before, beforeId);
  } else if (before !== undefined) {
    where.push('seq < ?');
    params.push(before);
  }
  return {
    text: `SELECT ${taskColumns(sql)}, error_stack FROM task_queue ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC, task_id DESC LIMIT ${limit + 1}`,
    params,
  };
}
