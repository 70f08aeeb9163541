import { BeforeApplicationShutdown, Inject, Injectable, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Observable } from 'rxjs';
import type { DataSource, EntityManager, Repository } from 'typeorm';
import { type Clock, QUEUE_SCHEDULER_CLOCK, systemClock } from '../clock';
import { checkSchema } from '../database/schema-check';
import { SchedulerTask } from '../entities/scheduler-task.entity';
import { describeValue, InvalidArgumentError, TaskNotFoundError } from '../errors/errors';
import type { ResolvedOptions } from '../interfaces/options.interface';
import type { AddSchedulerTaskInput, ListSchedulesFilter, ScheduleEvent, UpdateSchedulerTaskInput } from '../interfaces/schedule.interface';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../queue-scheduler.constants';
import { LibraryLogger } from '../queue-scheduler.logger';
import { QueueConsumer } from '../queue/queue-consumer';
import { TaskQueue } from '../queue/task-queue';
import { callOptions } from '../queue/call-options';
import { initialRun } from './math/schedule-math';
import { nextOccurrences, type ScheduleTimingInput, upcomingRuns } from './next-occurrences';
import type { GivenBack } from './ahead-occurrences';
import { ScheduleLoop } from './schedule-loop';
import { tracingFor } from '../tracing/queue-tracing';
import { type ScheduleDefaults, validateSchedule } from './schedule-input';
import { ScheduleChanges } from './schedule-changes';

/**
 * Persistent interval / cron / once schedules in the app's database. Each
 * due occurrence is claimed with one compare-and-set on the row's version,
 * so any number of instances on one database fire it once, then pushed to
 * the queue as `{ type: taskType, params, schedulerTaskId, scheduledAt }`.
 * @publicApi
 */
@Injectable()
export class SchedulerService implements OnModuleInit, BeforeApplicationShutdown, OnModuleDestroy {
  /** Occurrences fired and misfires, as they happen on this instance. */
  readonly events$: Observable<ScheduleEvent>;
  private readonly logger: LibraryLogger;
  private readonly repo: Repository<SchedulerTask>;
  private readonly loop: ScheduleLoop;
  private readonly defaults: ScheduleDefaults;
  private readonly changes: ScheduleChanges;

  constructor(
    @Inject(SCHEDULER_DATA_SOURCE) private readonly dataSource: DataSource,
    private readonly queue: TaskQueue,
    consumer: QueueConsumer,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    @Optional() @Inject(QUEUE_SCHEDULER_CLOCK) private readonly clock: Clock = systemClock,
  ) {
    this.logger = new LibraryLogger(SchedulerService.name, options.logLevel);
    this.repo = dataSource.getRepository(SchedulerTask);
    this.loop = new ScheduleLoop(dataSource, queue, consumer, options.scheduler, this.logger, clock, tracingFor(options));
    this.events$ = this.loop.events.asObservable();
    this.defaults = {
      timezone: options.scheduler.defaultTimezone,
      misfirePolicy: options.scheduler.defaultMisfirePolicy,
      maxPayloadBytes: options.queue.maxPayloadBytes,
    };
    this.changes = new ScheduleChanges(this.repo, this.loop, queue, consumer, clock, this.defaults, this.logger);
  }

  /** Starts firing the schedules (unless autoStart or scheduler.enabled is off), then logs how many are enabled. */
  async onModuleInit(): Promise<void> {
    // with a manual clock its owner fires due schedules (runDue) as it moves time
    if (!this.options.autoStart || !this.options.scheduler.enabled || this.clock.manual) return;
    // awaited, so tables whose migrations have not run, or a bad connection, stop start-up
    await checkSchema(this.dataSource);
    this.start();
    // counted after the first look, not awaited: COUNT over every schedule is a full scan (2.4 s at 1M rows), boot need not
    // wait for a log line; and beside the first look it held a second pooled connection open for the app's lifetime
    void this.loop.betweenLooks().then(() => this.repo.count({ where: { enabled: true } })).then(
      (enabled) => this.logger.log(`${enabled} enabled schedule(s) in the database; scheduler started`),
      (err: unknown) => this.logger.debug(`scheduler started; counting the enabled schedules failed: ${(err as Error).message}`),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  onModuleDestroy(): void {
    this.loop.events.complete();
  }

  /**
   * Fires every occurrence due by the module's clock, once, without the
   * timer loop; resolves with when the next one is due (epoch ms) or null.
   * The testing module's virtual clock drives the scheduler through it.
   */
  runDue(): Promise<number | null> {
    return this.loop.runDue();
  }

  /** @internal the earliest next_run_at (epoch ms), read as every look at the table starts: the benchmarks time it. */
  nextDueAt(): Promise<number | null> {
    return this.loop.nextDueAt();
  }

  /**
   * @internal cancels the occurrences `row` queued ahead of their time, then
   * runs `write` (the change's compare-and-set) with the row's state as if
   * they had not been claimed (null: none was). Both run while this
   * instance's loop is not between a claim and its push, so every occurrence
   * the row says was claimed is in the queue to be cancelled.
   */
  cancelAheadThen<T>(row: SchedulerTask, cancelled: Set<number>, write: (givenBack: GivenBack | null, manager?: EntityManager) => Promise<T>): Promise<T> {
    return this.changes.cancelAheadThen(row, cancelled, write);
  }

  /** @internal the loop's first look waits for `ready`: the `@Scheduled` declarations written at bootstrap (see DeclaredSchedulesService). */
  holdFiringUntil(ready: Promise<unknown>): void {
    this.loop.holdUntil(ready);
  }

  /** Starts firing due occurrences (for `autoStart: false`). */
  start(): void {
    this.loop.start();
  }

  /**
   * Stops firing; resolves once no occurrence is being claimed or pushed. On
   * the memory backend, occurrences queued ahead of their time are cancelled
   * and given back to their schedules, so the next instance fires them.
   */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  get running(): boolean {
    return this.loop.running;
  }

  /** Stores a new schedule; bad input throws `InvalidScheduleError` naming the field, and nothing is written. */
  async addSchedule(input: AddSchedulerTaskInput): Promise<SchedulerTask> {
    const now = this.clock.now();
    const fields = validateSchedule(input, this.defaults, now);
    const row = this.repo.create({
      ...fields,
      taskId: randomUUID(),
      scheduleKey: null,
      declaredHash: null,
      runCount: 0,
      lastRunAt: null,
      nextRunAt: fields.enabled ? initialRun(fields, new Date(now)) : null,
      version: 0,
      createdAt: new Date(now),
      updatedAt: new Date(now),
    });
    // updateEntity(false): MariaDB's driver wrote the tinyint default back onto the entity, so `enabled` came back as 1 or 0
    await this.repo.createQueryBuilder().insert().values(row).updateEntity(false).execute();
    this.logger.log(`schedule ${row.taskId} '${row.name}' (${row.taskType}) added; next run ${row.nextRunAt?.toISOString() ?? 'none'}`);
    this.loop.wake();
    return row;
  }

  /** Unknown id → `TaskNotFoundError`, as for every method below that takes an id. */
  getSchedule(id: string): Promise<SchedulerTask> {
    return this.changes.read(id);
  }

  /** Oldest first; ties broken by id, so two calls list the same order. */
  async listSchedules(filter: ListSchedulesFilter | null = {}): Promise<SchedulerTask[]> {
    const enabledOnly = callOptions(filter, 'filter', '{ enabledOnly: true }').enabledOnly ?? false;
    if (typeof enabledOnly !== 'boolean') throw new InvalidArgumentError('enabledOnly', `enabledOnly must be a boolean, got ${describeValue(enabledOnly)}`);
    return this.repo.find({ where: enabledOnly ? { enabled: true } : {}, order: { createdAt: 'ASC', taskId: 'ASC' } });
  }

  /** Stops firing until resumed; persists across restarts. */
  pauseSchedule(id: string): Promise<SchedulerTask> {
    return this.changes.pause(id);
  }

  /** Fires again from now on (missed occurrences while paused are not caught up). */
  resumeSchedule(id: string): Promise<SchedulerTask> {
    return this.changes.resume(id);
  }

  /** Changes any field; the result is validated as a whole and the next run recomputed when the timing changed. */
  updateSchedule(id: string, patch: UpdateSchedulerTaskInput): Promise<SchedulerTask> {
    return this.changes.update(id, patch);
  }

  /** Deletes the schedule; occurrences it queued ahead of their time are cancelled. */
  deleteSchedule(id: string): Promise<void> {
    return this.changes.delete(id);
  }

  /**
   * The next `count` run times. Of a stored schedule (by id): as this
   * scheduler will fire them, from its next run (none while paused or
   * finished), or those after `from`. Of a timing not stored: as a schedule
   * added at `from` (default: the module's clock, now) would fire them, in the
   * module's `scheduler.defaultTimezone` unless it names one. Same maths as
   * the firing loop, DST rules included; see `nextOccurrences`.
   */
  async nextOccurrences(schedule: string | ScheduleTimingInput, count = 5, from?: Date): Promise<Date[]> {
    if (typeof schedule === 'string') return upcomingRuns(await this.getSchedule(schedule), count, from);
    // a value no id can be (a number, null) is an unknown schedule, as for every method that takes an id
    if (schedule === null || typeof schedule !== 'object') throw new TaskNotFoundError(schedule as never, 'schedule');
    return nextOccurrences({ ...schedule, timezone: schedule.timezone ?? this.defaults.timezone }, count, from ?? new Date(this.clock.now()));
  }

  /** Pushes one extra occurrence now; the schedule itself (next run, run count) is unchanged. Returns the task id. */
  async runNow(id: string): Promise<string> {
    const row = await this.getSchedule(id);
    // an id of its own per call: two calls in one ms (a fast SQLite read, or concurrent calls) were one task, a run lost
    return this.loop.push(row, new Date(this.clock.now()), `now-${randomUUID()}-`);
  }

  // The seed system's names, kept so code ported from it runs unchanged; each only forwards,
  // so behaviour and errors cannot drift from the schedule-named method.

  /** Alias of {@link addSchedule}, the seed system's name; kept for code ported from it. */
  addSchedulerTask(input: AddSchedulerTaskInput): Promise<SchedulerTask> {
    return this.addSchedule(input);
  }

  /** Alias of {@link getSchedule}, the seed system's name; kept for code ported from it. */
  getTask(id: string): Promise<SchedulerTask> {
    return this.getSchedule(id);
  }

  /** Alias of {@link listSchedules}, the seed system's name; kept for code ported from it. */
  listTasks(filter?: ListSchedulesFilter): Promise<SchedulerTask[]> {
    return this.listSchedules(filter);
  }

  /** Alias of {@link pauseSchedule}, the seed system's name; kept for code ported from it. */
  pauseTask(id: string): Promise<SchedulerTask> {
    return this.pauseSchedule(id);
  }

  /** Alias of {@link resumeSchedule}, the seed system's name; kept for code ported from it. */
  resumeTask(id: string): Promise<SchedulerTask> {
    return this.resumeSchedule(id);
  }

  /** Alias of {@link updateSchedule}, the seed system's name; kept for code ported from it. */
  updateTask(id: string, patch: UpdateSchedulerTaskInput): Promise<SchedulerTask> {
    return this.updateSchedule(id, patch);
  }

  /** Alias of {@link deleteSchedule}, the seed system's name; kept for code ported from it. */
  deleteTask(id: string): Promise<void> {
    return this.deleteSchedule(id);
  }

  /** Wakes the loop to look at the table now (after changes made outside this service). */
  wake(): void {
    this.loop.wake();
  }
}
