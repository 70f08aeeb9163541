import { Inject, Injectable, OnApplicationShutdown, OnModuleDestroy } from '@nestjs/common';
import type { Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Subject } from 'rxjs';
import { describeValue, InvalidArgumentError, InvalidTaskError, TaskNotFoundError } from '../../errors/errors';
import type { ResolvedOptions } from '../../interfaces/options.interface';
import type { PushTaskInput, Task, TaskEvent, TaskEventKind, TaskRecord } from '../../interfaces/task.interface';
import { RESOLVED_OPTIONS } from '../../queue-scheduler.constants';
import { LibraryLogger, taskLabel } from '../../queue-scheduler.logger';
import { type ClaimFilter, type ListTasksFilter, type StatusCounts, TaskQueue, type TaskPage } from '../task-queue';
import { type NormalizedTask, normalizePush } from '../task-validation';
import { Waiters } from '../waiters';
import { RedisConnection } from './redis-connection';
import { jobDataOf, type JobData, PRIORITY_LIMIT, PRIORITY_OFFSET, recordOf, taskOf } from './redis-jobs';
import { jobIdOf, taskIdOf } from './redis-keys';
import { RedisStatus } from './redis-status';

/** A job this instance holds: the BullMQ lock token proves it to Redis. */
interface Lease {
  readonly job: Job;
  readonly token: string;
  readonly task: Task;
}

const UNFINISHED = new Set(['active', 'waiting', 'prioritized', 'delayed', 'waiting-children', 'paused']);

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
export class RedisQueueService extends TaskQueue implements OnModuleDestroy, OnApplicationShutdown {
  private readonly events = new Subject<TaskEvent>();
  readonly events$ = this.events.asObservable();
  /** This instance's part of every lock token. */
  readonly owner = `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly logger: LibraryLogger;
  private readonly connection?: RedisConnection;
  private readonly leased = new Map<string, Lease>();
  private readonly waiters = new Waiters();
  private readonly wakeTimers = new Set<NodeJS.Timeout>();
  private renewTimer?: NodeJS.Timeout;
  private tokens = 0;
  private pushes = 0;
  private pushesAtClaim = -1;
  private emptyClaims = 0;
  /** Rotates the first type a claim looks at, so one busy type cannot starve the others. */
  private turn = 0;

  constructor(@Inject(RESOLVED_OPTIONS) private readonly options: ResolvedOptions) {
    super();
    this.logger = new LibraryLogger(RedisQueueService.name, options.logLevel);
    // bullmq and ioredis are loaded only here, so the other backends never need them
    if (this.active) this.connection = new RedisConnection(options, this.logger, (jobId, type) => this.onStalled(jobId, type));
  }

  get active(): boolean {
    return this.options.queue.backend === 'redis';
  }

  private get redis(): RedisConnection {
    if (!this.connection) throw new Error("RedisQueueService is used, but queue.backend is not 'redis'");
    return this.connection;
  }

  private get status(): RedisStatus {
    return this.redis.status;
  }

  onModuleDestroy(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    for (const timer of this.wakeTimers) clearTimeout(timer);
    this.wakeTimers.clear();
    this.waiters.wakeAll();
    this.events.complete();
  }

  /** After the worker pool drained (beforeApplicationShutdown), so its last outcomes still reach Redis. */
  async onApplicationShutdown(): Promise<void> {
    await this.connection?.close();
  }

  /** The ioredis client every queue and worker of this instance shares. */
  get client(): Redis {
    return this.redis.client;
  }

  // ---- producers -------------------------------------------------------

  async pushTask<P>(input: PushTaskInput<P>): Promise<string> {
    const task = normalizePush(input, this.options.queue.maxPayloadBytes);
    if (Math.abs(task.priority) > PRIORITY_LIMIT) {
      throw new InvalidTaskError('priority', `priority must be an integer from -${PRIORITY_LIMIT} to ${PRIORITY_LIMIT} on the redis backend, got ${describeValue(task.priority)}`);
    }
    if (await this.enqueue(task)) this.announce(task);
    return task.taskId;
  }

  getQueueSize(): Promise<number> {
    return this.status.queueSize();
  }

  /** Polls until no task is pending or running on any instance. */
  async onIdle(pollMs = 50): Promise<void> {
    for (;;) {
      const c = await this.status.counts();
      if (c.pending + c.running + c.failed === 0) return;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
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
    const found = await this.status.find(taskId);
    const state = found.cancelled ? 'cancelled' : await found.job!.getState();
    const job = found.job;
    if (job && state === 'failed') {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    } else if (job && state === 'delayed' && job.attemptsMade > 0) {
      // waiting for its retry: queued again now, with a fresh attempt count
      await job.remove();
      await this.redis.keys.forgetRetry(taskId);
      await this.redis.queueFor(job.name).add(job.name, job.data as JobData, { jobId: job.id, priority: (job.data as JobData).priority + PRIORITY_OFFSET });
    } else {
      const { status } = found.cancelled ?? recordOf(job!, state);
      throw new InvalidArgumentError('taskId', `task '${taskId}' is ${status}; only dead or failed tasks can be retried`);
    }
    this.wakeLocal(1);
  }

  async cancelTask(taskId: string): Promise<boolean> {
    const found = await this.status.find(taskId);
    if (found.cancelled || !found.job) return false;
    const job = found.job;
    if (!['waiting', 'prioritized', 'delayed', 'paused'].includes(await job.getState())) return false;
    try {
      await job.remove();
    } catch {
      return false; // a worker took it meanwhile (BullMQ refuses to remove a locked job)
    }
    const record: TaskRecord = { ...taskOf(job, false), status: 'cancelled', completedAt: new Date() };
    await this.redis.keys.markCancelled(record);
    this.emit('cancelled', record);
    return true;
  }

  // ---- public store ----------------------------------------------------

  setPublic(key: string, value: unknown, ttlSeconds?: number | null): Promise<void> {
    return this.redis.store.set(key, value, ttlSeconds);
  }

  getPublic<T = unknown>(key: string): Promise<T | null> {
    return this.redis.store.get<T>(key);
  }

  deletePublic(key: string): Promise<boolean> {
    return this.redis.store.delete(key);
  }

  listKeys(): Promise<string[]> {
    return this.redis.store.list();
  }

  getStoreSize(): Promise<number> {
    return this.redis.store.size();
  }

  clearStore(): Promise<void> {
    return this.redis.store.clear();
  }

  cleanup(): Promise<number> {
    return this.redis.store.cleanup();
  }

  // ---- consumers -------------------------------------------------------

  /**
   * Fetches jobs of the filter's types from their BullMQ queues, each under
   * its free slots. A job fetched is leased here, so it must reach the pool:
   * a failing fetch (Redis away) ends the claim with what was taken so far.
   */
  async claim(filter: ClaimFilter, limit: number): Promise<Task[]> {
    this.pushesAtClaim = this.pushes;
    const claimed: Task[] = [];
    const types = filter.types;
    try {
      for (let i = 0; i < types.length && claimed.length < limit; i++) {
        const type = types[(this.turn + i) % types.length];
        const room = Math.min(limit - claimed.length, filter.remaining?.get(type) ?? Infinity);
        if (room > 0) await this.fetch(this.redis.workerFor(type), room, claimed);
      }
    } catch (err) {
      if (!claimed.length) throw err;
      this.logger.warn(`claim stopped after ${claimed.length} task(s): ${(err as Error).message}`);
    } finally {
      this.turn++;
      this.emptyClaims = claimed.length ? 0 : this.emptyClaims + 1;
      this.armRenewal();
    }
    return claimed;
  }

  /** One fetch first; only when the queue had a job are the other slots fetched at once (BullMQ moves each atomically). */
  private async fetch(worker: Worker, room: number, into: Task[]): Promise<void> {
    const first = await this.take(worker);
    if (!first) return;
    into.push(first);
    if (room === 1) return;
    const rest = await Promise.allSettled(Array.from({ length: room - 1 }, () => this.take(worker)));
    for (const r of rest) if (r.status === 'fulfilled' && r.value) into.push(r.value);
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async take(worker: Worker): Promise<Task | undefined> {
    const token = `${this.owner}:${++this.tokens}`;
    const job = (await worker.getNextJob(token, { block: false })) as Job | undefined;
    if (!job) return undefined;
    const task = taskOf(job);
    this.leased.set(task.taskId, { job, token, task });
    if (job.attemptsMade > 0) {
      // only the `failed` count depends on it; the task must reach the pool whatever happens here
      this.redis.keys.forgetRetry(task.taskId).catch((err: unknown) => this.logger.warn(`${taskLabel(task)}: ${(err as Error).message}`));
    }
    this.emit('started', task);
    return task;
  }

  /** Sleeps until a local push, or the poll time: short right after work, doubling while empty, up to queue.pollIntervalMs. */
  waitForWork(_filter: ClaimFilter, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.pushes !== this.pushesAtClaim) return Promise.resolve();
    const backoff = Math.min(this.options.queue.pollIntervalMs, 25 * 2 ** Math.min(this.emptyClaims, 10));
    return this.waiters.wait(Math.min(timeoutMs, backoff), signal);
  }

  async complete(task: Task, result: unknown, durationMs: number): Promise<void> {
    const lease = this.takeLease(task);
    if (!lease) return this.lostLease(task, 'succeeded');
    try {
      await lease.job.moveToCompleted(jsonSafe(result), lease.token, false);
    } catch (err) {
      if (isLockError(err)) return this.lostLease(task, 'succeeded');
      throw err;
    }
    this.emit('succeeded', task, { durationMs });
  }

  /**
   * The runner has decided (the handler's retry policy, jitter and cap);
   * BullMQ's attempts and backoff carry it out: one more attempt with a
   * fixed delay up to `retryAt`, or none, which leaves the job failed (dead).
   */
  async fail(task: Task, error: Error, retryAt: Date | null, durationMs: number): Promise<void> {
    const lease = this.takeLease(task);
    if (!lease) return this.lostLease(task, retryAt ? 'retrying' : 'dead');
    const { job } = lease;
    job.opts.attempts = job.attemptsMade + (retryAt ? 2 : 1);
    job.opts.backoff = { type: 'fixed', delay: retryAt ? Math.max(1, retryAt.getTime() - Date.now()) : 0 };
    if (retryAt) await this.redis.keys.markRetry(task.taskId);
    try {
      await job.moveToFailed(new Error(error.message.slice(0, 8000)), lease.token, false);
    } catch (err) {
      if (isLockError(err)) return this.lostLease(task, retryAt ? 'retrying' : 'dead');
      throw err;
    }
    this.emit(retryAt ? 'retrying' : 'dead', task, { durationMs, error: error.message, retryAt: retryAt ?? undefined });
    if (retryAt) this.wakeAt(retryAt);
  }

  /** Back to waiting without using an attempt (moveToWait does not count one). */
  async release(task: Task): Promise<void> {
    const lease = this.takeLease(task);
    if (!lease) return;
    await lease.job.moveToWait(lease.token);
    this.wakeLocal(1);
  }

  /** Extends the locks of every job this instance runs, one call per task type. */
  async renewLeases(): Promise<number> {
    const byType = new Map<string, Lease[]>();
    for (const lease of this.leased.values()) byType.set(lease.task.type, [...(byType.get(lease.task.type) ?? []), lease]);
    let renewed = 0;
    for (const [type, leases] of byType) {
      const failed = await this.redis.workerFor(type).extendJobLocks(leases.map((l) => l.job.id!), leases.map((l) => l.token), this.options.queue.leaseMs);
      renewed += leases.length - (Array.isArray(failed) ? failed.length : 0);
    }
    return renewed;
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
      const previous = this.redis.queueFor(previousType);
      const state = await previous.getJobState(jobIdOf(task.taskId));
      if (UNFINISHED.has(state) && !(await keys.isCancelled(task.taskId))) return false;
      await (await previous.getJob(jobIdOf(task.taskId)))?.remove();
      await keys.forget(task.taskId);
      await keys.index(task.taskId, task.type, true);
    }
    const queue: Queue = this.redis.queueFor(task.type);
    await queue.add(task.type, jobDataOf(task), {
      jobId: jobIdOf(task.taskId),
      priority: task.priority + PRIORITY_OFFSET,
      delay: Math.max(0, task.runAt.getTime() - Date.now()),
    });
    return true;
  }

  private takeLease(task: Task): Lease | undefined {
    const lease = this.leased.get(task.taskId);
    // a lease of an earlier try (lost and re-claimed here) is not this try's
    if (!lease || lease.task.attempts !== task.attempts) return undefined;
    this.leased.delete(task.taskId);
    return lease;
  }

  private armRenewal(): void {
    if (this.renewTimer || this.leased.size === 0) return;
    this.renewTimer = setInterval(() => {
      if (this.leased.size === 0) {
        clearInterval(this.renewTimer);
        this.renewTimer = undefined;
        return;
      }
      this.renewLeases().catch((err: unknown) => this.logger.error(`lease renewal failed: ${(err as Error).message}`, err));
    }, Math.floor(this.options.queue.leaseMs / 3));
    this.renewTimer.unref();
  }

  private announce(task: NormalizedTask): void {
    this.emit('queued', task);
    if (task.runAt.getTime() > Date.now()) this.wakeAt(task.runAt);
    else this.wakeLocal(1);
  }

  private wakeLocal(n: number): void {
    this.pushes++;
    this.waiters.wake(n);
  }

  /** A delayed or retried task of this instance starts on time rather than at the next poll. */
  private wakeAt(at: Date): void {
    const timer = setTimeout(() => {
      this.wakeTimers.delete(timer);
      this.wakeLocal(1);
    }, Math.max(0, Math.min(at.getTime() - Date.now(), 2_147_483_647)));
    timer.unref();
    this.wakeTimers.add(timer);
  }

  private onStalled(jobId: string, type: string): void {
    this.logger.warn(`task ${taskIdOf(jobId)} (${type}): its worker stopped renewing the lock; BullMQ queued it again (the lost try uses no attempt, but counts towards the stall limit)`);
    this.wakeLocal(1);
  }

  private lostLease(task: Task, outcome: string): void {
    this.logger.warn(`${taskLabel(task)}: attempt ${task.attempts} ended (${outcome}) after its lease was lost; another worker owns the task now, so this outcome is not recorded`);
  }

  private emit(kind: TaskEventKind, task: Pick<Task, 'taskId' | 'type' | 'schedulerTaskId' | 'scheduledAt'> & { attempts?: number }, extra?: Partial<TaskEvent>): void {
    if (!this.events.observed) return;
    const { taskId, type, attempts = 0, schedulerTaskId, scheduledAt } = task;
    this.events.next({ kind, taskId, type, attempt: attempts, at: new Date(), schedulerTaskId, scheduledAt, ...extra });
  }
}

function isLockError(err: unknown): boolean {
  return /lock/i.test(String((err as Error)?.message));
}

/** BullMQ stores the result as JSON; a value JSON cannot hold is kept as its string, as on the database backend. */
function jsonSafe(value: unknown): unknown {
  if (value === undefined) return null;
  try {
    JSON.stringify(value);
    return value;
  } catch {
    return String(value);
  }
}
