import { Inject, Injectable, Optional } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from '../clock';
import { within } from '../deadline';
import { SchedulerTask } from '../entities/scheduler-task.entity';
import type { ResolvedOptions } from '../interfaces/options.interface';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../queue-scheduler.constants';
import { QueueConsumer } from '../queue/queue-consumer';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkerPoolService } from '../workers/worker-pool.service';

/** @publicApi */
export interface QueueSchedulerHealthOptions {
  /** Each check that touches the database or Redis fails after this long (a hung connection makes the check fail fast). @default 1000 */
  timeoutMs?: number | undefined;
  /**
   * The oldest overdue occurrence (an enabled schedule's `next_run_at` in the
   * past) may be this late before the check fails. `Infinity`: report only.
   * A schedule with `overlap: 'wait'` holding an occurrence for its previous run is not counted.
   * @default 60000
   */
  maxScheduleLagMs?: number | undefined;
}

/** One check's outcome: `status`, then what it measured, or `error` when it failed. @publicApi */
export type HealthCheckOutcome = { status: 'up' | 'down'; error?: string } & Record<string, unknown>;

/**
 * Each check of the library. A check that does not apply is left out:
 * `database` and `scheduleLag` without a data source, `scheduler` without SchedulerService,
 * `queue` unless the queue has a server of its own (the Redis backend).
 * @publicApi
 */
export interface QueueSchedulerHealthReport {
  /** true when every check is up. */
  healthy: boolean;
  /** `SELECT 1` on the library's data source. */
  database?: HealthCheckOutcome | undefined;
  /** The queue's own server answers (`backend: 'redis'`: PING); down at once while the connection is lost. */
  queue?: HealthCheckOutcome | undefined;
  /** The scheduler's loop runs (up when `scheduler.enabled` is false or a manual clock drives it). */
  scheduler?: HealthCheckOutcome | undefined;
  /** How late the oldest due occurrence is, across every instance sharing the database. */
  scheduleLag?: HealthCheckOutcome | undefined;
  /** The worker pool runs (up when `workers.enabled` is false). */
  workers: HealthCheckOutcome;
}

export const DEFAULT_HEALTH_TIMEOUT_MS = 1000;
export const DEFAULT_MAX_SCHEDULE_LAG_MS = 60_000;

/**
 * The library's health checks as plain data, without any dependency on
 * `@nestjs/terminus`: `QueueSchedulerHealthIndicator` (`nestjs-queue-scheduler/health`)
 * wraps it for terminus; an app may also call it from its own endpoint.
 * @publicApi
 */
@Injectable()
export class QueueSchedulerHealthService {
  constructor(
    private readonly workers: WorkerPoolService,
    private readonly consumer: QueueConsumer,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    @Optional() @Inject(SCHEDULER_DATA_SOURCE) private readonly dataSource?: DataSource,
    @Optional() private readonly scheduler?: SchedulerService,
    @Optional() @Inject(QUEUE_SCHEDULER_CLOCK) private readonly clock: Clock = systemClock,
  ) {}

  /** Runs every check at once; none takes longer than `timeoutMs`. */
  async check(options: QueueSchedulerHealthOptions = {}): Promise<QueueSchedulerHealthReport> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    const maxLagMs = options.maxScheduleLagMs ?? DEFAULT_MAX_SCHEDULE_LAG_MS;
    const dataSource = this.dataSource;
    const [database, scheduleLag, queue] = await Promise.all([
      dataSource && this.database(dataSource, timeoutMs),
      dataSource && this.scheduleLag(dataSource, timeoutMs, maxLagMs),
      this.queue(timeoutMs),
    ]);
    const checks: Omit<QueueSchedulerHealthReport, 'healthy'> = {
      ...(database && { database }),
      ...(queue && { queue }),
      ...(this.scheduler && { scheduler: this.schedulerState(this.scheduler) }),
      ...(scheduleLag && { scheduleLag }),
      workers: this.workerState(),
    };
    return { healthy: Object.values(checks).every((c) => c.status === 'up'), ...checks };
  }

  private async database(dataSource: DataSource, timeoutMs: number): Promise<HealthCheckOutcome> {
    const started = Date.now();
    try {
      await within(timeoutMs, 'SELECT 1', () => dataSource.query('SELECT 1'));
      return { status: 'up', responseTimeMs: Date.now() - started };
    } catch (err) {
      return { status: 'down', error: (err as Error).message };
    }
  }

  private async queue(timeoutMs: number): Promise<HealthCheckOutcome | undefined> {
    const reach = this.consumer.reach;
    if (!reach) return undefined;
    const backend = this.options.queue.backend;
    const started = Date.now();
    try {
      await within(timeoutMs, `${backend} PING`, () => reach.ping());
      return { status: 'up', backend, responseTimeMs: Date.now() - started };
    } catch (err) {
      return { status: 'down', backend, error: (err as Error).message };
    }
  }

  private async scheduleLag(dataSource: DataSource, timeoutMs: number, maxLagMs: number): Promise<HealthCheckOutcome> {
    const now = this.clock.now();
    try {
      const row = await within(timeoutMs, 'reading the oldest due schedule', () =>
        dataSource
          .getRepository(SchedulerTask)
          .createQueryBuilder('s')
          .select('MIN(s.next_run_at)', 'oldest')
          .addSelect('COUNT(*)', 'overdue')
          // next_run_at is null while a schedule is paused or finished, so this reads enabled schedules only
          .where('s.next_run_at <= :now', { now })
          // an overlap 'wait' schedule is late on purpose while its previous run lasts: not the scheduler's lag
          .andWhere("s.overlap <> 'wait'")
          .getRawOne<{ oldest: string | number | null; overdue: string | number }>(),
      );
      const oldest = row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest);
      const lagMs = oldest === null ? 0 : Math.max(0, now - oldest);
      const details = { lagMs, overdue: Number(row?.overdue ?? 0), maxLagMs };
      if (lagMs <= maxLagMs) return { status: 'up', ...details };
      return { status: 'down', ...details, error: `the oldest due occurrence is ${lagMs} ms late (more than ${maxLagMs} ms)` };
    } catch (err) {
      return { status: 'down', error: (err as Error).message };
    }
  }

  private schedulerState(scheduler: SchedulerService): HealthCheckOutcome {
    if (!this.options.scheduler.enabled) return { status: 'up', running: scheduler.running, enabled: false };
    // a manual (virtual) clock fires schedules through runDue; the loop never starts
    if (this.clock.manual) return { status: 'up', running: scheduler.running, manualClock: true };
    if (scheduler.running) return { status: 'up', running: true };
    return { status: 'down', running: false, error: 'the scheduler is not running' };
  }

  private workerState(): HealthCheckOutcome {
    const { running, busy, size } = this.workers;
    if (!this.options.workers.enabled) return { status: 'up', running, enabled: false };
    if (running) return { status: 'up', running, busy, size };
    return { status: 'down', running, busy, size, error: 'the worker pool is not running' };
  }
}
