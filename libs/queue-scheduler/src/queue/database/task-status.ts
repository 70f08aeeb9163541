import { TaskNotFoundError } from '../../errors/errors';
import type { TaskRecord } from '../../interfaces/task.interface';
import type { ListTasksFilter, StatusCounts, TaskPage } from '../task-queue';
import { pageOf, pageRequest } from '../task-pages';
import type { Sql } from '../../database/sql';
import { reportedStatus, taskColumns, type TaskRow, toRecord } from './task-rows';

/**
 * The status API's reads of `task_queue` (sizes, one task, pages, counts by
 * status), apart from the claim and outcome paths that write it. Every
 * instance on the database sees the same answers.
 */
export class TaskStatusReads {
  constructor(private readonly sql: Sql) {}

  /** Tasks waiting (ready or delayed, retries included), not counting running ones. */
  async queueSize(): Promise<number> {
    return this.count("SELECT COUNT(*) AS n FROM task_queue WHERE status = 'pending'");
  }

  /** Tasks pending or running, on any instance. */
  async unfinished(): Promise<number> {
    return this.count("SELECT COUNT(*) AS n FROM task_queue WHERE status IN ('pending', 'running')");
  }

  async get(taskId: string): Promise<TaskRecord> {
    const rows = await this.sql.rows<TaskRow>(`SELECT ${taskColumns(this.sql)} FROM task_queue WHERE task_id = ?`, [taskId]);
    if (!rows.length) throw new TaskNotFoundError(taskId);
    const { seq: _seq, ...record } = toRecord(rows[0]);
    return record;
  }

  /** Newest first; the cursor is the last item's push order. */
  async list(filter: ListTasksFilter): Promise<TaskPage> {
    const { limit, before } = pageRequest(filter);
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status === 'failed' || filter.status === 'pending') {
      where.push(`status = 'pending' AND retry_count ${filter.status === 'failed' ? '>' : '='} 0`);
    } else if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.type) {
      where.push('task_type = ?');
      params.push(filter.type);
    }
    if (before !== undefined) {
      where.push('seq < ?');
      params.push(before);
    }
    const rows = await this.sql.rows<TaskRow>(
      `SELECT ${taskColumns(this.sql)} FROM task_queue ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${limit + 1}`,
      params,
    );
    return pageOf(rows.map(toRecord), limit, ({ seq: _seq, ...record }) => record);
  }

  async counts(): Promise<StatusCounts> {
    const rows = await this.sql.rows<{ status: string; retry_count: number | string; n: number | string }>(
      "SELECT status, CASE WHEN status = 'pending' AND retry_count > 0 THEN 1 ELSE 0 END AS retry_count, COUNT(*) AS n FROM task_queue GROUP BY status, CASE WHEN status = 'pending' AND retry_count > 0 THEN 1 ELSE 0 END",
    );
    const counts: StatusCounts = { pending: 0, running: 0, succeeded: 0, failed: 0, dead: 0, cancelled: 0 };
    for (const row of rows) counts[reportedStatus(row)] += Number(row.n);
    return counts;
  }

  private async count(query: string): Promise<number> {
    const [row] = await this.sql.rows<{ n: number | string }>(query);
    return Number(row.n);
  }
}
