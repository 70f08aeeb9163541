import { Subject } from 'rxjs';
import type { Repository } from 'typeorm';
import type { Clock } from '../clock';
import { SchedulerTask } from '../entities/scheduler-task.entity';
import type { ResolvedOptions } from '../interfaces/options.interface';
import type { ScheduleEvent } from '../interfaces/schedule.interface';
import type { PushTaskInput } from '../interfaces/task.interface';
import { MAX_TIMER_MS } from '../queue-scheduler.constants';
import type { LibraryLogger } from '../queue-scheduler.logger';
import type { TaskQueue } from '../queue/task-queue';
import { type FirePlan, planFire } from '../scheduling/schedule-math';

/** After a failed look at the table, wait this long times 2^failures (capped) before the next one. */
const ERROR_BACKOFF_MS = 500;
const MAX_ERROR_BACKOFF_MS = 30_000;

/** The id of the task an occurrence pushes: deterministic, so a repeated push of one occurrence is deduplicated. */
export function occurrenceTaskId(scheduleId: string, scheduledAt: Date, tag = ''): string {
  return `${scheduleId}:${tag}${scheduledAt.getTime()}`;
}

/**
 * The firing loop: no fixed tick. One indexed query returns the due rows
 * and, after them, the earliest upcoming one; the loop sleeps until that
 * time (at most pollIntervalMs, so other instances' changes are seen) or
 * until a local change wakes it.
 */
export class ScheduleLoop {
  private timer?: NodeJS.Timeout;
  private current?: Promise<void>;
  private again = false;
  private active = false;
  private failures = 0;
  readonly events = new Subject<ScheduleEvent>();

  constructor(
    private readonly repo: Repository<SchedulerTask>,
    private readonly queue: TaskQueue,
    private readonly options: ResolvedOptions['scheduler'],
    private readonly logger: LibraryLogger,
    private readonly clock: Clock,
  ) {}

  get running(): boolean {
    return this.active;
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.wake();
  }

  async stop(): Promise<void> {
    this.active = false;
    this.clearTimer();
    await this.current;
  }

  /**
   * Fires everything due by the clock, once, with no timer: how a manual
   * clock drives the scheduler. Returns when the next schedule is due
   * (epoch ms), or null when none is.
   */
  async runDue(): Promise<number | null> {
    if (this.current) await this.current;
    for (;;) {
      const next = await this.tick(true);
      if (next === null || next > this.clock.now()) break;
    }
    // the batch read before firing holds the fired rows' old times: ask again
    const [first] = await this.repo
      .createQueryBuilder('s')
      .where('s.next_run_at IS NOT NULL')
      .orderBy('s.next_run_at', 'ASC')
      .limit(1)
      .getMany();
    return first?.nextRunAt?.getTime() ?? null;
  }

  /** Look at the table now; if a look is under way, look again right after it. */
  wake(): void {
    if (!this.active) return;
    if (this.current) {
      this.again = true;
      return;
    }
    this.clearTimer();
    this.current = this.run().finally(() => (this.current = undefined));
  }

  /** Pushes one occurrence outside the schedule's own timing (runNow). */
  async push(row: SchedulerTask, scheduledAt: Date, tag = ''): Promise<string> {
    return this.queue.pushTask(this.occurrence(row, scheduledAt, tag));
  }

  private occurrence(row: SchedulerTask, scheduledAt: Date, tag = ''): PushTaskInput {
    // runNow's extra occurrence carries no scheduledAt fence: it is not one of the schedule's own occurrences
    return {
      taskId: occurrenceTaskId(row.taskId, scheduledAt, tag),
      type: row.taskType,
      params: row.params,
      priority: row.priority,
      schedulerTaskId: row.taskId,
      scheduledAt: tag ? undefined : scheduledAt,
    };
  }

  private async run(): Promise<void> {
    let sleepMs: number;
    do {
      this.again = false;
      try {
        const next = await this.tick(false);
        sleepMs = next === null ? this.options.pollIntervalMs : Math.max(0, Math.min(next - this.clock.now(), this.options.pollIntervalMs));
        this.failures = 0;
      } catch (err) {
        this.failures++;
        sleepMs = Math.min(ERROR_BACKOFF_MS * 2 ** (this.failures - 1), MAX_ERROR_BACKOFF_MS);
        this.logger.error(`scheduler: looking for due schedules failed (${this.failures} in a row), retrying in ${sleepMs} ms: ${(err as Error).message}`, err);
      }
    } while (this.active && (this.again || sleepMs === 0));
    if (!this.active) return;
    this.timer = setTimeout(() => this.wake(), Math.min(sleepMs, MAX_TIMER_MS));
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Fires what is due; returns when to look again (epoch ms): the earliest
   * upcoming next_run_at, now when a full batch was due, null when nothing is scheduled.
   */
  private async tick(always: boolean): Promise<number | null> {
    const { batchSize } = this.options;
    const rows = await this.repo
      .createQueryBuilder('s')
      .where('s.next_run_at IS NOT NULL')
      .orderBy('s.next_run_at', 'ASC')
      .limit(batchSize)
      .getMany();
    for (const row of rows) {
      if (!this.active && !always) return null;
      const now = this.clock.now();
      if (row.nextRunAt!.getTime() > now) return row.nextRunAt!.getTime();
      await this.fire(row, now);
    }
    return rows.length === batchSize ? this.clock.now() : null;
  }

  /**
   * Claims the row's due occurrences with one compare-and-set and pushes
   * them; on the database backend both happen in one transaction.
   */
  private async fire(row: SchedulerTask, now: number): Promise<void> {
    const plan = this.plan(row, now);
    const fired = plan.fire.length;
    const finished = plan.next === null;
    const ids = await this.queue.pushClaimed(async (manager) => {
      const result = await (manager ?? this.repo.manager)
        .createQueryBuilder()
        .update(SchedulerTask)
        .set({
          nextRunAt: plan.next,
          lastRunAt: plan.fire.at(-1) ?? row.lastRunAt,
          runCount: () => `run_count + ${fired}`,
          enabled: finished ? false : row.enabled,
          version: () => 'version + 1',
          updatedAt: new Date(now),
        })
        .where('task_id = :id AND version = :version', { id: row.taskId, version: row.version })
        .execute();
      if (result.affected !== 1) return null; // another instance claimed it first
      return plan.fire.map((at) => this.occurrence(row, at));
    });
    if (!ids) return;
    const at = new Date(this.clock.now());
    const about = { scheduleId: row.taskId, name: row.name, taskType: row.taskType };
    if (plan.missed > 0) {
      this.logger.warn(`schedule ${row.taskId} '${row.name}' (${row.taskType}): ${plan.missed} occurrence(s) missed, policy ${row.misfirePolicy}`);
      this.emit({ kind: 'missed', ...about, missed: plan.missed, policy: row.misfirePolicy, at });
    }
    ids.forEach((taskId, i) => this.emit({ kind: 'fired', ...about, taskId, scheduledAt: plan.fire[i], at }));
    if (this.logger.enabled('debug')) {
      ids.forEach((taskId, i) => {
        this.logger.debug(`task ${taskId} (${row.taskType}) pushed by schedule '${row.name}', scheduled ${plan.fire[i].toISOString()}, ${now - plan.fire[i].getTime()} ms late`);
      });
    }
    if (finished) this.logger.log(`schedule ${row.taskId} '${row.name}' finished after ${row.runCount + fired} run(s)`);
  }

  private emit(event: ScheduleEvent): void {
    if (this.events.observed) this.events.next(event);
  }

  private plan(row: SchedulerTask, now: number): FirePlan {
    const plan = planFire(row, row.nextRunAt!, new Date(now), row.misfirePolicy, this.options.misfireGraceSeconds * 1000, this.options.maxCatchUp);
    if (row.maxRuns <= 0) return plan;
    const left = Math.max(0, row.maxRuns - row.runCount);
    const fire = plan.fire.slice(0, left);
    return { ...plan, fire, next: row.runCount + fire.length >= row.maxRuns ? null : plan.next };
  }
}
