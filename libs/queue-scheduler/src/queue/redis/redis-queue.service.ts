import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown, OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { describeValue, InvalidTaskError } from '../../errors/errors';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { PushTaskInput, Task, TaskEvent, TaskEventKind, TaskRecord } from '../../interfaces/task.interface';
import { RESOLVED_OPTIONS } from '../../queue-scheduler.constants';
import { LibraryLogger } from '../../queue-scheduler.logger';
import { type CancelTaskOptions, type ListTasksFilter, type StatusCounts, type TaskPage } from '../task-queue';
import { type OccurrenceClaim, type QueueCapabilities, QueueConsumer, pushAfterClaim } from '../queue-consumer';
import { type DurableConsumer, DurableTaskQueue, lostLeaseWarning, type PausedTypesStore } from '../durable-queue';
import type { TaskEventSubject } from '../task-events';
import { type NormalizedTask, normalizeBatch, normalizePush } from '../task-validation';
import { RedisConnection } from './redis-connection';
import { RedisConsumer } from './redis-consumer';
import { redisPausedTypes } from './redis-paused-types';
import { RedisCancels } from './redis-cancels';
import type { PublicStore } from '../../store/public-store';
import { RedisRetention } from './redis-retention';
import { jobDataOf, PRIORITY_LIMIT, PRIORITY_OFFSET, UNFINISHED_STATES } from './redis-jobs';
import { jobIdOf } from './redis-keys';
import { RedisStatus } from './redis-status';

const INDEX_TRIM_MS = 60_000;

/**
 * The Redis backend: each task is a BullMQ job (one BullMQ queue per task
 * type), shared by every instance on the Redis server. The worker pool keeps
 * its claim loop; claims are BullMQ Worker fetches (`getNextJob`), outcomes
 * are `moveToCompleted` / `moveToFailed`, leases are BullMQ job locks renewed
 * with `extendLock`, and BullMQ's stalled check re-queues the jobs of a dead
 * worker (at-least-once, as on the database backend).
 * @publicApi
 */
@Injectable()
export class RedisQueueService extends DurableTaskQueue implements QueueConsumer, OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  protected readonly logger: LibraryLogger;
  private readonly connection?: RedisConnection;
  /** The consumer side, typed as the base class sees it: its own type would pull the backend's driver types into the shipped declarations. */
  protected readonly consumer: DurableConsumer;
  private readonly jobConsumer: RedisConsumer;
  protected readonly pausedStore: PausedTypesStore;
  private statusReads?: RedisStatus;
  private retention?: RedisRetention;
  private trimTimer?: NodeJS.Timeout;
  private readonly cancels: RedisCancels;

  constructor(@Inject(RESOLVED_OPTIONS) protected readonly options: ResolvedOptions) {
    super();
    this.logger = new LibraryLogger(RedisQueueService.name, options.logLevel);
    this.consumer = this.jobConsumer = new RedisConsumer(this.owner, () => this.redis, options, this.logger, (kind, task, extra) => this.emit(kind, task, extra));
    this.pausedStore = redisPausedTypes(() => this.redis, options.queue.prefix);
    this.cancels = new RedisCancels(() => this.redis, options.queue.prefix, this.logger);
    // a completion fetches the next job of its type along: not one of a type paused since
    this.jobConsumer.isPaused = (type) => this.paused.has(type);
    // bullmq and ioredis are loaded only here, so the other backends never need them
    if (this.active) this.connection = new RedisConnection(options, this.logger, (jobId, type) => this.jobConsumer.onStalled(jobId, type));
  }

  get active(): boolean {
    return this.options.queue.backend === 'redis';
  }

  private get redis(): RedisConnection {
    if (!this.connection) throw new Error("RedisQueueService is used, but queue.backend is not 'redis'");
    return this.connection;
  }

  private get status(): RedisStatus {
    return (this.statusReads ??= new RedisStatus(this.redis));
  }

  /** A completion fetches the next job of its type (see RedisConsumer): the pool waits for it rather than claim another. */
  readonly capabilities: QueueCapabilities = { durable: true, soleConsumer: false, claimsOverlapWrites: false };

  onApplicationBootstrap(): void {
    if (!this.active || !this.options.autoStart) return;
    this.trimTimer = setInterval(() => {
      this.trimIndex().catch((err: unknown) => this.logger.error(`index trim failed: ${(err as Error).message}`, err));
    }, INDEX_TRIM_MS);
    this.trimTimer.unref();
  }

  /** Jobs fetched ahead for a type paused meanwhile go back to its queue: they have not started. */
  protected override typesPaused(types: ReadonlySet<string>): void {
    if (this.connection) void this.jobConsumer.releaseAhead(types);
  }

  onModuleDestroy(): void {
    clearInterval(this.trimTimer);
    this.jobConsumer.stop();
    this.taskEvents.complete();
  }

  /** After the worker pool drained (beforeApplicationShutdown), so its last outcomes still reach Redis. */
  async onApplicationShutdown(): Promise<void> {
    if (this.connection) await this.jobConsumer.releaseAhead();
    this.cancels.close();
    await this.connection?.close();
  }

  /**
   * Forgets index entries of jobs BullMQ removed after `queue.retentionDays`
   * (500 a pass; an entry goes on the second pass that finds its job missing),
   * then releases the types with nothing left (see RedisTypeRelease).
   * Runs every minute on its own; returns how many entries went.
   */
  trimIndex(): Promise<number> {
    this.retention ??= new RedisRetention(this.redis, this.options.queue.retentionDays);
    return this.retention.sweep();
  }

  // ---- producers -------------------------------------------------------

  async pushTask<P>(input: PushTaskInput<P>): Promise<string> {
    const task = this.normalize(input);
    if (await this.enqueue(task)) this.announce(task);
    return task.taskId;
  }

  /**
   * Pushes several tasks, in order, each with pushTask's dedupe rule. Every
   * input is validated before the first is queued, so a bad one queues none;
   * the adds themselves are one per task (BullMQ's addBulk has no dedupe).
   */
  async pushTasks<P>(inputs: PushTaskInput<P>[]): Promise<string[]> {
    const tasks = normalizeBatch(inputs, (input) => this.normalize(input));
    for (const task of tasks) if (await this.enqueue(task)) this.announce(task);
    return tasks.map((t) => t.taskId);
  }

  private normalize(input: PushTaskInput): NormalizedTask {
    const task = normalizePush(input, this.options.queue.maxPayloadBytes);
    if (Math.abs(task.priority) > PRIORITY_LIMIT) {
      throw new InvalidTaskError('priority', `priority must be an integer from -${PRIORITY_LIMIT} to ${PRIORITY_LIMIT} on the redis backend, got ${describeValue(task.priority)}`);
    }
    return task;
  }

  getQueueSize(): Promise<number> {
    return this.status.queueSize();
  }

  protected async unfinished(): Promise<number> {
    const c = await this.status.counts();
    return c.pending + c.running + c.failed;
  }

  getTask(taskId: string): Promise<TaskRecord> {
    return this.status.record(taskId);
  }

  listTasks(filter: ListTasksFilter = {}): Promise<TaskPage> {
    return this.status.list(filter);
  }

  countByStatus(): Promise<StatusCounts> {
    return this.status.counts();
  }

  async retryTask(taskId: string): Promise<void> {
    await this.status.retry(taskId);
    this.jobConsumer.wakeLocal(1);
  }

  /** A pending task is cancelled at once; for a running one the request is published to every instance (this one included). */
  async cancelTask(taskId: string, options: CancelTaskOptions = {}): Promise<boolean> {
    const record = await this.status.cancel(taskId);
    if (record) {
      this.emit('cancelled', record);
      return true;
    }
    const { job } = await this.status.find(taskId);
    if (options.running === false || !job || (await job.getState()) !== 'active') return false;
    await this.cancels.request(taskId);
    return true;
  }

  onCancelRequest(listener: (taskId: string) => boolean): void {
    if (this.connection) this.cancels.listen((taskId) => void listener(taskId));
  }

  async cancelled(task: Task, durationMs: number): Promise<void> {
    const lease = this.jobConsumer.leases.take(task);
    if (!lease) return this.logger.warn(lostLeaseWarning(task, 'cancelled'));
    await this.cancels.record(lease);
    this.emit('cancelled', task, { durationMs });
  }

  // ---- public store ----------------------------------------------------

  // typed as the interface: the declaration files must not name ioredis's types (an optional peer)
  protected get store(): PublicStore {
    return this.redis.store;
  }

  // ---- consumers -------------------------------------------------------

  pushClaimed(claim: OccurrenceClaim): Promise<string[] | null> {
    return pushAfterClaim((input) => this.pushTask(input), claim);
  }

  /**
   * The schedule's last pushed task (kept per schedule at push), then that
   * job's state: a few O(1) reads, no scan of the jobs. The scheduler starts
   * a 'skip' or 'wait' schedule's run only once the one before has finished,
   * so its last task is the only one that can be unfinished (a runNow beside
   * a running occurrence is the exception: the later push is the one looked at).
   */
  async hasUnfinishedRun(scheduleId: string): Promise<boolean> {
    const taskId = await this.redis.keys.lastRunOf(scheduleId);
    return taskId !== null && this.status.isUnfinished(taskId);
  }

  // ---- internals -------------------------------------------------------

  /**
   * Adds the job unless its id is pending or running; a finished (or
   * cancelled) id is queued anew. BullMQ ignores an add whose job id exists,
   * so a retried or racing push of one id enqueues it once.
   */
  private async enqueue(task: NormalizedTask): Promise<boolean> {
    const keys = this.redis.keys;
    const previousType = await keys.index(task.taskId, task.type, false);
    if (previousType !== null) {
      const previous = await this.redis.jobOf(previousType, task.taskId);
      const state = previous ? await previous.getState() : 'unknown';
      if (UNFINISHED_STATES.has(state) && !(await keys.isCancelled(task.taskId))) return false;
      await previous?.remove();
      await keys.forget(task.taskId);
      await keys.index(task.taskId, task.type, true);
    }
    const queue: Queue = this.redis.queueFor(task.type);
    // before the add: a crash between the two leaves a mark on a task that does not exist (read as finished), never a task without its mark
    if (task.schedulerTaskId !== undefined) await keys.noteRun(task.schedulerTaskId, task.taskId);
    await queue.add(task.type, jobDataOf(task), {
      jobId: jobIdOf(task.taskId),
      priority: task.priority + PRIORITY_OFFSET,
      delay: Math.max(0, task.runAtMs - Date.now()),
    });
    return true;
  }

  private announce(task: NormalizedTask): void {
    this.emit('queued', task);
    if (task.runAtMs > Date.now()) this.jobConsumer.wakeAt(new Date(task.runAtMs));
    else this.jobConsumer.wakeLocal(1);
  }

  private emit(kind: TaskEventKind, task: TaskEventSubject, extra?: Partial<TaskEvent>): void {
    this.taskEvents.emit(kind, task, extra?.durationMs, extra?.error, extra?.retryAt, extra?.progress);
  }
}
