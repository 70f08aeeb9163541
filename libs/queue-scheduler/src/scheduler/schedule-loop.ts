import { Subject } from 'rxjs';
import type { EntityManager, Repository } from 'typeorm';
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
/** Due rows claimed in one transaction: one commit (one log flush) for them all, instead of one each. */
const FIRE_CHUNK = 20;
/** Pause before reading the due rows again when other instances held every row of a chunk. */
const LOST_CLAIMS_PAUSE_MS = 50;

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
  /** Row locks that can be skipped (MySQL 8, MariaDB 10.6+, PostgreSQL); SQLite has one writer and no row locks. */
  private readonly skipLocked: boolean;
  private readonly lockRow: string;
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
  ) {
    const type: string = repo.manager.connection.options.type;
    this.skipLocked = ['mysql', 'mariadb', 'aurora-mysql', 'postgres', 'aurora-postgres'].includes(type);
    const [id, version] = type.includes('postgres') ? ['$1', '$2'] : ['?', '?'];
    this.lockRow = `SELECT task_id FROM scheduler_task WHERE task_id = ${id} AND version = ${version} FOR UPDATE SKIP LOCKED`;
  }

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
    const start = this.clock.now();
    const due = rows.findIndex((r) => r.nextRunAt!.getTime() > start);
    const dueRows = due === -1 ? rows : rows.slice(0, due);
    // Instances that read the same due batch would otherwise claim it in the same order, each waiting on the
    // row the first one holds: work through it from a random point, so they mostly claim different rows.
    // A manual clock (runDue) keeps the time order.
    const offset = always || dueRows.length < 2 ? 0 : Math.floor(Math.random() * dueRows.length);
    const ordered = [...dueRows.slice(offset), ...dueRows.slice(0, offset)];
    let won = 0;
    for (let i = 0; i < ordered.length; i += FIRE_CHUNK) {
      if (!this.active && !always) return null;
      const claimed = await this.fire(ordered.slice(i, i + FIRE_CHUNK), this.clock.now());
      won += claimed;
      // A chunk wholly lost means the rest of the batch is probably another instance's by now, and a fresh read
      // no longer holds the rows it claimed. Having won nothing (rows held by a stalled instance), pause rather than spin.
      if (claimed === 0) return this.clock.now() + (won > 0 ? 0 : LOST_CLAIMS_PAUSE_MS);
    }
    if (due !== -1) return rows[due].nextRunAt!.getTime();
    return rows.length === batchSize ? this.clock.now() : null;
  }

  /**
   * Claims the rows' due occurrences, each with one compare-and-set, and
   * pushes them; on the database backend all of it is one transaction (one
   * commit for the chunk). Returns how many rows this instance claimed.
   */
  private async fire(rows: SchedulerTask[], now: number): Promise<number> {
    const plans = new Map(rows.map((row) => [row, this.plan(row, now)]));
    let won: SchedulerTask[] = [];
    const ids = await this.queue.pushClaimed(async (manager) => {
      won = []; // a transaction rolled back for a deadlock runs this again from the start
      for (const row of rows) if (await this.claim(row, plans.get(row)!, now, manager)) won.push(row);
      return won.length ? won.flatMap((row) => plans.get(row)!.fire.map((at) => this.occurrence(row, at))) : null;
    });
    if (!ids) return 0;
    let next = 0;
    for (const row of won) {
      const plan = plans.get(row)!;
      this.fired(row, plan, ids.slice(next, next + plan.fire.length), now);
      next += plan.fire.length;
    }
    return won.length;
  }

  private async claim(row: SchedulerTask, plan: FirePlan, now: number, manager?: EntityManager): Promise<boolean> {
    // in a transaction (database backend) another instance may hold this row until its commit: skip it rather
    // than wait, its claim moves next_run_at anyway; a row another instance already claimed fails here too
    if (manager && this.skipLocked && !(await manager.query(this.lockRow, [row.taskId, row.version])).length) return false;
    const result = await (manager ?? this.repo.manager)
      .createQueryBuilder()
      .update(SchedulerTask)
      .set({
        nextRunAt: plan.next,
        lastRunAt: plan.fire.at(-1) ?? row.lastRunAt,
        runCount: () => `run_count + ${plan.fire.length}`,
        enabled: plan.next === null ? false : row.enabled,
        version: () => 'version + 1',
        updatedAt: new Date(now),
      })
      .where('task_id = :id AND version = :version', { id: row.taskId, version: row.version })
      .execute();
    return result.affected === 1; // 0: another instance claimed it first
  }

  /** Logs and reports one claimed row's occurrences. */
  private fired(row: SchedulerTask, plan: FirePlan, ids: string[], now: number): void {
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
    if (plan.next === null) this.logger.log(`schedule ${row.taskId} '${row.name}' finished after ${row.runCount + plan.fire.length} run(s)`);
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
