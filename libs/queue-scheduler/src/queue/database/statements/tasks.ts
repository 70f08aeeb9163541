import type { Sql } from '../../../database/sql';
import type { Task } from '../../../interfaces/task.interface';
import type { NormalizedTask } from '../../task-validation';
import type { Sequence } from '../task-rows';
import { FINISHED, type Statement } from './statement';
import { appendedTries, OUTCOME_OF_STACK } from './tries';

const INSERT = 'INSERT INTO task_queue (task_id, seq, task_type, params, status, priority, run_at, max_retries, scheduler_task_id, scheduled_at, created_at, singleton_key, trace_context)';

/**
 * The columns most pushes leave NULL, and how a task fills each. insertTasks
 * names only those some task of the batch fills (the others take their NULL
 * default): each placeholder of a multi-row VALUES list is parsed and bound
 * per row, and two always-NULL columns made a bulk push ~10% costlier.
 */
const OPTIONAL_COLUMNS: ReadonlyArray<readonly [string, (t: NormalizedTask) => string | number | undefined]> = [
  ['max_retries', (t) => t.maxRetries],
  ['scheduler_task_id', (t) => t.schedulerTaskId],
  ['scheduled_at', (t) => t.scheduledAt?.getTime()],
  ['singleton_key', (t) => t.singleton?.key],
  ['trace_context', (t) => t.traceContext],
];

/** The VALUES list of the last shape built: a bulk push repeats the same batch size and columns. */
let lastValues = { key: '', text: '' };

/**
 * Inserts `tasks`, one row each. `skipExisting` (PostgreSQL and SQLite): ON
 * CONFLICT DO NOTHING, and the ids inserted come back; without it the
 * statement fails on an existing id or occurrence.
 */
export function insertTasks(seq: Sequence, tasks: NormalizedTask[], skipExisting: boolean, json?: readonly string[]): Statement {
  const now = Date.now();
  const optional = OPTIONAL_COLUMNS.filter(([, value]) => tasks.some((t) => value(t) !== undefined));
  const params: unknown[] = [];
  for (const [i, t] of tasks.entries()) {
    params.push(t.taskId, seq.next(), t.type, json ? json[i] : JSON.stringify(t.params), t.priority, t.runAtMs, now);
    for (const [, value] of optional) params.push(value(t) ?? null);
  }
  const columns = optional.map(([name]) => `, ${name}`).join('');
  const key = `${tasks.length}${columns}`;
  if (lastValues.key !== key) {
    const row = `(?, ?, ?, ?, 'pending', ?, ?, ?${', ?'.repeat(optional.length)})`;
    lastValues = { key, text: tasks.map(() => row).join(', ') };
  }
  return {
    text: `INSERT INTO task_queue (task_id, seq, task_type, params, status, priority, run_at, created_at${columns}) VALUES ${lastValues.text}${skipExisting ? ' ON CONFLICT DO NOTHING RETURNING task_id' : ''}`,
    params,
  };
}

/**
 * PostgreSQL, several tasks: insertTasks with ON CONFLICT DO NOTHING, each
 * column sent as one array and zipped back into rows by unnest. A multi-row
 * VALUES list of 1,000 tasks is 13,000 placeholders that the server parses,
 * binds and plans each time, which made a bulk push ~10% costlier per added
 * column; thirteen arrays cost the same whatever the batch size (about 1.4x
 * the rate of the VALUES form, server and client CPU together). The values
 * are those insertTasks sends, and each column takes them by the same
 * assignment casts (a too-long id still fails, as it did).
 */
export function insertTasksUnnest(seq: Sequence, tasks: NormalizedTask[]): Statement {
  const n = tasks.length;
  const ids = new Array<string>(n), seqs = new Array<number>(n), types = new Array<string>(n), params = new Array<string>(n);
  const priorities = new Array<number>(n), runAts = new Array<number>(n), maxRetries = new Array<number | null>(n);
  const scheduleIds = new Array<string | null>(n), scheduledAts = new Array<number | null>(n);
  const singletonKeys = new Array<string | null>(n), traces = new Array<string | null>(n);
  for (let i = 0; i < n; i++) {
    const t = tasks[i];
    ids[i] = t.taskId;
    seqs[i] = seq.next();
    types[i] = t.type;
    params[i] = JSON.stringify(t.params);
    priorities[i] = t.priority;
    runAts[i] = t.runAtMs;
    maxRetries[i] = t.maxRetries ?? null;
    scheduleIds[i] = t.schedulerTaskId ?? null;
    scheduledAts[i] = t.scheduledAt?.getTime() ?? null;
    singletonKeys[i] = t.singleton?.key ?? null;
    traces[i] = t.traceContext ?? null;
  }
  return {
    text: `${INSERT}
      SELECT id, seq, type, params, 'pending', priority, run_at, max_retries, schedule_id, scheduled_at, ?::bigint, singleton_key, trace
      FROM unnest(?::text[], ?::bigint[], ?::text[], ?::json[], ?::int[], ?::bigint[], ?::int[], ?::text[], ?::bigint[], ?::text[], ?::text[])
        AS t(id, seq, type, params, priority, run_at, max_retries, schedule_id, scheduled_at, singleton_key, trace)
      ON CONFLICT DO NOTHING RETURNING task_id`,
    params: [Date.now(), ids, seqs, types, params, priorities, runAts, maxRetries, scheduleIds, scheduledAts, singletonKeys, traces],
  };
}

/**
 * Queues a finished task anew under its id, as a fresh push; a pending or running one is left alone. `outsideFlows`:
 * only a task that is no flow's child (a child leaves its flow in a transaction, see TaskInserts.requeueChild).
 */
export function requeueFinished(seq: Sequence, t: NormalizedTask, outsideFlows = false): Statement {
  return {
    text: `UPDATE task_queue SET seq = ?, task_type = ?, params = ?, status = 'pending', priority = ?, run_at = ?, attempts = 0, retry_count = 0, max_retries = ?,
           error_message = NULL, error_stack = NULL, tries = NULL, result = NULL, started_at = NULL, completed_at = NULL, lease_owner = NULL, lease_expires_at = NULL, created_at = ?, singleton_key = ?,
           trace_context = ?, parent_id = NULL, pending_children = 0, on_child_failure = NULL WHERE task_id = ? AND status IN ${FINISHED}${outsideFlows ? ' AND parent_id IS NULL' : ''}`,
    params: [seq.next(), t.type, JSON.stringify(t.params), t.priority, t.runAtMs, t.maxRetries ?? null, Date.now(), t.singleton?.key ?? null, t.traceContext ?? null, t.taskId],
  };
}

/**
 * Queues a dead task, or a failed one waiting for its retry, again now with
 * fresh tries; a dead task's last try, read from the row until now, is
 * stored first (a failed one's already is).
 */
export function retryTask(sql: Sql, seq: Sequence, taskId: string): Statement {
  const last = appendedTries(sql, {
    attempt: 'attempts', startedAt: 'started_at', finishedAt: 'completed_at', outcome: OUTCOME_OF_STACK, error: 'error_message', stack: 'error_stack', instance: 'NULL',
  });
  return {
    // dead of TaskLostError: the claim that found it lost too often ran no handler; its lost tries are stored already
    text: `UPDATE task_queue SET tries = CASE WHEN status = 'dead' AND started_at IS NOT NULL AND (error_stack IS NULL OR error_stack NOT LIKE 'TaskLostError%') THEN ${last} ELSE tries END,
       status = 'pending', attempts = 0, retry_count = 0, run_at = ?, seq = ?, error_message = NULL, error_stack = NULL, completed_at = NULL, started_at = NULL, lease_owner = NULL, lease_expires_at = NULL
       WHERE task_id = ? AND (status = 'dead' OR (status = 'pending' AND retry_count > 0))`,
    params: [Date.now(), seq.next(), taskId],
  };
}

/** Deletes a task that has finished; nothing for one still pending or running. */
export function deleteFinished(taskId: string): Statement {
  return { text: "DELETE FROM task_queue WHERE task_id = ? AND status IN ('succeeded', 'cancelled', 'dead')", params: [taskId] };
}

/** A cancel request for a running try, seen by the instance running it at its next cancel check. */
export function requestCancel(taskId: string): Statement {
  return { text: "UPDATE task_queue SET cancel_requested = 1 WHERE task_id = ? AND status = 'running'", params: [taskId] };
}

/** The tries an instance runs that were asked to stop. */
export function cancelRequests(owner: string): Statement {
  return { text: "SELECT task_id FROM task_queue WHERE status = 'running' AND lease_owner = ? AND cancel_requested = 1", params: [owner] };
}

/** A cancelled try ends its task cancelled; nothing when the lease was lost meanwhile. */
export function recordCancelled(task: Task, now: number): Statement {
  return {
    text: "UPDATE task_queue SET status = 'cancelled', completed_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE task_id = ? AND status = 'running' AND attempts = ?",
    params: [now, task.taskId, task.attempts],
  };
}
