import { TaskNotFoundError } from '../../errors/errors';
import type { InstanceLoad, TaskRecord } from '../../interfaces/task.interface';
import { storedTries, triesOf } from '../task-tries';
import type { ListTasksFilter, StatusCounts, TaskPage } from '../task-queue';
import { pageOf, pageRequest } from '../task-pages';
import type { QueryRunner } from 'typeorm';
import type { Sql } from '../../database/sql';
import { reportedStatus, type TaskRow, toRecord } from './task-rows';
import { COUNT_BY_STATUS, COUNT_PENDING, COUNT_UNFINISHED, listTasks, RUNNING_BY_OWNER, SCHEDULE_UNFINISHED, selectTask } from './statements/status';

/**
 * The status API's reads of `task_queue` (sizes, one task, pages, counts by
 * status), apart from the claim and outcome paths that write it. Every
 * instance on the database sees the same answers.
 */
export class TaskStatusReads {
  constructor(private readonly sql: Sql) {}

  /** Tasks waiting (ready or delayed, retries included), not counting running ones. */
  async queueSize(): Promise<number> {
    return this.count(COUNT_PENDING);
  }

  /** Tasks pending or running, on any instance. */
  async unfinished(): Promise<number> {
    return this.count(COUNT_UNFINISHED);
  }

  /** Whether schedule `scheduleId` has a task pending or running; in the caller's transaction when `runner` is given. */
  async scheduleBusy(scheduleId: string, runner?: QueryRunner): Promise<boolean> {
    return this.sql.exists(SCHEDULE_UNFINISHED, [scheduleId], runner);
  }

  async get(taskId: string): Promise<TaskRecord> {
    const { text, params } = selectTask(this.sql, taskId);
    const rows = await this.sql.rows<TaskRow>(text, params);
    if (!rows.length) throw new TaskNotFoundError(taskId);
    const { seq: _seq, ...record } = toRecord(rows[0]);
    record.tries = triesOf(record, storedTries(rows[0].tries), rows[0].lease_owner ?? undefined);
    return record;
  }

  /** Busy workers per instance, from the leases of the running rows; `self` listed even when idle. */
  async byInstance(self: string): Promise<InstanceLoad[]> {
    const rows = await this.sql.rows<{ lease_owner: string | null; n: number | string }>(RUNNING_BY_OWNER);
    const loads = rows.filter((r) => r.lease_owner !== null).map((r) => ({ instance: r.lease_owner!, running: Number(r.n), self: r.lease_owner === self }));
    if (!loads.some((l) => l.self)) loads.push({ instance: self, running: 0, self: true });
    return loads.sort((a, b) => a.instance.localeCompare(b.instance));
  }

  /** Newest first; the cursor is the last item's push order and id (two instances' pushes can share a push order). */
  async list(filter: ListTasksFilter): Promise<TaskPage> {
    const page = pageRequest(filter);
    const { text, params } = listTasks(this.sql, filter, page);
    const rows = await this.sql.rows<TaskRow>(text, params);
    return pageOf(rows.map(toRecord), page.limit, ({ seq: _seq, ...record }) => record, (r) => r.taskId);
  }

  async counts(): Promise<StatusCounts> {
    const rows = await this.sql.rows<{ status: string; retry_count: number | string; n: number | string }>(COUNT_BY_STATUS);
    const counts: StatusCounts = { pending: 0, running: 0, succeeded: 0, failed: 0, dead: 0, cancelled: 0, waiting: 0 };
    for (const row of rows) counts[reportedStatus(row)] += Number(row.n);
    return counts;
  }

  private async count(query: string): Promise<number> {
    const [row] = await this.sql.rows<{ n: number | string }>(query);
    return Number(row.n);
  }
}
