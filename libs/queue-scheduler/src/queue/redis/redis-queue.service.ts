import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown, OnModuleDestroy } from '@nestjs/common';
import { describeValue, InvalidTaskError } from '../../errors/errors';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { InstanceLoad, PushTaskInput, Task, TaskEvent, TaskEventKind, TaskRecord } from '../../interfaces/task.interface';
import { RESOLVED_OPTIONS } from '../../queue-scheduler.constants';
import { LibraryLogger } from '../../queue-scheduler.logger';
import { type CancelTaskOptions, type ListTasksFilter, type StatusCounts, type TaskPage } from '../task-queue';
import { type BackendReach, type OccurrenceClaim, type QueueCapabilities, QueueConsumer, pushAfterClaim } from '../queue-consumer';
import { type ClusterEventFeed, type DurableConsumer, DurableTaskQueue, type PausedTypesStore } from '../durable-queue';
import { refuseParentDeadOfChild } from '../flow-validation';
import type { TaskEventSubject } from '../task-events';
import { cancelOptions, type NormalizedTask, normalizeBatch, normalizePush, type SingletonRule } from '../task-validation';
import type { PermitStore } from '../rate-windows';
import type { PublicStore } from '../../store/public-store';
import { type QueueTracing, tracingFor } from '../../tracing/queue-tracing';
import type { RedisCancels, RedisConnection, RedisConsumer, RedisFlows, RedisRetention, RedisSingletons, RedisStatus } from './redis-parts';
import type * as RedisParts from './redis-parts';

// The backend's own code (~130 KB) is loaded when a RedisQueueService is made: on another backend Nest gets an inactive stand-in.
let parts: typeof RedisParts | undefined;
const redisParts = (): typeof RedisParts => (parts ??= require('./redis-parts') as typeof RedisParts);

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
  protected readonly permitStore: PermitStore;
  private statusReads?: RedisStatus;
  private retention?: RedisRetention;
  private singletonSlots?: RedisSingletons;
  private shutdown?: Promise<void>;
  private readonly cancels: RedisCancels;
  private readonly tracing: QueueTracing | undefined;
  /** @internal the declarations must not name RedisFlows: its constructor's types reach bullmq's and ioredis's (optional peers) */ protected override readonly flows: RedisFlows;

  constructor(@Inject(RESOLVED_OPTIONS) protected readonly options: ResolvedOptions) {
    super();
    this.logger = new LibraryLogger(RedisQueueService.name, options.logLevel);
    this.tracing = tracingFor(options);
    const { RedisConsumer, redisPausedTypes, redisPermits, RedisCancels, RedisFlows, RedisConnection } = redisParts();
    this.consumer = this.jobConsumer = new RedisConsumer(this.owner, () => this.redis, options, this.logger, (kind, task, extra) => this.emit(kind, task, extra), this.tracing);
    this.pausedStore = redisPausedTypes(() => this.redis, options.queue.prefix);
    this.permitStore = redisPermits(() => this.redis, options.queue.prefix);
    this.cancels = new RedisCancels(() => this.redis, options.queue.prefix, this.logger, (job) => this.flows.runningCancelled(job));
    // a completion fetches the next job of its type along: not one of a type paused since, nor of a rate-limited one
    this.jobConsumer.fetchesAlong = (type) => this.fetchesAlong(type);
    this.jobConsumer.handedOut = (tasks) => this.cancels.handedOut(tasks, (task) => this.jobConsumer.leases.held(task)?.job.processedOn);
    this.flows = new RedisFlows(this.jobConsumer, (input) => this.normalize(input), (id) => this.status.record(id), (tasks) => tasks.forEach((t) => this.announce(t)));
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

  private get status(): RedisStatus { return (this.statusReads ??= new (redisParts().RedisStatus)(this.redis)); }
  /** How the health check, the metrics and the dashboard see whether Redis answers (see QueueConsumer.reach). */
  get reach(): BackendReach { return this.redis; }
  private clusterEvents?: ReturnType<RedisConnection['clusterEvents']>;
  protected readonly createClusterEvents = (): ClusterEventFeed => (this.clusterEvents = this.redis.clusterEvents());
  /** A completion fetches the next job of its type (see RedisConsumer): the pool waits for it rather than claim another. */
  readonly capabilities: QueueCapabilities = { durable: true, soleConsumer: false, claimsOverlapWrites: false };

  /**
   * Nest runs a provider's hooks once per token, and the selected backend is both RedisQueueService and TaskQueue:
   * each hook here runs twice, at once, and does its work once (see onApplicationShutdown).
   */
  onApplicationBootstrap(): void {
    const failed = (what: string) => (err: unknown) => this.logger.error(`${what} failed: ${(err as Error).message}`, err);
    if (this.active && this.options.autoStart) this.indexRetention.every(INDEX_TRIM_MS, failed('index trim'), { everyMs: this.options.store.cleanupIntervalSeconds * 1000, cleanup: async () => this.store.cleanup(), onError: failed('store cleanup') });
  }

  /** Jobs fetched ahead for a type paused meanwhile go back to its queue: they have not started. */
  protected override typesPaused(types: ReadonlySet<string>): void {
    if (this.connection) void this.jobConsumer.leases.releaseAhead(types);
  }

  onModuleDestroy(): void {
    this.retention?.stop();
    this.jobConsumer.stop();
    this.taskEvents.complete();
  }

  /** After the pool drained (beforeApplicationShutdown), so its last outcomes reach Redis; both calls wait for one shutdown. */
  override onApplicationShutdown(): Promise<void> {
    return (this.shutdown ??= (super.onApplicationShutdown(), this.shutDown()));
  }

  private async shutDown(): Promise<void> {
    await this.clusterEvents?.closed();
    if (this.connection) await this.jobConsumer.leases.releaseAhead();
    await this.cancels.close();
    await this.connection?.close();
  }

  /**
   * Forgets index entries of jobs BullMQ removed after `queue.retentionDays` (500 a pass; an entry goes on the second pass
   * that finds its job missing), then releases the types with nothing left (see RedisTypeRelease). Runs every minute on
   * its own; returns how many entries went.
   */
  trimIndex(): Promise<number> {
    return this.indexRetention.sweep();
  }

  private get indexRetention(): RedisRetention { return (this.retention ??= new (redisParts().RedisRetention)(this.redis, this.options.queue.retentionDays)); }

  // ---- producers -------------------------------------------------------

  async pushTask<P>(input: PushTaskInput<P>): Promise<string> {
    return this.pushOne(this.normalize(input));
  }

  /**
   * Pushes several tasks, in order, each with pushTask's dedupe rule. Every
   * input is validated before the first is queued, so a bad one queues none;
   * the adds themselves are one per task (BullMQ's addBulk has no dedupe).
   */
  async pushTasks<P>(inputs: PushTaskInput<P>[]): Promise<string[]> {
    const ids: string[] = [];
    for (const task of normalizeBatch(inputs, (input) => this.normalize(input))) ids.push(await this.pushOne(task));
    return ids;
  }

  private async pushOne(task: NormalizedTask): Promise<string> {
    if (task.singleton !== undefined) return this.pushSingleton(task, task.singleton);
    if (await redisParts().enqueue(this.redis, task)) this.announce(task);
    return task.taskId;
  }

  private async pushSingleton(task: NormalizedTask, rule: SingletonRule): Promise<string> {
    const { RedisSingletons, jobIdOf, enqueue, withdraw } = redisParts();
    this.singletonSlots ??= new RedisSingletons(this.redis.client, this.options.queue.prefix, this.redis.keys.keys.retrying);
    const place = { queue: this.redis.queueFor(task.type).qualifiedName, job: jobIdOf(task.taskId) };
    const pushed = await this.singletonSlots.push(rule, task, place, () => enqueue(this.redis, task), () => withdraw(this.redis, task));
    if (pushed.standing !== undefined) {
      this.logger.debug(`push of type '${task.type}' ${rule.mode === 'debounce' ? 'folded into' : 'dropped for'} task ${pushed.standing}, which holds ${rule.mode} key '${rule.key}'`);
      return pushed.standing;
    }
    if (pushed.queued) this.announce(task);
    return task.taskId;
  }

  private normalize(input: PushTaskInput): NormalizedTask {
    const task = normalizePush(this.whileOpen(input), this.options.queue.maxPayloadBytes);
    const { PRIORITY_LIMIT } = redisParts();
    if (Math.abs(task.priority) > PRIORITY_LIMIT) {
      throw new InvalidTaskError('priority', `priority must be an integer from -${PRIORITY_LIMIT} to ${PRIORITY_LIMIT} on the redis backend, got ${describeValue(task.priority)}`);
    }
    if (this.tracing !== undefined) task.traceContext = this.tracing.pushed(task);
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
    return this.status.record(taskId, true);
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
    const type = await this.status.retry(taskId, (record) => refuseParentDeadOfChild(record, (id) => this.getTask(id), (task) => this.status.hopeless(task)));
    this.emit('queued', { taskId, type });
    this.jobConsumer.wakeLocal(1);
  }

  /** A pending task is cancelled at once; for a running one the request is published to every instance (this one included). */
  async cancelTask(taskId: string, options?: CancelTaskOptions): Promise<boolean> {
    const { running } = cancelOptions(options); // a flow task: with what under it has not started (see RedisFlows.cancel)
    const records = (await this.flows.cancel(taskId, this.options.queue.clusterEvents)) ?? [await this.status.cancel(taskId)].filter((r) => r !== null);
    for (const record of records) this.emit('cancelled', record);
    return records.length > 0 || (running !== false && this.cancels.requestIfActive(this.status, taskId));
  }

  deleteTask(taskId: string): Promise<boolean> {
    return this.status.delete(taskId);
  }

  onCancelRequest(listener: (taskId: string) => boolean): void {
    if (this.connection) this.cancels.listen(listener);
  }

  async cancelled(task: Task, durationMs: number): Promise<void> {
    if (await this.cancels.record(task, this.jobConsumer.leases.take(task))) this.emit('cancelled', task, { durationMs });
  }

  // ---- public store ----------------------------------------------------

  // typed as the interface: the declaration files must not name ioredis's types (an optional peer)
  protected get store(): PublicStore {
    return this.redis.store;
  }

  // ---- consumers -------------------------------------------------------

  pushClaimed(claim: OccurrenceClaim): Promise<string[] | null> {
    return pushAfterClaim((input) => this.pushTask(input), claim, (root) => this.flows.pushOccurrence(root));
  }

  /**
   * The schedule's last pushed task (kept per schedule at push), then that job's state: a few O(1) reads, no scan of the jobs.
   * The scheduler starts a 'skip' or 'wait' schedule's run only once the one before has finished, so its last task is the only
   * one that can be unfinished (a runNow beside a running occurrence is the exception: the later push is the one looked at).
   */
  async hasUnfinishedRun(scheduleId: string): Promise<boolean> {
    const taskId = await this.redis.keys.lastRunOf(scheduleId);
    return taskId !== null && this.status.isUnfinished(taskId);
  }

  // ---- internals -------------------------------------------------------

  private announce(task: NormalizedTask): void {
    this.emit('queued', task);
    if (task.runAtMs > Date.now()) this.jobConsumer.wakeAt(new Date(task.runAtMs));
    else this.jobConsumer.wakeLocal(1);
  }

  private emit(kind: TaskEventKind, task: TaskEventSubject, extra?: Partial<TaskEvent>): void {
    this.taskEvents.emit(kind, task, extra?.durationMs, extra?.error, extra?.retryAt, extra?.progress);
  }
}
