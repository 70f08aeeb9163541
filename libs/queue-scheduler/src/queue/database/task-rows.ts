import type { TaskProgress, TaskRecord, TaskStatus } from '../../interfaces/task.interface';
import type { Sql } from '../../database/sql';

/** A task_queue row as the drivers return it (bigints may be strings). */
export interface TaskRow {
  task_id: string;
  seq: string | number;
  task_type: string;
  params: string;
  status: string;
  priority: number | string;
  run_at: string | number;
  attempts: number | string;
  retry_count: number | string;
  max_retries: number | string | null;
  scheduler_task_id: string | null;
  scheduled_at: string | number | null;
  error_message: string | null;
  result: string | null;
  created_at: string | number;
  started_at: string | number | null;
  completed_at: string | number | null;
  progress: string | null;
  singleton_key: string | null;
  trace_context: string | null;
  parent_id: string | null;
  /** Read by the status API only (not by a claim). */
  error_stack?: string | null;
  /** One task's read only: its stored tries, as JSON text. */
  tries?: string | null;
  lease_owner?: string | null;
}

/** The select list of a full task row, JSON columns read back as text. */
export function taskColumns(sql: Sql): string {
  return [
    'task_id', 'seq', 'task_type', `${sql.json('params')} AS params`, 'status', 'priority', 'run_at', 'attempts',
    'retry_count', 'max_retries', 'scheduler_task_id', 'scheduled_at', 'error_message', `${sql.json('result')} AS result`,
    'created_at', 'started_at', 'completed_at', 'singleton_key', `${sql.json('progress')} AS progress`, 'trace_context', 'parent_id',
  ].join(', ');
}

const date = (v: string | number | null): Date | undefined => (v === null || v === undefined ? undefined : new Date(Number(v)));

/**
 * A retry waiting for its time is stored as pending with a recorded failure,
 * so one status feeds the claim index; the API reports it as `failed`, as the
 * memory backend does.
 */
export function reportedStatus(row: Pick<TaskRow, 'status' | 'retry_count'>): TaskStatus {
  if (row.status === 'pending' && Number(row.retry_count) > 0) return 'failed';
  return row.status as TaskStatus;
}

export function toRecord(row: TaskRow): TaskRecord & { seq: number } {
  return {
    taskId: row.task_id,
    seq: Number(row.seq),
    type: row.task_type,
    params: JSON.parse(row.params) as unknown,
    priority: Number(row.priority),
    runAt: new Date(Number(row.run_at)),
    attempts: Number(row.attempts),
    maxRetries: row.max_retries === null ? undefined : Number(row.max_retries),
    schedulerTaskId: row.scheduler_task_id ?? undefined,
    scheduledAt: date(row.scheduled_at),
    createdAt: new Date(Number(row.created_at)),
    status: reportedStatus(row),
    singletonKey: row.singleton_key ?? undefined,
    startedAt: date(row.started_at),
    completedAt: date(row.completed_at),
    error: row.error_message ?? undefined,
    errorStack: row.error_stack ?? undefined,
    result: row.result === null || row.result === undefined ? undefined : (JSON.parse(row.result) as unknown),
    progress: row.progress === null || row.progress === undefined ? undefined : (JSON.parse(row.progress) as TaskProgress),
    traceContext: row.trace_context ?? undefined,
    parentId: row.parent_id ?? undefined,
  };
}

/** Strictly increasing push order for this process: epoch microseconds, bumped on ties. */
export class Sequence {
  private last = 0;

  next(): number {
    this.last = Math.max(this.last + 1, Date.now() * 1000);
    return this.last;
  }
}
