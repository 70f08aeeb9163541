import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { TaskNotFoundError } from '../../errors/errors';
import { notRetryable } from '../../errors/conflict-errors';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { InstanceLoad, PushTaskInput, Task, TaskRecord } from '../../interfaces/task.interface';
import { RESOLVED_OPTIONS, SCHEDULER_DATA_SOURCE } from '../../queue-scheduler.constants';
import { LibraryLogger } from '../../queue-scheduler.logger';
import { type CancelTaskOptions, type ListTasksFilter, type StatusCounts, type TaskPage } from '../task-queue';
import { type OccurrenceClaim, type QueueCapabilities, QueueConsumer, type ScheduleChangeTx } from '../queue-consumer';
import { FINISHED_STATUSES } from '../cluster-events';
import { type ClusterEventFeed, type DurableConsumer, DurableTaskQueue, type PausedTypesStore } from '../durable-queue';
import { cancelOptions, type NormalizedTask, normalizeBatch, normalizePush, storableKey } from '../task-validation';
import { dialectOfDataSource, Sql } from '../../database/sql';
import type { PermitStore } from '../rate-windows';
import { type QueueTracing, tracingFor } from '../../tracing/queue-tracing';
import type { DatabaseConsumer, DatabaseFlows, DatabasePublicStore, Sequence, SingletonPushes, TaskInserts, TaskStatusReads } from './database-parts';
import type * as DatabaseParts from './database-parts';

// The backend's own code (~100 KB) is loaded when a DatabaseQueueService is made: on another backend Nest gets an inactive stand-in.
let parts: typeof DatabaseParts | undefined;
const databaseParts = (): typeof DatabaseParts => (parts ??= require('./database-parts') as typeof DatabaseParts);
/** cancelTask's tries while the task changes state under it; each change is a step of its life, so a few suffice. */
const CANCEL_ROUNDS = 5;

/**
 * The durable backend: tasks are rows of `task_queue`, shared by every
 * instance on the database. Claims take a batch with FOR UPDATE SKIP LOCKED
 * (MySQL 8 / MariaDB 10.6+ / PostgreSQL) or one conditional UPDATE (SQLite);
 * a claimed task holds a lease that its worker renews, and a task whose
 * worker died is claimed again once the lease runs out (at-least-once).
 *
 * This class is the producer and status side, and the facade of the
 * consumer side (DatabaseConsumer) that the worker pool drives. The SQL
 * text of every statement is in `./statements/`.
 * @publicApi
 */
@Injectable()
export class DatabaseQueueService extends DurableTaskQueue implements QueueConsumer, OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  readonly capabilities: QueueCapabilities = { durable: true, soleConsumer: false, claimsOverlapWrites: true };
  protected readonly logger: LibraryLogger;
  private readonly sql: Sql;
  protected readonly store: DatabasePublicStore;
  private readonly status: TaskStatusReads;
  private readonly seq: Sequence;
  private readonly inserts: TaskInserts;
  private readonly singletons: SingletonPushes;
  /** The consumer side, typed as the base class sees it: its own type would pull the backend's driver types into the shipped declarations. */
  protected readonly consumer: DurableConsumer;
  private readonly sqlConsumer: DatabaseConsumer;
  protected readonly pausedStore: PausedTypesStore;
  protected readonly permitStore: PermitStore;
  private readonly tracing: QueueTracing | undefined;
  protected override readonly flows: DatabaseFlows;

  constructor(
    @Inject(SCHEDULER_DATA_SOURCE) dataSource: DataSource,
    @Inject(RESOLVED_OPTIONS) protected readonly options: ResolvedOptions,
  ) {
    super();
    this.logger = new LibraryLogger(DatabaseQueueService.name, options.logLevel);
    this.sql = new Sql(dataSource, dialectOfDataSource(dataSource));
    const { DatabasePublicStore, Sequence, TaskStatusReads, TaskInserts, databasePausedTypes, databasePermits, SingletonPushes, DatabaseFlows, DatabaseConsumer } = databaseParts();
    this.seq = new Sequence();
    this.store = new DatabasePublicStore(this.sql, options.store.maxValueBytes);
    this.status = new TaskStatusReads(this.sql);
    this.inserts = new TaskInserts(this.sql, this.seq, options.queue.clusterEvents);
    this.pausedStore = databasePausedTypes(this.sql);
    this.permitStore = databasePermits(this.sql);
    this.singletons = new SingletonPushes(this.sql, this.inserts, this.logger);
    this.tracing = tracingFor(options);
    this.flows = new DatabaseFlows(this.sql, this.seq, (input) => this.normalize(input), (tasks) => this.announce(tasks), options.queue.clusterEvents, this.taskEvents);
    this.consumer = this.sqlConsumer = new DatabaseConsumer(this.owner, this.sql, options, this.logger, this.taskEvents, () => this.store.cleanup());
  }

  get active(): boolean {
    return this.options.queue.backend === 'database';
  }

  onApplicationBootstrap(): void {
    if (this.active && this.options.autoStart) this.startMaintenance();
  }

  onModuleDestroy(): void {
    this.sqlConsumer.stop();
    this.taskEvents.complete();
  }

  /**
   * The worker pool depends on this service, so Nest drains it first; what it
   * recorded is written here, before TypeORM closes the DataSource.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.sqlConsumer.drain();
  }

  /** Lease renewal, reclaiming of expired leases, retention and store cleanup, on unref'd timers. */
  startMaintenance(): void {
    this.sqlConsumer.startMaintenance();
  }

  stopMaintenance(): void {
    this.sqlConsumer.stopMaintenance();
  }

  async pushTask<P>(input: PushTaskInput<P>): Promise<string> {
    const task = this.normalize(input);
    if (task.singleton !== undefined) return (await this.pushSingletons([task]))[0];
    this.announce(await this.inserts.insert([task]));
    return task.taskId;
  }

  /** Pushes several tasks in one statement; each keeps pushTask's dedupe rule (and its singleton rule: then one transaction). */
  async pushTasks<P>(inputs: PushTaskInput<P>[]): Promise<string[]> {
    const tasks = normalizeBatch(inputs, (input) => this.normalize(input));
    if (tasks.some((t) => t.singleton !== undefined)) return this.pushSingletons(tasks);
    const inserted = await this.inserts.insert(tasks);
    this.announce(inserted);
    return tasks.map((t) => t.taskId);
  }

  /** A schedule change's cancels and its write to the schedule's row, in one transaction (QueueConsumer.inScheduleChange). */
  inScheduleChange<T>(work: (tx: ScheduleChangeTx) => Promise<T>): Promise<T> {
    return this.flows.inScheduleChange(work, (task) => this.taskEvents.emit('cancelled', task));
  }

  /** Runs the scheduler's claim and inserts its occurrences (a flow schedule's: whole trees) in the same transaction. */
  async pushClaimed(claim: OccurrenceClaim): Promise<string[] | null> {
    const result = await this.sql.transaction(async (runner) => {
      const inputs = await claim(runner.manager);
      if (!inputs) return null;
      const inserted = [...(await this.inserts.insert(inputs.filter((i) => i.children === undefined).map((i) => this.normalize(i)), runner))];
      for (const root of inputs) if (root.children !== undefined) inserted.push(...(await this.flows.insertOccurrence(root, runner)));
      return { ids: inputs.map((i) => i.taskId!), inserted };
    });
    if (!result) return null;
    this.announce(result.inserted);
    // occurrences claimed ahead each start at their own time, and announce() wakes a worker for the earliest only
    const later = [...new Set(result.inserted.map((t) => t.runAtMs).filter((t) => t > Date.now()))].sort((a, b) => a - b);
    for (const at of later.slice(1)) this.sqlConsumer.wakeAt(new Date(at));
    return result.ids;
  }

  /**
   * Read in the scheduler's claim transaction (`manager`), after its row lock
   * (or before its compare-and-set on SQLite): the previous run's task row was
   * inserted by the claim that committed before, so the check and the claim
   * cannot interleave with another instance's claim of the same schedule.
   */
  hasUnfinishedRun(scheduleId: string, manager?: EntityManager): Promise<boolean> {
    return this.status.scheduleBusy(scheduleId, manager?.queryRunner);
  }

  getQueueSize(): Promise<number> {
    return this.status.queueSize();
  }

  protected unfinished(): Promise<number> {
    return this.status.unfinished();
  }

  getTask(taskId: string): Promise<TaskRecord> {
    // no stored id can hold what an id may not (PostgreSQL would refuse a NUL in the query itself)
    if (!storableKey(taskId)) return Promise.reject(new TaskNotFoundError(taskId));
    return this.status.get(taskId);
  }

  listTasks(filter: ListTasksFilter = {}): Promise<TaskPage> {
    return this.status.list(filter);
  }

  countByStatus(): Promise<StatusCounts> {
    return this.status.counts();
  }

  runningByInstance(): Promise<InstanceLoad[]> {
    return this.status.byInstance(this.owner);
  }

  async retryTask(taskId: string): Promise<void> {
    if (!storableKey(taskId)) throw new TaskNotFoundError(taskId);
    const retried = await this.flows.retry(taskId, databaseParts().retryTask(this.sql, this.seq, taskId), this.options.queue.clusterEvents);
    if ('status' in retried) throw notRetryable(taskId, retried.status);
    this.taskEvents.emit('queued', { taskId, type: retried.type });
    this.sqlConsumer.wakeLocal(1);
  }

  async cancelTask(taskId: string, options?: CancelTaskOptions): Promise<boolean> {
    const { running } = cancelOptions(options);
    if (!storableKey(taskId)) throw new TaskNotFoundError(taskId);
    // a task changing state between the two statements (its push committing, a claim) matches neither: read it, and
    // while it is still unfinished try again (another instance's cancel returned false for a task that then ran)
    for (let round = 1; ; round++) {
      const cancelled = await this.flows.cancel(taskId, this.options.queue.clusterEvents);
      for (const task of cancelled) this.taskEvents.emit('cancelled', task);
      if (cancelled.length > 0 || (running !== false && (await this.requestCancel(taskId)))) return true;
      const { status } = await this.getTask(taskId);
      if (FINISHED_STATUSES.has(status) || (status === 'running' && running === false) || round === CANCEL_ROUNDS) return false;
    }
  }

  async deleteTask(taskId: string): Promise<boolean> {
    if (!storableKey(taskId)) throw new TaskNotFoundError(taskId);
    const deleted = await this.flows.delete(taskId);
    if (deleted === undefined) throw new TaskNotFoundError(taskId);
    return deleted;
  }

  /** A running task: the request is stored for whichever instance runs it (this one is told at once); false when none runs. */
  private async requestCancel(taskId: string): Promise<boolean> {
    const request = databaseParts().requestCancel(taskId);
    if ((await this.sql.affected(request.text, request.params)) === 0) return false;
    await this.sqlConsumer.checkCancels();
    return true;
  }

  onCancelRequest(listener: (taskId: string) => boolean): void {
    this.sqlConsumer.cancelListener = listener;
  }

  cancelled(task: Task, durationMs: number): Promise<void> {
    return this.flows.childCancelled(task, (then) => this.sqlConsumer.cancelled(task, durationMs, then));
  }

  // ---- consumers (see DatabaseConsumer) --------------------------------

  /** Re-queues tasks whose lease ran out (their worker died or stalled) and purges rows past retention. */
  sweep(): Promise<{ reclaimed: number; purged: number }> {
    return this.sqlConsumer.sweep();
  }

  protected readonly createClusterEvents = (): ClusterEventFeed => new (databaseParts().DatabaseClusterEvents)(this.sql, this.options, this.logger);
  /** A push validated, with the trace context to store when tracing. */
  private normalize(input: PushTaskInput): NormalizedTask {
    const task = normalizePush(this.whileOpen(input), this.options.queue.maxPayloadBytes);
    if (this.tracing !== undefined) task.traceContext = this.tracing.pushed(task);
    return task;
  }

  private async pushSingletons(tasks: NormalizedTask[]): Promise<string[]> {
    const { ids, inserted } = await this.singletons.push(tasks);
    this.announce(inserted);
    return ids;
  }

  private announce(tasks: NormalizedTask[]): void {
    if (!tasks.length) return;
    for (const t of tasks) this.taskEvents.emit('queued', t);
    const now = Date.now();
    const due = tasks.filter((t) => t.runAtMs <= now).length;
    this.sqlConsumer.wakeLocal(due);
    const later = tasks.filter((t) => t.runAtMs > now).sort((a, b) => a.runAtMs - b.runAtMs)[0];
    if (later) this.sqlConsumer.wakeAt(new Date(later.runAtMs));
  }
}

/** Whether an id could be stored at all: one that could not names no task (and PostgreSQL would refuse a NUL in the query). */
