import type { Sql } from '../../../database/sql';
import type { FlowTask } from '../../flow-validation';
import type { Sequence } from '../task-rows';
import type { Statement } from './statement';

const INSERT =
  'INSERT INTO task_queue (task_id, seq, task_type, params, status, priority, run_at, max_retries, scheduler_task_id, scheduled_at, created_at, trace_context, parent_id, pending_children, on_child_failure) VALUES';
const VALUES_PER_TASK = 15;
/** Rows per INSERT: 15 placeholders each stay far below SQLite's 32,766 and PostgreSQL's 65,535. */
export const FLOW_ROWS_PER_INSERT = 500;

/**
 * Inserts nodes `from` to `to` of a flow: a parent as `waiting` with its children counted, a leaf as `pending`.
 * `json`: every node's params as JSON, when the caller made it already.
 */
export function insertFlowTasks(sql: Sql, seq: Sequence, nodes: readonly FlowTask[], from: number, to: number, json?: readonly string[]): Statement {
  const now = Date.now();
  const params: unknown[] = [];
  for (let i = from; i < to; i++) {
    const { task: t, parent, children, onChildFailure } = nodes[i];
    params.push(t.taskId, seq.next(), t.type, json ? json[i] : JSON.stringify(t.params), children > 0 ? 'waiting' : 'pending', t.priority, t.runAtMs, t.maxRetries ?? null,
      t.schedulerTaskId ?? null, t.scheduledAt?.getTime() ?? null, now, t.traceContext ?? null,
      parent < 0 ? null : nodes[parent].task.taskId, children, parent < 0 ? null : onChildFailure);
  }
  const values = Array.from({ length: to - from }, () => `(${sql.list(VALUES_PER_TASK)})`).join(', ');
  return { text: `${INSERT} ${values}`, params };
}

/** What flows read of a row. */
export interface FlowRow {
  task_id: string;
  task_type: string;
  status: string;
  retry_count: number | string;
  attempts: number | string;
  parent_id: string | null;
  on_child_failure: string | null;
  error_message: string | null;
  result?: string | null;
}

const FLOW_COLUMNS = 'task_id, task_type, status, retry_count, attempts, parent_id, on_child_failure, error_message';

export function flowRows(sql: Sql, ids: readonly string[]): Statement {
  return { text: `SELECT ${FLOW_COLUMNS} FROM task_queue WHERE task_id IN (${sql.list(ids.length)})`, params: [...ids] };
}

/** One task's flow row, locked until the transaction ends (SQLite: the transaction is the lock). */
export function lockedFlowRow(sql: Sql, id: string): Statement {
  return { text: `SELECT ${FLOW_COLUMNS} FROM task_queue WHERE task_id = ?${sql.dialect === 'sqlite' ? '' : ' FOR UPDATE'}`, params: [id] };
}

/**
 * The children of `parents` in push order, through idx_task_queue_parent; with their results when `results`;
 * `locked`: their rows locked until the transaction ends (SQLite: the transaction is the lock).
 */
export function childRows(sql: Sql, parents: readonly string[], results = false, locked = false): Statement {
  const more = results ? `, ${sql.json('result')} AS result` : '';
  const lock = locked && sql.dialect !== 'sqlite' ? ' FOR UPDATE' : '';
  return { text: `SELECT ${FLOW_COLUMNS}${more} FROM task_queue WHERE parent_id IN (${sql.list(parents.length)}) ORDER BY seq${lock}`, params: [...parents] };
}

/**
 * `n` children of a parent ended as they may: its count goes down by `n`,
 * and a waiting parent whose count reaches 0 becomes pending (claimable).
 * `status` is set first: MySQL evaluates SET left to right with the new
 * values, PostgreSQL and SQLite with the old ones; this order reads the old
 * count on all three. The row lock the UPDATE takes serialises two
 * instances settling children of one parent: one of them sees 0, once.
 */
export function countChildren(parentId: string, n: number): Statement {
  return {
    text: "UPDATE task_queue SET status = CASE WHEN status = 'waiting' AND pending_children = ? THEN 'pending' ELSE status END, pending_children = pending_children - ? WHERE task_id = ?",
    params: [n, n, parentId],
  };
}

/** A child failed under 'fail': its waiting parent is dead, with the child named in the error. */
export function failParent(parentId: string, error: string, now: number): Statement {
  return { text: "UPDATE task_queue SET status = 'dead', completed_at = ?, error_message = ? WHERE task_id = ? AND status = 'waiting'", params: [now, error, parentId] };
}

/**
 * A counted child retried: its parent waits for it again, and one released that no worker has taken yet is waiting
 * again (it ran without the child's result before). A parent that ran, or runs, keeps what it did; the child runs alone.
 */
export function uncountChild(parentId: string): Statement {
  return {
    text: "UPDATE task_queue SET status = CASE WHEN status = 'pending' AND attempts = 0 THEN 'waiting' ELSE status END, pending_children = pending_children + 1 WHERE task_id = ?",
    params: [parentId],
  };
}

/** A dead parent, dead of another child now (`error`, childFailedMessage): one its retried child cannot re-arm. */
export function diedOf(parentId: string, error: string): Statement {
  return { text: "UPDATE task_queue SET error_message = ? WHERE task_id = ? AND status = 'dead'", params: [error, parentId] };
}

/** A parent that died of a child, re-armed when that child is retried: waiting again, with a fresh attempt count. */
export function rearmParent(parentId: string): Statement {
  return {
    text: "UPDATE task_queue SET status = 'waiting', attempts = 0, retry_count = 0, error_message = NULL, error_stack = NULL, completed_at = NULL WHERE task_id = ? AND status = 'dead'",
    params: [parentId],
  };
}

/** Cancels tasks that have not started (a waiting parent included). */
export function cancelUnstarted(sql: Sql, ids: readonly string[], now: number): Statement {
  return { text: `UPDATE task_queue SET status = 'cancelled', completed_at = ? WHERE task_id IN (${sql.list(ids.length)}) AND status IN ('pending', 'waiting')`, params: [now, ...ids] };
}

/** The children of `parents` that have not started. */
export function unstartedChildren(sql: Sql, parents: readonly string[]): Statement {
  return { text: `SELECT task_id, task_type FROM task_queue WHERE parent_id IN (${sql.list(parents.length)}) AND status IN ('pending', 'waiting')`, params: [...parents] };
}

/**
 * A finished occurrence root claimed again (cancelled ahead of its time, then
 * given back): its row makes way for the new tree, and its old children,
 * which ended or still end on their own, no longer count for any parent.
 */
export function replaceFinishedRoot(rootId: string): Statement[] {
  return [
    { text: 'UPDATE task_queue SET parent_id = NULL WHERE parent_id = ?', params: [rootId] },
    { text: "DELETE FROM task_queue WHERE task_id = ? AND status IN ('succeeded', 'dead', 'cancelled')", params: [rootId] },
  ];
}
